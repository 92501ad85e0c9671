"""Read an iterator ahead on a thread, a bounded number of items, so reading overlaps the work on them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(source: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
    """Yield ``source``'s items, read up to ``depth`` ahead on a daemon thread.

    The reader's exception is raised here, at the point the consumer reaches it. Closing the
    generator (or stopping early) stops the reader and closes ``source`` on its thread.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(obj: object) -> bool:
        while not stop.is_set():
            try:
                items.put(obj, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for obj in source:
                if not put(obj):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer
            put(_Failed(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="embedscope-source", daemon=True)
    thread.start()
    try:
        while True:
            obj = items.get()
            if obj is _DONE:
                return
            if isinstance(obj, _Failed):
                raise obj.exc
            yield obj  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=30)
