"""The writer keeps several upserts in flight to a store that applies them in parallel (a Qdrant
server), stores exactly what one at a time stores, and stops at the first failure."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from embedscope.contract import CollectionMeta
from embedscope.ingest.items import Item
from embedscope.ingest.sources import Dataset
from embedscope.ingest.writer import Job, Writer
from embedscope.store.remote import RemoteStore

DIM = 8
DATASET = Dataset("fake", ["a", "b"], ["train"], "rows", lambda split: iter(()), None)


class Slow:
    """A real store whose upserts take ``delay`` seconds of waiting, as a server's do; it counts
    how many are in flight at once and can fail its ``fail_at``-th upsert."""

    def __init__(self, store: RemoteStore, delay: float, fail_at: int | None = None) -> None:
        self.store, self.delay, self.fail_at = store, delay, fail_at
        self.upload_parallel = 1
        self.lock = threading.Lock()
        self.calls = self.now = self.most = 0

    def upsert(self, name: str, ids: Sequence[str], vectors: np.ndarray,
               payloads: Sequence[dict[str, Any]]) -> None:
        with self.lock:
            self.calls += 1
            call = self.calls
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.delay)
            if call == self.fail_at:
                raise ConnectionError("the server went away")
            with self.lock:  # the in-memory engine is not meant for concurrent writers
                self.store.upsert(name, ids, vectors, payloads)
        finally:
            with self.lock:
                self.now -= 1


def _jobs(n_batches: int, size: int) -> list[Job]:
    rng = np.random.default_rng(0)
    jobs = []
    for b in range(n_batches):
        items = [Item(str(uuid.uuid5(uuid.NAMESPACE_URL, f"w/{b}/{i}")), "train", b * size + i,
                      i % 2, None) for i in range(size)]
        v = rng.normal(size=(size, DIM)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        jobs.append(Job(items, [(0, 0)] * size, [""] * size, lambda v=v: v))
    return jobs


def _write(parallel: int, delay: float = 0.05, fail_at: int | None = None) -> tuple[Slow, Writer, float]:
    store = RemoteStore(":memory:")
    store.ensure_collection("c", CollectionMeta(model="fake", dimension=DIM, labels=["a", "b"]))
    slow = Slow(store, delay, fail_at)
    writer = Writer(slow, "c", DATASET, "fake", "2026-12-06T00:00:00Z",  # type: ignore[arg-type]
                    in_flight=8, parallel=parallel)
    started = time.perf_counter()
    try:
        for job in _jobs(12, 16):
            writer.put(job)
    except ConnectionError:
        pass
    return slow, writer, started


def test_several_upserts_in_flight_store_what_one_at_a_time_stores() -> None:
    one, w1, _ = _write(parallel=1)
    w1.close()
    four, w4, _ = _write(parallel=4)
    w4.close()
    assert (one.most, four.most) == (1, 4)  # the store saw 4 upserts at once
    assert w1.written == w4.written == 12 * 16
    got = {r.id: r.payload for r in four.store.scroll("c", None, True)}
    want = {r.id: r.payload for r in one.store.scroll("c", None, True)}
    assert got == want and len(got) == 12 * 16


def test_the_first_failed_upload_stops_the_writer_and_is_raised() -> None:
    slow, writer, _ = _write(parallel=3, fail_at=2)
    with pytest.raises(ConnectionError, match="went away"):
        writer.close()
    stored = slow.store.count("c")
    assert writer.written <= stored < 12 * 16  # counted only what the store confirmed
    assert slow.calls < 12  # later batches were dropped, not sent


def test_a_server_store_says_how_many_uploads_it_takes_at_once() -> None:
    from embedscope.settings import QdrantSettings
    from embedscope.store import open_store

    settings = QdrantSettings(qdrant_url="http://127.0.0.1:9", qdrant_upload_parallel=6,
                              qdrant_grpc=True, qdrant_grpc_port=7334)
    store = open_store(settings, batch=True)
    assert store.upload_parallel == 6 and "gRPC port 7334" in store.location
    assert RemoteStore(":memory:").upload_parallel == 1  # the in-memory engine: one at a time

