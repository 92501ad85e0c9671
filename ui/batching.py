"""Concurrent query images batched into one model call: a short collection window, a maximum batch."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

import numpy as np

#: ``embed(list of decoded images) -> (n, d) vectors``: one model call.
EmbedMany = Callable[[list[Any]], np.ndarray]


class Batcher:
    """One worker thread that runs the model on every image waiting, up to ``max_batch``.

    The first image of a batch waits at most ``window`` seconds for others to join; an image
    that arrives while the model runs joins the next call. Requests from any thread block on
    their own future only. A failed model call (an exception, or an answer of the wrong size)
    is the failure of each request of its batch; the worker goes on with the next batch.

    Args:
        embed: The model call.
        window: Seconds the first image of a batch waits for company.
        max_batch: Most images in one call.
    """

    def __init__(self, embed: EmbedMany, window: float = 0.005, max_batch: int = 32) -> None:
        self._embed = embed
        self.window = window
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[Any, Future]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="embedscope-batcher", daemon=True)
        self._thread.start()
        self.calls = 0  # model calls made (for tests and benchmarks)
        self.images = 0

    def submit(self, image: Any) -> Future:
        """Queue one decoded image; its future gives its vector (or the model's exception)."""
        future: Future = Future()
        self._queue.put((image, future))
        return future

    def embed(self, image: Any) -> np.ndarray:
        """The vector of one decoded image (blocks until its batch ran)."""
        return self.submit(image).result()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.window
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=left) if left > 0
                                 else self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._call(batch)
            except BaseException as exc:  # noqa: BLE001 - the worker outlives any one batch
                _fail(batch, exc)

    def _call(self, batch: list[tuple[Any, Future]]) -> None:
        """One model call for ``batch``: each future gets its vector, or the call's exception."""
        live = [(img, fut) for img, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            vectors = self._embed([img for img, _ in live])
            if len(vectors) != len(live):
                raise RuntimeError(f"the query model gave {len(vectors)} vectors for "
                                   f"{len(live)} images")
        except BaseException as exc:  # the model's failure is each request's failure
            _fail(live, exc)
            return
        self.calls += 1
        self.images += len(live)
        for (_, fut), vec in zip(live, vectors, strict=True):
            fut.set_result(vec)


def _fail(batch: list[tuple[Any, Future]], exc: BaseException) -> None:
    """Give ``exc`` to every request of ``batch`` still unanswered (none waits forever)."""
    for _, fut in batch:
        if not fut.done():
            with contextlib.suppress(InvalidStateError):  # answered meanwhile (or cancelled)
                fut.set_exception(exc)
