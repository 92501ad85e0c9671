"""The writer stage: on its own thread, wait for a batch's vectors, build its payloads, upsert it.

The main thread only decodes and launches the model; everything after the forward pass —
waiting for the device→host copy, payloads, the upsert — happens here, a few batches behind
(the queue bounds how many are in flight, so memory does not grow with the dataset).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from embedscope.contract import Payload
from embedscope.ingest.items import Item
from embedscope.ingest.sources import Dataset
from embedscope.store import Store


@dataclass
class Job:
    """One batch on its way to the store: its items, what the payload records, its vectors to come."""

    items: list[Item]
    sizes: list[tuple[int, int]]  # original width, height
    thumbnails: list[str]
    vectors: Callable[[], np.ndarray]  # waits for the batch's vectors (L2-normalised float32)


def payload(item: Item, width: int, height: int, thumbnail: str, dataset: Dataset, model: str,
            when: str) -> dict[str, Any]:
    """The point's payload, as the collection contract names it."""
    out: dict[str, Any] = {Payload.DATASET: dataset.name, Payload.SPLIT: item.split,
                           Payload.INDEX: item.index}
    if item.label is not None:
        out[Payload.LABEL] = item.label
        if 0 <= item.label < len(dataset.labels):
            out[Payload.LABEL_NAME] = dataset.labels[item.label]
    if item.source is not None:
        out[Payload.SOURCE] = item.source
    if thumbnail:  # a row without an image (precomputed vectors alone) has no size or thumbnail
        out.update({Payload.WIDTH: width, Payload.HEIGHT: height, Payload.THUMBNAIL: thumbnail})
    out.update({Payload.MODEL: model, Payload.INGESTED_AT: when})
    return out


class Sink(Protocol):
    """Where the writer's batches go: a `Store`, or the embedded store's writer process."""

    def upsert(self, name: str, ids: Sequence[str], vectors: np.ndarray,
               payloads: Sequence[dict[str, Any]]) -> None: ...


class Writer:
    """Upserts on a background thread so the next batches decode and embed while this one is written.

    The first error (a full disk, a server gone) stops the writing: later jobs are dropped, the
    next `put` raises it on the main thread, and `close` raises it too.

    ``process`` (an `ingest.store_process.StoreProcess`) takes the upserts instead of ``store``:
    this thread then only waits for vectors, builds payloads and hands batches over.

    A store that applies upserts in parallel (a Qdrant server: ``store.upload_parallel``, from
    EMBEDSCOPE_QDRANT_UPLOAD_PARALLEL) gets up to that many batches in flight at once: this thread
    builds the next batch's payloads while the server applies the previous ones. ``written``
    counts the batches the store has confirmed.
    """

    def __init__(self, store: Store, collection: str, dataset: Dataset, model: str, when: str,
                 in_flight: int = 3, process: Any = None, parallel: int | None = None) -> None:
        self.store, self.collection, self.dataset, self.model, self.when = store, collection, dataset, model, when
        self.process = process
        self.sink: Sink = process if process is not None else store
        self.parallel = 1 if process is not None else max(
            1, int(store.upload_parallel if parallel is None else parallel))
        self.pool = (ThreadPoolExecutor(self.parallel, thread_name_prefix="embedscope-upload")
                     if self.parallel > 1 else None)
        self.uploads: deque[tuple[Future[None], int]] = deque()
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=max(1, in_flight))
        self.error: BaseException | None = None
        self.written = 0
        self.first_written_at = 0.0  # perf_counter() when the first batch was stored
        self.thread = threading.Thread(target=self._run, name="embedscope-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                self._write(job)
            except BaseException as exc:  # re-raised on the main thread
                self.error = exc
        try:
            self._settle(0)
        except BaseException as exc:
            self.error = self.error or exc
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)

    def _write(self, job: Job) -> None:
        vectors = job.vectors()
        payloads = [payload(it, w, h, t, self.dataset, self.model, self.when)
                    for it, (w, h), t in zip(job.items, job.sizes, job.thumbnails)]
        ids = [it.point_id for it in job.items]
        if self.pool is not None:
            self._settle(self.parallel - 1)  # room for one more in flight
            self.uploads.append((self.pool.submit(self.sink.upsert, self.collection, ids,
                                                  vectors, payloads), len(ids)))
            self._settle(self.parallel - 1, block=False)
            return
        self.sink.upsert(self.collection, ids, vectors, payloads)
        self._stored(self.process.stored if self.process is not None else self.written + len(ids))

    def _settle(self, keep: int, block: bool = True) -> None:
        """Wait for the oldest uploads in flight until at most ``keep`` remain (without
        ``block``: only those already done); raises the first that failed."""
        while self.uploads and (len(self.uploads) > keep or self.uploads[0][0].done()):
            future, n = self.uploads[0]
            if not block and not future.done():
                return
            future.result()
            self.uploads.popleft()
            self._stored(self.written + n)

    def _stored(self, written: int) -> None:
        self.written = written
        if not self.first_written_at:
            self.first_written_at = time.perf_counter()

    def put(self, job: Job) -> None:
        """Queue a batch (blocks while ``in_flight`` batches wait); raises the writer's error if any."""
        if self.error is not None:
            raise self.error
        self.queue.put(job)

    def close(self) -> None:
        """Write what is queued, stop the thread (and the writer process); raise the first error, if any."""
        self.queue.put(None)
        self.thread.join()
        if self.process is not None:
            try:
                self.process.close()
            except BaseException as exc:
                self.error = self.error or exc
            finally:
                self.written = self.process.stored
        if self.error is not None:
            raise self.error
