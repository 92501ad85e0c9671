"""Bring your own vectors: a dataset column stored as a named space, checked row by row, normalised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedscope.contract import row_point_id
from embedscope.errors import MixedSpaceError, UsageError
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.errors import DatasetError
from embedscope.ingest.pipeline import run_ingest
from embedscope.search.neighbors import neighbours

N, DIM = 40, 16
BAD = {3: "NaN or infinite", 5: "all zeros", 7: "17 values", 9: "missing"}


def _vectors() -> list[list[float] | None]:
    rng = np.random.default_rng(4)
    out: list[list[float] | None] = [list(map(float, v)) for v in rng.normal(size=(N, DIM))]
    out[3][2] = float("nan")  # type: ignore[index]
    out[5] = [0.0] * DIM
    out[7] = [1.0] * (DIM + 1)
    out[9] = None
    return out


@pytest.fixture
def with_vectors(sample_dir: Path, tmp_path: Path) -> Path:
    """The first 40 training rows of the sample (images, labels) with an `emb` column."""
    table = pq.read_table(sample_dir / "train.parquet").slice(0, N)
    table = table.append_column("emb", pa.array(_vectors(), pa.list_(pa.float32())))
    folder = tmp_path / "own_vectors"
    folder.mkdir()
    pq.write_table(table, folder / "train.parquet")
    return folder


def test_vectors_are_stored_checked_and_normalised_with_thumbnails(with_vectors: Path, store):
    summary = run_ingest(IngestSettings(dataset=str(with_vectors), vector_column="emb",
                                        space="my-model", progress=False), store=store)
    assert summary.collection == "own_vectors__my_model" and summary.ingested == N - len(BAD)
    reasons = {r.index: r.reason for r in summary.rejected}
    assert set(reasons) == set(BAD)
    for row, text in BAD.items():
        assert f"train row {row}" in reasons[row] and text in reasons[row]
    meta = store.get_meta(summary.collection)
    assert (meta.model, meta.dimension, meta.pooling, meta.text) == ("my-model", DIM, "precomputed", False)
    assert meta.labels[0] == "T-shirt/top"
    raw = _vectors()
    pid = row_point_id("own_vectors", "train", 0)
    rec = store.retrieve(summary.collection, [pid], with_vectors=True)[0]
    want = np.asarray(raw[0], np.float32)
    np.testing.assert_allclose(rec.vector, want / np.linalg.norm(want), atol=1e-6)
    assert rec.payload["thumbnail"] and rec.payload["width"] == 28
    # the vectors are searchable like any space
    hits = neighbours(store, summary.collection, point_id=pid, k=3, exact=True)
    X = np.asarray([v for i, v in enumerate(raw) if i not in BAD], np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    cos = X[1:] @ X[0]
    assert hits[0].score == pytest.approx(float(np.sort(cos)[-1]), abs=1e-5)


def test_rows_without_images_are_stored_without_thumbnails(tmp_path: Path, store):
    folder = tmp_path / "bare"
    folder.mkdir()
    vecs = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    pq.write_table(pa.table({"emb": pa.array(list(vecs), pa.list_(pa.float32())),
                             "label": [0, 1, 0, 1, 0, 1]}), folder / "train.parquet")
    summary = run_ingest(IngestSettings(dataset=str(folder), vector_column="emb", progress=False),
                         store=store)
    assert summary.collection == "bare__emb" and summary.ingested == 6 and not summary.rejected
    rec = store.retrieve(summary.collection, [row_point_id("bare", "train", 2)], with_vectors=True)[0]
    assert "thumbnail" not in rec.payload and rec.payload["label"] == 0
    np.testing.assert_allclose(rec.vector, vecs[2] / np.linalg.norm(vecs[2]), atol=1e-6)


def test_the_dimension_is_checked_against_the_collection(with_vectors: Path, tmp_path: Path, store):
    run_ingest(IngestSettings(dataset=str(with_vectors), vector_column="emb", space="s",
                              progress=False), store=store)
    other = tmp_path / "other" / "own_vectors"
    other.mkdir(parents=True)
    pq.write_table(pa.table({"emb": pa.array([[1.0, 2.0, 3.0]] * 3, pa.list_(pa.float32()))}),
                   other / "train.parquet")
    with pytest.raises(MixedSpaceError, match="3-d"):
        run_ingest(IngestSettings(dataset=str(other), vector_column="emb", space="s",
                                  collection="own_vectors__s", progress=False), store=store)
    with pytest.raises(DatasetError, match="no such column"):
        run_ingest(IngestSettings(dataset=str(with_vectors), vector_column="nope", progress=False),
                   store=store)
    with pytest.raises(UsageError, match="--space names the space of --vector-column"):
        run_ingest(IngestSettings(dataset=str(with_vectors), space="s", progress=False), store=store)
