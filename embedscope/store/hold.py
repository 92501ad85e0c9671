"""The serving process's hold on its store (the lock protocol's rule 4, store/locks.py): one
caller at a time, and the embedded collections let go when idle or when a job waits for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedscope.store.base import Store


class StoreHold:
    """One store for every request of a serving process, used by one caller at a time.

    An embedded store (one that reports ``held`` and ``wanted`` collections) is closed after
    ``idle()`` seconds without a caller, and at once, between two callers, when a job in another
    process waits for one of its collections; the next caller opens it again. A server store is
    kept open.

    Args:
        open_store: Called for the store on first use and after each release.
        idle: The idle seconds before a release (read at each check: settings may change).
        store: An already open store to start with.
    """

    def __init__(self, open_store: Callable[[], Store], idle: Callable[[], float],
                 store: Store | None = None) -> None:
        self._open = open_store
        self._idle = idle
        self._store = store
        self.lock = threading.RLock()
        self._using = 0
        self._last_used = time.monotonic()
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()

    @contextmanager
    def use(self) -> Iterator[Store]:
        """The store, opened if need be, held for this caller alone."""
        with self.lock:
            if self._store is None:
                self._store = self._open()
            self._start_reaper()
            self._using += 1
            try:
                yield self._store
            finally:
                self._using -= 1
                self._last_used = time.monotonic()
                if self._using == 0:
                    self._let_go(idle_only=True)

    def _start_reaper(self) -> None:
        if self._reaper is not None or not hasattr(self._store, "held"):
            return
        self._reaper = threading.Thread(target=self._reap, name="embedscope-idle-release",
                                        daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        """Let go of idle or wanted collections until shut down."""
        while not self._stop.wait(0.1):
            if self.lock.acquire(blocking=False):
                try:
                    if self._using == 0:
                        self._let_go(idle_only=False)
                finally:
                    self.lock.release()

    def _let_go(self, idle_only: bool) -> None:
        """Close the embedded shards (the lock is held, no caller) when a job waits for one of
        them, or (unless ``idle_only``) when they were idle long enough."""
        store: Any = self._store
        held = getattr(store, "held", None)
        if store is None or held is None or not held():
            return
        idle = time.monotonic() - self._last_used >= self._idle()
        if store.wanted() or (idle and not idle_only):
            store.close()

    def holds(self) -> list[str]:
        """The embedded collections held open now (empty for a server)."""
        held = getattr(self._store, "held", None)
        return list(held()) if held is not None else []

    def close(self) -> None:
        """Close the store (the next caller opens it again)."""
        with self.lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def shutdown(self) -> None:
        """Close the store and stop the idle-release thread."""
        self._stop.set()
        self.close()
