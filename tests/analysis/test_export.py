"""`embedscope export`: every point is one parquet row with what analysis wrote, its neighbours are
row numbers, the folder is a 🤗 dataset pandas and `datasets` read, and the store is read one page
at a time into files of bounded size."""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.export import export
from embedscope.analysis.export_config import ExportSettings
from embedscope.contract import Payload, row_point_id
from tests.analysis.conftest import DATASET, build_collection, load_sample

NAME = "exported__pixels"
N_TRAIN, N_TEST, N_COPIES = 300, 60, 4
TAGGED = {0: ["odd one"], 5: ["keep", "odd one"]}


@pytest.fixture(scope="module")
def analysed(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real Fashion-MNIST `pixels` collection (train, and a test split with 4 copies of train
    rows: leaks) analysed with PCA and k-means, two points tagged, exported with small files."""
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run
    from embedscope.store.edge import EdgeStore

    tmp = tmp_path_factory.mktemp("export")
    train = load_sample(sample_dir, N_TRAIN, "train")
    test = load_sample(sample_dir, N_TEST, "test")
    test["X"][:N_COPIES] = train["X"][:N_COPIES]
    store = EdgeStore(tmp / "qdrant")
    build_collection(store, NAME, train)
    build_collection(store, NAME, test)
    run(store, AnalysisSettings(collection=NAME, projections="pca", clusterers="kmeans",
                                progress=False, out=tmp / "report"), map_files=False)
    store.set_payloads(NAME, {row_point_id(DATASET, "train", i): {Payload.TAGS: t}
                              for i, t in TAGGED.items()})
    done = export(store, ExportSettings(collection=NAME, out=tmp / "out", rows_per_file=100,
                                        batch_size=64, neighbors=5, progress=False))
    yield {"store": store, "done": done, "out": tmp / "out"}
    store.close()


def _frame(out: Path) -> Any:
    import pandas as pd

    return pd.read_parquet(out / "data")


def test_every_point_is_one_row_with_the_payload_analysis_wrote(analysed: dict[str, Any]) -> None:
    import pandas as pd

    store, out = analysed["store"], analysed["out"]
    df = _frame(out)
    assert len(df) == N_TRAIN + N_TEST == store.count(NAME)
    assert df["row"].tolist() == list(range(len(df)))  # files in name order are rows in order
    assert df["id"].is_unique
    stored = {r.id: r for r in store.scroll(NAME, with_payload=True, with_vectors=True)}
    assert set(df["id"]) == set(stored)
    row_of = dict(zip(df["id"], df["row"], strict=True))
    for rec in df.itertuples(index=False):
        p = stored[rec.id].payload
        assert (rec.split, rec.index, rec.label, rec.label_name) == (
            p["split"], p["index"], p["label"], p["label_name"])
        np.testing.assert_array_equal(np.asarray(rec.vector, np.float32), stored[rec.id].vector)
        assert (rec.pca_x, rec.pca_y) == pytest.approx(p["pca"], rel=1e-6)
        assert rec.cluster_kmeans == p["cluster_kmeans"]
        for score in ("knn_correct", "knn_confidence", "label_error", "uniqueness",
                      "representativeness"):
            assert getattr(rec, score) == pytest.approx(p[score], rel=1e-6)
        assert rec.thumbnail["bytes"] == base64.b64decode(p["thumbnail"])
        assert (None if rec.tags is None else list(rec.tags)) == p.get("tags")  # a list or null
        leak = p.get("leak")
        if leak:  # a test copy of a train row: its partner's row in this export
            assert rec.leak_partner == leak["partner"]
            assert rec.leak_partner_row == row_of[leak["partner"]]
            assert rec.leak_similarity == pytest.approx(leak["similarity"], abs=1e-6)
        else:
            assert pd.isna(rec.leak_partner)
    leaked = df[df["leak_partner"].notna()]
    assert sorted(leaked["index"]) == list(range(N_COPIES)) and set(leaked["split"]) == {"test"}
    assert sorted(df[df["tags"].notna()]["index"]) == sorted(TAGGED)


def test_neighbours_are_row_numbers_of_the_nearest_other_points(analysed: dict[str, Any]) -> None:
    df = _frame(analysed["out"])
    X = np.vstack(df["vector"].to_numpy()).astype(np.float64)
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    for i, nb in enumerate(df["neighbors"]):
        ids, dist = np.asarray(nb["ids"]), np.asarray(nb["distances"])
        assert len(ids) == 5 and i not in ids
        np.testing.assert_allclose(dist, 1 - sims[i, ids], atol=1e-5)
        fifth = np.sort(sims[i])[-5]  # exact search: nothing closer was left out (ties aside)
        assert (sims[i, ids] >= fifth - 1e-6).all()
    copy = df[(df["split"] == "test") & (df["index"] == 0)].iloc[0]  # a copy of train row 0
    first = df.iloc[copy["neighbors"]["ids"][0]]
    assert (first["split"], first["index"]) == ("train", 0)
    # float32 products: an exact copy is 0 apart up to rounding (the summation order varies)
    assert copy["neighbors"]["distances"][0] == pytest.approx(0, abs=1e-6)


def test_datasets_and_pandas_read_the_folder_with_its_splits_and_features(
        analysed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import ClassLabel, Image, load_dataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = analysed["out"]
    for ds in (load_dataset("parquet", data_dir=str(out)), load_dataset(str(out))):
        assert {k: len(v) for k, v in ds.items()} == {"train": N_TRAIN, "test": N_TEST}
        features = ds["train"].features
        assert isinstance(features["label"], ClassLabel) and features["label"].names[0] == "T-shirt/top"
        assert isinstance(features["thumbnail"], Image)
        assert features["vector"].length == 28 * 28
        row = ds["train"][0]
        assert row["thumbnail"].size == (28, 28)  # decoded to a PIL image
    assert len(_frame(out)) == N_TRAIN + N_TEST
    card = (out / "README.md").read_text(encoding="utf-8")
    header = card.split("---\n")[1]
    assert "configs:" in header and "path: data/train-*.parquet" in header
    for column in _frame(out).columns:  # every column described
        assert f"| `{column}` |" in card
    assert "pixels" in card and f"{28 * 28}-d" in card and "Analysis run" in card


def test_files_are_bounded_and_the_store_is_read_one_page_at_a_time(
        analysed: dict[str, Any], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    reads: list[tuple[str, int]] = []
    real = analysed["store"]

    class Counting:
        """The real store, with each page read and each neighbour query counted."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def scroll_page(self, *args: Any, **kwargs: Any) -> Any:
            records, offset = real.scroll_page(*args, **kwargs)
            reads.append(("scroll", len(records)))
            return records, offset

        def query_keys(self, name: str, vectors: Any, *args: Any, **kwargs: Any) -> Any:
            reads.append(("query", len(vectors)))
            return real.query_keys(name, vectors, *args, **kwargs)

    done = export(Counting(), ExportSettings(collection=NAME, out=tmp_path, rows_per_file=70,
                                             batch_size=32, neighbors=3, progress=False,
                                             exact_neighbors_up_to=0))  # as past 50k points
    n = N_TRAIN + N_TEST
    assert max(size for _, size in reads) == 32  # never more than one page at a time
    assert sum(size for kind, size in reads if kind == "scroll") == 2 * n  # ids, then rows
    assert sum(size for kind, size in reads if kind == "query") == n  # neighbours by HNSW
    df = _frame(tmp_path)
    assert all(len(nb["ids"]) == 3 and row not in nb["ids"] for row, nb in zip(df["row"], df["neighbors"]))
    names = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert names == ["test-00000-of-00001.parquet"] + [f"train-{i:05d}-of-00005.parquet"
                                                         for i in range(5)]
    for path in done.files:
        meta = pq.ParquetFile(path).metadata
        assert meta.num_rows <= 70
        assert all(meta.row_group(g).num_rows <= 32 for g in range(meta.num_row_groups))


def test_no_vectors_no_thumbnails_no_neighbours_leave_their_columns_out(
        analysed: dict[str, Any], tmp_path: Path) -> None:
    export(analysed["store"], ExportSettings(collection=NAME, out=tmp_path, vectors=False,
                                             thumbnails=False, neighbors=0, progress=False))
    columns = set(_frame(tmp_path).columns)
    assert not {"vector", "thumbnail", "neighbors"} & columns
    assert {"pca_x", "pca_y", "cluster_kmeans", "label_error", "leak_partner"} <= columns


def test_export_reads_every_store_backend_alike(store: Any, tmp_path: Path) -> None:
    from benchmarks.bench_map import build_collection as synthetic

    synthetic(store, "synth", 230)
    done = export(store, ExportSettings(collection="synth", out=tmp_path, rows_per_file=100,
                                        batch_size=50, neighbors=4, progress=False))
    df = _frame(tmp_path)
    assert (len(df), done.splits) == (230, {"test": 46, "train": 184})
    assert {"umap_x", "umap_y", "cluster_kmeans"} <= set(df.columns)
    assert all(len(nb["ids"]) == 4 and (np.asarray(nb["ids"]) >= 0).all() for nb in df["neighbors"])


def test_the_command_prints_the_embedding_atlas_line(analysed: dict[str, Any], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from embedscope.analysis.export_card import atlas_command

    done = analysed["done"]
    line = atlas_command(done)
    assert line == (f"embedding-atlas {done.folder / 'data'}/*.parquet --x pca_x --y pca_y "
                    "--neighbors neighbors --image thumbnail")
    assert line in (done.folder / "README.md").read_text(encoding="utf-8")


def test_push_to_hub_offline_says_one_line_and_calls_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        data_env: Path) -> None:
    from huggingface_hub import constants

    from embedscope.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as huggingface_hub read it at import

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a network call: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    code = main(["export", "--collection", "whatever", "--out", str(tmp_path / "x"),
                 "--push-to-hub", "someone/embeddings"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --push-to-hub someone/embeddings: the Hugging Face Hub is "
                          "switched off here (HF_HUB_OFFLINE=1)")
    assert "hf upload someone/embeddings" in err
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_a_failed_upload_says_one_line_and_keeps_the_export(
        analysed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from embedscope.analysis.export import push
    from embedscope.errors import EmbedscopeError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # loopback: refused
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_token")
    out = analysed["out"]
    with pytest.raises(EmbedscopeError) as err:
        push(out, "someone/embeddings")
    message = str(err.value)
    assert "\n" not in message and message.startswith("--push-to-hub someone/embeddings: the "
                                                      "upload failed (")
    assert f"hf upload someone/embeddings {out} --repo-type dataset" in message
    assert (out / "README.md").is_file()


def test_a_newly_registered_projection_and_score_become_columns(tmp_path: Path) -> None:
    from benchmarks.bench_map import build_collection as synthetic
    from embedscope.analysis.registry import (
        register_projection,
        register_score,
        unregister_projection,
        unregister_score,
    )
    from embedscope.store.edge import EdgeStore

    register_projection("spiral", title="Spiral")(lambda X, s, a: X[:, :2])
    register_score("oddness", title="oddness", description="how odd the point looks")(lambda a: None)
    try:
        with EdgeStore(tmp_path / "qdrant") as store:
            synthetic(store, "plug", 40)
            ids = [r.id for r in store.scroll("plug", with_payload=False)]
            store.set_payloads("plug", {pid: {"spiral": [float(i), -float(i)], "oddness": i / 40}
                                        for i, pid in enumerate(ids)})
            store.update_meta("plug", analysis={"run_id": "r", "fields": ["umap", "spiral",
                                                                            "oddness"]})
            export(store, ExportSettings(collection="plug", out=tmp_path / "out", neighbors=0,
                                         progress=False))
        df = _frame(tmp_path / "out").set_index("id")
        for i, pid in enumerate(ids):
            assert (df.loc[pid, "spiral_x"], df.loc[pid, "spiral_y"], df.loc[pid, "oddness"]) \
                == (i, -i, pytest.approx(i / 40))
        assert "cluster_kmeans" not in df.columns  # the analysis did not write it this time
        card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
        assert "| `spiral_x` | x of the point on the Spiral map |" in card
        assert "| `oddness` | oddness: how odd the point looks |" in card
    finally:
        unregister_projection("spiral")
        unregister_score("oddness")
