"""Quantized, memory-tiered collections: recorded in the metadata, listed, checked, searched
with rescoring; the same body on every backend here (the in-memory client keeps the setting
in the metadata but searches its float32 vectors exactly: tested as it is)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedscope.contract import CollectionMeta, row_point_id
from embedscope.errors import UsageError
from embedscope.ingest.config import LARGE_COLLECTION, IngestSettings
from embedscope.ingest.pipeline import run_ingest
from embedscope.ingest.storage import storage_for
from embedscope.store import Store
from embedscope.store.check import check_collection

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning")


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, dim))
    x = centres[rng.integers(0, 100, n)] + rng.normal(scale=0.9, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _fill(store: Store, name: str, quantization: str, x: np.ndarray, **storage: bool) -> list[str]:
    store.ensure_collection(name, CollectionMeta(model="fake", dimension=x.shape[1], dataset="q",
                                                 quantization=quantization, **storage))
    ids = [row_point_id("q", "all", i) for i in range(len(x))]
    for start in range(0, len(x), 2048):
        store.upsert(name, ids[start:start + 2048], x[start:start + 2048],
                     [{"split": "all", "dataset": "q"}] * len(ids[start:start + 2048]))
    store.optimize(name)
    return ids


@pytest.mark.parametrize("quantization", ["int8", "binary", "turbo4"])
def test_the_storage_is_recorded_listed_and_searched(store: Store, quantization: str):
    x = _clustered(400, 32)
    ids = _fill(store, "q__fake", quantization, x, vectors_on_disk=True)
    meta = store.get_meta("q__fake")
    assert (meta.quantization, meta.vectors_on_disk, meta.hnsw_on_disk) == (quantization, True, False)
    row = store.summary("q__fake").as_json()
    assert (row["quantization"], row["stored"]) == (quantization, f"{quantization}, vectors on disk")
    assert store.oversampling_for("q__fake") > 1
    store.oversampling = 3.0
    assert store.oversampling_for("q__fake") == 3.0
    # Rescored with the original vectors: the query point itself is first, its score exact.
    for i in (0, 137, 399):
        hits = store.query("q__fake", x[i], 5, with_payload=False)
        assert hits[0].id == ids[i] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    report = check_collection(store, "q__fake")
    assert report.ok and report.storage["quantization"] == quantization
    assert any(line.startswith("  stored as: " + quantization) for line in report.lines())


def test_a_plain_collection_says_so_and_draws_no_oversampling(store: Store):
    _fill(store, "p__fake", "none", _clustered(50, 8))
    assert store.oversampling_for("p__fake") is None
    assert store.summary("p__fake").as_json()["stored"] == "float32 in RAM"


def test_embedded_quantized_search_keeps_recall_and_check_reports_each_structure(tmp_path: Path):
    """8,000 × 384 (enough for the engine to build the HNSW index and the int8 copies)."""
    from embedscope.store.edge import EdgeStore

    both = _clustered(8050, 384, seed=1)  # queries held out from the same clusters
    x, queries = both[:8000], both[8000:]
    truth = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    with EdgeStore(tmp_path / "qdrant") as store:
        ids = _fill(store, "big__fake", "int8", x, vectors_on_disk=True)
        assert store.indexed_vectors("big__fake") == 8000
        index = {pid: i for i, pid in enumerate(ids)}
        got = [[index[h.id] for h in store.query("big__fake", q, 10, with_payload=False)]
               for q in queries]
        recall = np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth.tolist())])
        assert recall >= 0.95
        memory = check_collection(store, "big__fake").memory
    assert memory is not None
    # int8 copies are a quarter of the float32 originals (plus a header), kept in RAM; the
    # originals on disk.
    assert memory["vectors"]["where"] == "disk" and memory["quantized vectors"]["where"] == "RAM"
    assert memory["vectors"]["bytes"] >= 8000 * 384 * 4
    assert 0.2 < memory["quantized vectors"]["bytes"] / memory["vectors"]["bytes"] < 0.35
    assert memory["HNSW graph"]["bytes"] > 0 and memory["payload"]["bytes"] > 0


def test_ingest_storage_auto_default_and_explicit_flags():
    auto = IngestSettings(dataset="d")
    assert storage_for(auto, LARGE_COLLECTION - 1)["quantization"] == "none"
    assert storage_for(auto, None) == {"quantization": "none", "vectors_on_disk": False,
                                       "hnsw_on_disk": False}
    assert storage_for(auto, LARGE_COLLECTION) == {"quantization": "int8", "vectors_on_disk": True,
                                                   "hnsw_on_disk": False}
    asked = IngestSettings(dataset="d", quantization="binary", vectors_on_disk=False)
    assert storage_for(asked, 10)["quantization"] == "binary"
    assert storage_for(asked, 10)["vectors_on_disk"] is False


def test_ingest_creates_the_collection_as_asked_and_refuses_a_silent_change(tmp_path: Path, store):
    folder = tmp_path / "vecs"
    folder.mkdir()
    vecs = _clustered(30, 8)
    pq.write_table(pa.table({"emb": pa.array(list(vecs), pa.list_(pa.float32()))}),
                   folder / "train.parquet")
    settings = dict(dataset=str(folder), vector_column="emb", progress=False)
    summary = run_ingest(IngestSettings(**settings, quantization="turbo4"), store=store)
    meta = store.get_meta(summary.collection)
    assert (meta.quantization, meta.vectors_on_disk) == ("turbo4", True)
    run_ingest(IngestSettings(**settings), store=store)  # auto: keeps what the collection has
    assert store.get_meta(summary.collection).quantization == "turbo4"
    with pytest.raises(UsageError, match="stored as turbo4, vectors on disk; quantization=int8 "
                       "applies when a collection is created: add --recreate"):
        run_ingest(IngestSettings(**settings, quantization="int8"), store=store)
    run_ingest(IngestSettings(**settings, quantization="int8", recreate=True), store=store)
    assert store.get_meta(summary.collection).quantization == "int8"


def test_collections_and_check_commands_show_the_storage(data_env: Path, capsys):
    from embedscope.cli import main
    from embedscope.store.edge import EdgeStore

    with EdgeStore(data_env / "qdrant") as store:
        _fill(store, "q__fake", "turbo4", _clustered(40, 8), vectors_on_disk=True)
    assert main(["collections"]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[1], out.splitlines()[3]
    assert "stored" in header and "turbo4, vectors on disk" in row
    assert main(["check", "--collection", "q__fake"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  stored as: turbo4, vectors on disk"
    assert lines[2].startswith("  memory: vectors ") and "(disk)" in lines[2]
    assert main(["search", "--collection", "q__fake", "--id", row_point_id("q", "all", 0), "-k",
                 "3", "--oversampling", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
