"""Per-collection file locks for the embedded store: one process creates, opens or deletes at a time."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from embedscope.errors import CollectionBusyError

#: Folder under the embedded root holding one lock file per collection. It lives outside the
#: collection's own directory so that deleting or replacing the collection keeps the lock valid.
LOCK_DIR = ".locks"


def busy_message(name: str, doing: str = "open") -> str:
    """The one "busy" message every concurrent operation gets."""
    return (
        f"collection {name!r} is {doing} in another process (embedded Qdrant allows one process "
        "per collection). Wait for that process (ingest, analyze, ui, snapshot …) to finish, or "
        "run a Qdrant server and set EMBEDSCOPE_QDRANT_URL to share it."
    )


class CollectionLock:
    """An exclusive ``flock`` on ``root/.locks/<name>.lock``, held until ``release``.

    The kernel drops the lock when the process dies (even by kill -9), so a crash never leaves
    a collection locked.
    """

    def __init__(self, root: Path, name: str) -> None:
        self.path = root / LOCK_DIR / f"{name}.lock"
        self.name = name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, doing: str = "open") -> None:
        """Take the lock at once or raise CollectionBusyError (never waits).

        Raises:
            CollectionBusyError: another process (or another store in this one) holds it.
        """
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise CollectionBusyError(busy_message(self.name, doing)) from exc
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (no-op when not held)."""
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None
