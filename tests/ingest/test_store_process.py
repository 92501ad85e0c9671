"""The embedded store's writer process: it stores what it is handed, hands the collection back, reports errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from embedscope.contract import CollectionMeta
from embedscope.errors import CollectionBusyError, DiskFullError
from embedscope.ingest.store_process import StoreProcess, StoreProcessError
from embedscope.store.edge import EdgeStore


def _points(n: int, start: int = 0) -> tuple[list[str], np.ndarray, list[dict[str, int]]]:
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"p/{i}")) for i in range(start, start + n)]
    vectors = np.random.default_rng(start).standard_normal((n, 4)).astype(np.float32)
    payloads = [{"index": i} for i in range(start, start + n)]
    return ids, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), payloads


@pytest.fixture
def store(tmp_path: Path):
    with EdgeStore(tmp_path / "data") as st:
        st.ensure_collection("c", CollectionMeta(model="m", dimension=4))
        yield st


def test_points_handed_over_are_stored_and_the_collection_comes_back(store: EdgeStore):
    process = StoreProcess(store, "c", 4, batch_size=8, slots=2)
    other = EdgeStore(store.root)  # another process, as far as the lock goes (its own descriptor)
    with pytest.raises(CollectionBusyError):  # the parent keeps the lock while the child writes
        other.count("c")
    ids, vectors, payloads = _points(50)
    for s in range(0, 50, 20):  # batches larger than a buffer are split, every buffer reused
        process.upsert("c", ids[s:s + 20], vectors[s:s + 20], payloads[s:s + 20])
    process.close()
    assert process.stored == 50
    assert store.count("c") == 50  # this store opens it again
    got = {r.id: r for r in store.retrieve("c", ids[:3], with_vectors=True)}
    np.testing.assert_allclose(got[ids[1]].vector, vectors[1], rtol=1e-6)
    assert got[ids[2]].payload == {"index": 2}
    assert store.integrity_record("c") is not None


def test_an_error_in_the_process_reaches_the_caller_and_keeps_what_is_stored(store: EdgeStore):
    ids, vectors, payloads = _points(16)
    store.upsert("c", ids, vectors, payloads)
    store.reserve = 2**62  # no disk is this big: the process's first upsert finds it full
    process = StoreProcess(store, "c", 4, batch_size=8)
    with pytest.raises(DiskFullError, match="not enough disk space"):
        try:
            process.upsert("c", *_points(32, start=16))
        finally:
            process.close()
    store.reserve = 0
    assert store.count("c") == 16


def test_a_killed_process_is_named_with_what_to_do(store: EdgeStore):
    process = StoreProcess(store, "c", 4, batch_size=8)
    process.proc.kill()
    process.proc.join()
    with pytest.raises(StoreProcessError, match="run the same command again"):
        try:
            for _ in range(10):
                process.upsert("c", *_points(8))
        finally:
            process.close()


def test_an_ingest_with_the_writer_process_stores_what_the_thread_stores(sample_dir, tmp_path):
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.settings import QdrantSettings

    stored = {}
    for writer in ("thread", "process"):
        q = QdrantSettings(data_dir=tmp_path / writer)
        settings = IngestSettings(dataset=str(sample_dir / "test.parquet"), model="pixels",
                                  progress=False, writer=writer, limit=300)
        summary = run_ingest(settings, q)
        assert summary.ingested == 300
        with EdgeStore(q.embedded_dir) as s:
            stored[writer] = {r.id: (r.vector, r.payload["label"])
                              for r in s.scroll(summary.collection, with_payload=["label"],
                                                with_vectors=True)}
    assert stored["thread"].keys() == stored["process"].keys() and len(stored["thread"]) == 300
    for pid, (vector, label) in stored["thread"].items():
        assert stored["process"][pid][1] == label
        np.testing.assert_array_equal(stored["process"][pid][0], vector)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"),
                    reason="PR_SET_PDEATHSIG is Linux's")
def test_the_writer_process_ends_with_its_parent_killed_outright(tmp_path: Path):
    """A run killed with SIGKILL while its writer process has batches queued: the child ends at
    once instead of writing its queue (a resumed run then has work left, as with a thread), and
    nothing holds the collection afterwards."""
    import os
    import signal
    import subprocess
    import sys
    import time

    n, dim = 20_000, 64  # a batch takes the child about a second to store
    script = f"""
import numpy as np, time, uuid
from embedscope.contract import CollectionMeta
from embedscope.ingest.store_process import StoreProcess
from embedscope.store.edge import EdgeStore
store = EdgeStore({str(tmp_path / "data")!r})
store.ensure_collection("c", CollectionMeta(model="m", dimension={dim}))
process = StoreProcess(store, "c", {dim}, batch_size={n}, slots=2)
print(process.proc.pid, flush=True)
rng = np.random.default_rng(0)
for b in range(3):
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"k/{{b}}/{{i}}")) for i in range({n})]
    process.upsert("c", ids, rng.standard_normal(({n}, {dim})).astype(np.float32),
                   [{{"index": i}} for i in range({n})])
print("handed", flush=True)
time.sleep(120)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == "handed"  # the third batch waits in the queue
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def ended() -> bool:  # gone, or a zombie nobody has reaped yet
        try:
            return Path(f"/proc/{child}/stat").read_text().split(") ")[1][0] == "Z"
        except (FileNotFoundError, IndexError):
            return True

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not ended():
        time.sleep(0.02)
    if not ended():
        os.kill(child, signal.SIGKILL)
        pytest.fail(f"the writer process {child} outlived its killed parent by 5 s")
    with EdgeStore(tmp_path / "data") as store:  # nothing holds the collection any more
        stored = store.count("c")
    assert stored < 3 * n, "the child wrote its whole queue after its parent was killed"
