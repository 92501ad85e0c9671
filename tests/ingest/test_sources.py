"""Dataset sources through 🤗 datasets: every layout, splits, labels, stable ids, selection, offline."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from embedscope.contract import collection_name, dataset_slug, file_point_id, row_point_id
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.errors import DatasetError, OfflineError
from embedscope.ingest.items import Item
from embedscope.ingest.pipeline import run_ingest
from embedscope.ingest.selection import select, stratified
from embedscope.ingest.sources import Dataset, open_source
from embedscope.settings import QdrantSettings
from tests.ingest import sourcefixtures as fx


def _all(ds: Dataset, split: str) -> list[Item]:
    return [it for chunk in ds.read(split) for it in chunk]


def _fake_hub_cache(cache: Path, repo: str, sample_dir: Path) -> None:
    """Lay the sample out as huggingface_hub caches a dataset snapshot (refs/main → snapshot)."""
    root = cache / f"datasets--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = root / "snapshots" / commit / "fashion_mnist"
    snap.mkdir(parents=True)
    shutil.copy(sample_dir / "train.parquet", snap / "train-00000-of-00001.parquet")
    shutil.copy(sample_dir / "test.parquet", snap / "test-00000-of-00001.parquet")
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)


def _offline_cache(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    import huggingface_hub.constants as c

    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))


def test_hub_name_resolves_through_the_cache_offline(sample_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    _fake_hub_cache(tmp_path / "hub", "zalando-datasets/fashion_mnist", sample_dir)
    _offline_cache(monkeypatch, tmp_path / "hub")
    for given in ("fashion_mnist", "zalando-datasets/fashion_mnist"):  # the bare name finds the repo
        ds = open_source(given)
        assert ds.name == "fashion_mnist" and ds.splits == ["train", "test"]
        assert ds.labels[9] == "Ankle boot"
        test = _all(ds, "test")
        assert len(test) == 615 and [i.index for i in test] == list(range(615))
        assert [i.point_id for i in test[:3]] == [row_point_id("fashion_mnist", "test", k) for k in range(3)]
    assert collection_name("fashion_mnist", "facebook/dinov2-small") == "fashion_mnist__dinov2_small"


def test_an_uncached_hub_dataset_fails_fast_offline_with_the_way_out(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    _offline_cache(monkeypatch, tmp_path / "empty")
    start = time.monotonic()
    with pytest.raises(OfflineError) as err:
        open_source("someone/imagenet-like", config="full")
    assert time.monotonic() - start < 10
    text = str(err.value)
    assert "hf download someone/imagenet-like --repo-type dataset" in text
    assert "--dataset ./imagenet-like" in text


def test_parquet_in_several_files_streams_with_the_ids_of_one_file(sample_dir: Path, tmp_path: Path):
    root = fx.multi_file_parquet(sample_dir, tmp_path / "fashion_mnist_sample")
    ds = open_source(str(root))
    assert ds.splits == ["train", "test"] and ds.kind == "rows"
    assert ds.labels[0] == "T-shirt/top" and len(ds.labels) == 10
    assert ds.count("train") == 3000
    train = _all(ds, "train")
    want = pq.read_table(sample_dir / "train.parquet")
    assert [i.label for i in train] == want.column("label").to_pylist()
    assert [i.data for i in train[:50]] == [r["bytes"] for r in want.column("image").to_pylist()[:50]]
    # the same rows cut into three files keep the ids of the single-file layout
    single = _all(open_source(str(sample_dir)), "train")
    assert [i.point_id for i in train] == [i.point_id for i in single]
    assert train[2999].point_id == row_point_id("fashion_mnist_sample", "train", 2999)
    assert np.array_equal(ds.read_labels("train"), np.array([i.label for i in train]))  # type: ignore[misc]


def test_save_to_disk_folders_are_read_as_arrow(sample_dir: Path, tmp_path: Path):
    root = fx.save_to_disk(sample_dir, tmp_path / "fmnist_arrow")
    ds = open_source(str(root))
    assert ds.splits == ["train", "test"] and ds.count("test") == 615
    assert ds.labels[9] == "Ankle boot"
    test = _all(ds, "test")
    want = pq.read_table(sample_dir / "test.parquet")
    assert [i.label for i in test] == want.column("label").to_pylist()
    assert test[7].data == want.column("image").to_pylist()[7]["bytes"]
    assert test[7].point_id == row_point_id("fmnist_arrow", "test", 7)


def test_image_folders_take_splits_and_labels_from_their_folders(tmp_path: Path):
    root = fx.image_folder(tmp_path / "pets")
    ds = open_source(str(root))
    assert ds.splits == ["train", "test"] and ds.labels == ["cat", "dog"] and ds.kind == "files"
    train = _all(ds, "train")
    assert len(train) == 9 and ds.count("train") == 9
    by_path = {Path(i.source or "").relative_to(root).as_posix(): i for i in train}
    assert by_path["train/dog/3.jpg"].label == 1 and by_path["train/cat/corrupt.jpg"].label == 0
    assert by_path["train/cat/0.jpg"].point_id == file_point_id("pets", "train/cat/0.jpg")
    # no labels when asked; a folder without split folders is one split, 'all'
    assert open_source(str(root), labels_from_folders=False).labels == []
    assert {i.label for i in _all(open_source(str(root), labels_from_folders=False), "test")} == {None}
    flat = open_source(str(root / "train" / "dog"))
    assert flat.splits == ["all"] and len(_all(flat, "all")) == 4
    with pytest.raises(DatasetError, match="no split 'validation'"):
        open_source(str(root), splits=["validation"])


def test_string_labels_become_sorted_class_names(tmp_path: Path):
    root = tmp_path / "shapes"
    root.mkdir()
    rows = []
    for i, name in enumerate(["square", "circle", "triangle", "circle", "square", "circle"]):
        (root / f"{i}.jpg").write_bytes(fx.jpeg(i))
        rows.append({"file_name": f"{i}.jpg", "label": name})
    (root / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    ds = open_source(str(root))
    assert ds.labels == ["circle", "square", "triangle"]
    items = sorted(_all(ds, ds.splits[0]), key=lambda i: i.source or "")
    assert [i.label for i in items] == [1, 0, 2, 0, 1, 0]


def test_webdataset_shards_report_every_bad_sample_and_keep_going(tmp_path: Path):
    root, _ = fx.webdataset(tmp_path / "web")
    ds = open_source(str(root))
    assert ds.kind == "tars" and ds.splits == ["all"]
    items = _all(ds, "all")
    errors = {i.point_id: i.error for i in items if i.error}
    assert len(errors) == 2  # the unreadable label and the truncated shard; the corrupt JPEG is the decoder's
    assert any("unreadable .cls" in e for e in errors.values())
    truncated = [e for e in errors.values() if "damaged or truncated" in e]
    assert len(truncated) == 1 and "00002.tar" in truncated[0]
    good = [i for i in items if not i.error]
    assert 20 + 3 <= len(good) < 30  # two whole shards less the bad label, part of the third
    png = next(i for i in good if i.point_id == file_point_id("web", "00001.tar/00010002"))
    assert png.data is not None and png.data[:4] == b"\x89PNG" and png.label == 1
    assert [i.label for i in good[:4]] == [0, 1, 2, 0]
    # the same shards named by a glob give the same points
    again = _all(open_source(str(root / "*.tar")), "all")
    assert [i.point_id for i in again] == [i.point_id for i in items]
    assert list(ds.read_labels("all")) == [-1 if i.label is None else i.label for i in items]  # type: ignore[misc]


@pytest.mark.parametrize("layout", ["imagefolder", "webdataset", "arrow"])
def test_every_layout_ingests_and_rejects_bad_images_with_their_reason(layout: str, sample_dir: Path,
                                                                       tmp_path: Path):
    if layout == "imagefolder":
        root, expect_points, expect_rejects = fx.image_folder(tmp_path / "pets"), 12, 1
    elif layout == "webdataset":
        root, _ = fx.webdataset(tmp_path / "web")
        expect_points, expect_rejects = None, 3
    else:
        root, expect_points, expect_rejects = fx.save_to_disk(sample_dir, tmp_path / "arrow"), 3615, 0
    settings = IngestSettings(dataset=str(root), model="pixels", image_size=16, progress=False,
                              num_workers=0, index="skip")
    summary = run_ingest(settings, QdrantSettings(data_dir=tmp_path / "data"))
    assert len(summary.rejected) == expect_rejects
    assert summary.ingested + len(summary.rejected) == summary.selected
    if expect_points is not None:
        assert summary.points_in_collection == expect_points
    reasons = " | ".join(r.reason for r in summary.rejected)
    if layout != "arrow":
        assert any(w in reasons for w in ("not an image", "corrupt", "cannot read image")), reasons
    again = run_ingest(settings, QdrantSettings(data_dir=tmp_path / "data"))  # idempotent
    assert again.ingested == 0 and again.skipped == summary.ingested
    assert again.points_in_collection == summary.points_in_collection


def test_limit_sample_and_shard_keep_their_meaning(sample_dir: Path):
    ds = open_source(str(sample_dir))
    first = [i for chunk in select(ds, limit=10).chunks for i in chunk]
    assert [(i.split, i.index) for i in first] == [("train", k) for k in range(10)] + [
        ("test", k) for k in range(10)]

    labels = ds.read_labels("test")
    assert labels is not None and len(labels) == 615
    picked = [i for chunk in select(ds, sample=200, seed=3).chunks for i in chunk if i.split == "test"]
    assert [i.index for i in picked] == list(stratified(labels, 615, 200, 3))
    counts = np.bincount([i.label for i in picked], minlength=10)  # type: ignore[misc]
    share = np.bincount(labels, minlength=10) * 200 / 615
    assert np.all(np.abs(counts - share) <= 1)
    other = [i.index for chunk in select(ds, sample=200, seed=4).chunks for i in chunk if i.split == "test"]
    assert other != [i.index for i in picked]

    everything = {i.point_id for chunk in select(ds).chunks for i in chunk}
    shards = [{i.point_id for chunk in select(ds, shard=(k, 3)).chunks for i in chunk} for k in range(3)]
    assert set().union(*shards) == everything and sum(map(len, shards)) == 3615
    assert all(len(s) > 1000 for s in shards)


def test_explicit_columns_are_checked(sample_dir: Path):
    with pytest.raises(DatasetError, match="no image column 'picture'"):
        open_source(str(sample_dir), image_col="picture")
    with pytest.raises(DatasetError, match="no label column 'kind'"):
        open_source(str(sample_dir), label_col="kind")


@pytest.mark.parametrize(("given", "slug"), [
    ("zalando-datasets/fashion_mnist", "fashion_mnist"),
    ("./photos/", "photos"),
    ("/data/fashion_mnist_sample/train.parquet", "fashion_mnist_sample"),
    ("/data/my-set.parquet", "my_set"),
])
def test_dataset_slugs(given: str, slug: str):
    assert dataset_slug(given) == slug
