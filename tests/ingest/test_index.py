"""The index build is off the critical path: searchable (exactly) at once, indexed after, safe to kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from embedscope.ingest.config import IngestSettings
from embedscope.ingest.pipeline import run_ingest
from embedscope.ingest.summary import IngestSummary
from embedscope.settings import QdrantSettings
from embedscope.store.edge import EdgeStore
from embedscope.store.remote import RemoteStore


def _assert_exact_search(store, name: str, k: int = 5) -> None:
    """Top-k from the store equals brute-force cosine top-k over the stored vectors."""
    ids, vectors, _ = store.fetch_all(name, payload_fields=())
    mat = np.asarray(vectors, np.float32)
    queries = mat[::97][:8]
    hits = store.query_batch(name, queries, k)
    scores = queries @ mat.T
    for q, got in enumerate(hits):
        order = np.argsort(-scores[q], kind="stable")[:k]
        np.testing.assert_allclose([h.score for h in got], scores[q][order], atol=1e-4)
        assert got[0].id == ids[order[0]]


def test_searchable_before_the_index_and_indexed_after(sample_dir: Path, tmp_path: Path):
    store = EdgeStore(tmp_path / "q")
    seen: list[tuple[str, int | None]] = []

    def searchable(summary: IngestSummary) -> None:  # called before the build: exact search works
        assert summary.index == "pending" and summary.points_in_collection == 1200
        _assert_exact_search(store, summary.collection)
        seen.append((summary.index, store.indexed_vectors(summary.collection)))

    # 1,200 × 3,136-d (56 px) is above Qdrant's indexing threshold (10 MB): the build indexes all
    settings = IngestSettings(dataset=str(sample_dir / "train.parquet"), model="pixels", limit=1200,
                              image_size=56, progress=False)
    summary = run_ingest(settings, store=store, on_searchable=searchable)
    assert seen and seen[0][1] == 0  # nothing indexed when it was reported searchable
    assert summary.index == "built" and summary.indexed_vectors == 1200
    assert "built in" in summary.index_line()
    _assert_exact_search(store, summary.collection)
    store.close()


def test_skip_leaves_exact_search_and_wait_builds_first(sample_dir: Path, tmp_path: Path):
    q = QdrantSettings(data_dir=tmp_path)
    base = IngestSettings(dataset=str(sample_dir / "test.parquet"), model="pixels", progress=False)
    skipped = run_ingest(base.model_copy(update={"index": "skip"}), q)
    assert skipped.index == "skipped" and "exact" in skipped.index_line()
    with EdgeStore(q.embedded_dir) as s:
        assert s.indexed_vectors(skipped.collection) == 0
        _assert_exact_search(s, skipped.collection)
    waited = run_ingest(base.model_copy(update={"index": "wait"}), q)  # resumes: nothing to embed
    assert waited.ingested == 0 and waited.skipped == 615 and waited.index == "built"
    assert waited.index_seconds <= waited.seconds  # counted in the run's time
    with EdgeStore(q.embedded_dir) as s:
        assert s.count(skipped.collection) == 615
        _assert_exact_search(s, skipped.collection)


def test_server_backends_index_themselves(sample_dir: Path):
    summary = run_ingest(IngestSettings(dataset=str(sample_dir / "test.parquet"), model="pixels", limit=50,
                                        progress=False), store=RemoteStore(":memory:"))
    assert summary.index == "server" and summary.points_in_collection == 50


def test_sigkill_during_the_index_build_then_resume(sample_dir: Path, tmp_path: Path):
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-m", "embedscope", "ingest", "--dataset", str(sample_dir), "--model", "pixels",
            "--num-workers", "0", "--no-progress"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    buf, deadline = b"", time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and b"building index" not in buf:
        buf += proc.stderr.read() or b""
        time.sleep(0.02)
    assert b"building index" in buf, buf.decode()[-1000:]
    time.sleep(0.3)
    assert proc.poll() is None, "the index was built before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "3615 points" in out  # the summary said it was complete before the build began

    done = subprocess.run([*args, "--json"], env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    summary = json.loads(done.stdout)
    assert summary["ingested"] == 0 and summary["skipped"] == 3615
    assert summary["points_in_collection"] == 3615 and summary["index"] == "built"
    with EdgeStore(tmp_path / "data" / "qdrant") as store:
        name = summary["collection"]
        ids = [r.id for r in store.scroll(name, with_payload=False)]
        assert len(ids) == len(set(ids)) == store.count(name) == 3615
        _assert_exact_search(store, name)


def test_a_full_disk_mid_run_ends_it_cleanly(sample_dir: Path):
    """DiskFullError from an upsert stops the writer, keeps what is stored and reaches the caller."""
    import threading

    from embedscope.errors import DiskFullError

    class FillsUp(RemoteStore):
        calls = 0

        def _upsert(self, name, ids, vectors, payloads):
            FillsUp.calls += 1
            if FillsUp.calls > 3:
                raise DiskFullError("the disk is full (test)")
            super()._upsert(name, ids, vectors, payloads)

    store = FillsUp(":memory:")
    settings = IngestSettings(dataset=str(sample_dir / "test.parquet"), model="pixels", batch_size=50,
                              progress=False, collection="t")
    try:
        run_ingest(settings, store=store)
    except DiskFullError as exc:
        assert "disk is full" in str(exc)
    else:
        raise AssertionError("the full disk went unnoticed")
    assert store.count("t") == 150  # the three batches written before the disk filled
    assert not [t for t in threading.enumerate() if t.name == "embedscope-writer"]
    FillsUp.calls = -10**6
    resumed = run_ingest(settings, store=store)
    assert resumed.skipped == 150 and resumed.ingested == 465 and store.count("t") == 615
