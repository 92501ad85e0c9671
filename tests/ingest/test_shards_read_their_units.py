"""``--shard i/N`` reads whole units (parquet row groups, tars): N shards read the dataset once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from embedscope.ingest.selection import select
from embedscope.ingest.sources import open_source
from embedscope.ingest.units import Unit, plan
from tests.ingest.sourcefixtures import ingest_json, stored_points


@pytest.fixture(scope="module")
def four_files(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared sample's train split as four parquet files (750 rows each)."""
    table = pq.read_table(sample_dir / "train.parquet")
    out = tmp_path_factory.mktemp("four") / "fashion4"
    out.mkdir()
    step = table.num_rows // 4
    for k in range(4):
        pq.write_table(table.slice(k * step, step), out / f"train-{k:05d}-of-00004.parquet")
    return out


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def _read_bytes(dataset: Path, shard: tuple[int, int] | None) -> tuple[int, list[int]]:
    """Bytes this process reads while selecting and streaming the rows, and the rows' indices."""
    from embedscope.ingest import units

    ds = open_source(str(dataset))
    units._footer.cache_clear()  # as in a worker of its own: every footer is read again
    before = _rchar()
    indices = [it.index for chunk in select(ds, shard=shard).chunks for it in chunk]
    return _rchar() - before, indices


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io (Linux)")
def test_four_shards_each_read_a_quarter_of_the_bytes(four_files):
    _read_bytes(four_files, None)  # warm: imports and 🤗 datasets' caches are not the data
    whole, rows = _read_bytes(four_files, None)
    assert rows == list(range(3000))
    seen: list[int] = []
    for i in range(4):
        read, indices = _read_bytes(four_files, (i, 4))
        assert read <= 0.35 * whole, (i, read, whole)
        assert indices == list(range(750 * i, 750 * (i + 1)))  # its own file, global row indices
        seen += indices
    assert seen == rows


def test_four_shards_store_exactly_the_single_runs_collection(four_files, data_env):
    single = ingest_json("--dataset", str(four_files), "--collection", "single")
    summaries = [ingest_json("--dataset", str(four_files), "--collection", "sharded", "--shard", f"{i}/4")
                 for i in range(4)]
    assert single["ingested"] == 3000
    assert [s["selected"] for s in summaries] == [750] * 4
    one, many = stored_points(data_env, "single"), stored_points(data_env, "sharded")
    assert one.keys() == many.keys()
    for pid, (payload, vector) in one.items():
        assert many[pid][0] == payload
        np.testing.assert_array_equal(many[pid][1], vector)
    again = ingest_json("--dataset", str(four_files), "--collection", "sharded", "--shard", "2/4")
    assert again["ingested"] == 0 and again["skipped"] == 750  # a resumed shard skips its stored points


def test_fewer_units_than_shards_splits_the_rows_and_says_so(caplog):
    units = [Unit("a.parquet", 0, 0, 10), Unit("b.parquet", 0, 10, 5)]
    pieces = [plan(units, (i, 3), split="train") for i in range(3)]
    assert "2 input unit(s) for 3 shards; splitting their rows instead" in caplog.text
    rows = [r for shard in pieces for p in shard for r in range(p.lo, p.hi)]
    assert rows == list(range(15))
    assert [sum(p.hi - p.lo for p in shard) for shard in pieces] == [5, 5, 5]


def test_whole_units_go_to_one_shard_each_balanced_by_rows():
    units = [Unit(f"{k}.parquet", g, 0, 0) for k in range(2) for g in range(3)]
    units = [Unit(u.url, u.part, 100 * n, 100) for n, u in enumerate(units)]
    shards = [plan(units, (i, 2)) for i in range(2)]
    assert [[(p.unit.url, p.unit.part) for p in s] for s in shards] == [
        [("0.parquet", 0), ("0.parquet", 1), ("0.parquet", 2)],
        [("1.parquet", 0), ("1.parquet", 1), ("1.parquet", 2)]]
    assert all(p.lo == p.unit.start and p.hi == p.unit.start + 100 for s in shards for p in s)
    assert [p.hi - p.lo for p in plan(units, (0, 1), stop=250)] == [100, 100, 50]


def _rejects(summary: dict) -> set[tuple[str, int]]:
    return {(r["split"], r["index"]) for r in summary["rejected"]}


@pytest.mark.parametrize("source", ["webdataset", "row groups"])
def test_shards_of_tars_and_row_groups_store_the_single_runs_points_and_rejects(source, sample_dir, data_env,
                                                                               tmp_path):
    from tests.ingest.sourcefixtures import multi_file_parquet, webdataset

    if source == "webdataset":  # three tars, one truncated, a corrupt image and a bad label
        folder, count = webdataset(tmp_path / "wds")[0], 3
    else:  # 3 train files of 3 row groups (250 rows), test in one: fewer test units than shards
        folder, count = multi_file_parquet(sample_dir, tmp_path / "groups", files=3, row_group=250), 5
        folder = Path(folder)
    flags = ["--dataset", str(folder), "--image-size", "16"] + (["--limit", "700"] if count == 5 else [])
    single = ingest_json(*flags, "--collection", "single")
    shards = [ingest_json(*flags, "--collection", "sharded", "--shard", f"{i}/{count}") for i in range(count)]
    assert sum(s["selected"] for s in shards) == single["selected"]
    assert set().union(*(_rejects(s) for s in shards)) == _rejects(single)
    assert sum(len(s["rejected"]) for s in shards) == len(single["rejected"])
    one, many = stored_points(data_env, "single"), stored_points(data_env, "sharded")
    assert one.keys() == many.keys() and len(one) == single["ingested"] > 0
    for pid, (payload, vector) in one.items():
        assert many[pid][0] == payload
        np.testing.assert_array_equal(many[pid][1], vector)


@pytest.mark.parametrize("labels", [True, False])
def test_shards_of_an_image_folder_read_their_own_files(labels, data_env, tmp_path):
    from tests.ingest.sourcefixtures import image_folder

    folder = image_folder(tmp_path / "photos")
    flags = ["--dataset", str(folder), "--image-size", "16",
             "--labels-from-folders" if labels else "--no-labels-from-folders"]
    single = ingest_json(*flags, "--collection", "single")
    shards = [ingest_json(*flags, "--collection", "sharded", "--shard", f"{i}/3") for i in range(3)]
    assert [s["selected"] for s in shards] == [3 + 1, 3 + 2, 3 + 1]  # train: 9 files, 3 each; test: 4 files
    assert set().union(*(_rejects(s) for s in shards)) == _rejects(single) == {("train", 4)}
    one, many = stored_points(data_env, "single"), stored_points(data_env, "sharded")
    assert one.keys() == many.keys() and len(one) == 12
    assert ("label" in next(iter(one.values()))[0]) is labels
    for pid, (payload, vector) in one.items():
        assert many[pid][0] == payload
        np.testing.assert_array_equal(many[pid][1], vector)
