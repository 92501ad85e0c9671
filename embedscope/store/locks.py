"""Per-collection file locks for the embedded store: one process creates, opens or deletes at a time.

The lock file says who holds it (command, pid, and whether it is a serving process — `ui`,
`serve` — that lets go when asked), so that a refused process can name the holder. A job that
finds a serving process holding a collection leaves a *want* file beside the lock and waits: the
server lets go as soon as its current request ends and does not take the collection back while
the want file's process lives.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from embedscope.errors import CollectionBusyError

#: Folder under the embedded root holding one lock file per collection. It lives outside the
#: collection's own directory so that deleting or replacing the collection keeps the lock valid.
LOCK_DIR = ".locks"
#: Seconds between two tries while a job waits for a serving process to let go.
POLL = 0.05

_command: list[str] = []


def set_command(name: str) -> None:
    """Name this process in the lock files it takes (the console command sets its command)."""
    _command[:] = [name]


def command() -> str:
    """This process's command name as lock files record it."""
    if _command:
        return _command[0]
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) a collection: what its lock or want file records."""

    command: str
    pid: int
    serving: bool = False

    def alive(self) -> bool:
        """Whether the process still runs."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _read(path: Path) -> Holder | None:
    try:
        raw = json.loads(path.read_text())
        return Holder(str(raw["command"]), int(raw["pid"]), bool(raw.get("serving", False)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def busy_message(name: str, doing: str = "open", holder: Holder | None = None) -> str:
    """The one "busy" message every concurrent operation gets (naming the holder when known)."""
    who = (f"collection busy: {holder.command} running (pid {holder.pid}). "
           if holder is not None else "")
    return (
        f"{who}collection {name!r} is {doing} in another process (embedded Qdrant allows one "
        "process per collection). Wait for that process (ingest, analyze, ui, snapshot …) to "
        "finish, or run a Qdrant server and set EMBEDSCOPE_QDRANT_URL to share it."
    )


def wanted_by(root: Path, name: str) -> Holder | None:
    """The live job waiting for ``name`` (its want file), or None."""
    holder = _read(root / LOCK_DIR / f"{name}.want")
    return holder if holder is not None and holder.alive() else None


def holder_of(root: Path, name: str) -> Holder | None:
    """Who the lock file of ``name`` says holds it (None when unknown)."""
    return _read(root / LOCK_DIR / f"{name}.lock")


class CollectionLock:
    """An exclusive ``flock`` on ``root/.locks/<name>.lock``, held until ``release``.

    The kernel drops the lock when the process dies (even by kill -9), so a crash never leaves
    a collection locked.

    Args:
        root: The embedded store's root.
        name: The collection.
        serving: This process serves requests (ui, serve): it never takes a collection a job is
            waiting for, and lets go when asked.
        wait: Seconds to wait when a serving process holds the lock (it lets go between
            requests); 0: refuse at once.
    """

    def __init__(self, root: Path, name: str, serving: bool = False, wait: float = 0.0) -> None:
        self.root = root
        self.path = root / LOCK_DIR / f"{name}.lock"
        self.want_path = root / LOCK_DIR / f"{name}.want"
        self.name = name
        self.serving = serving
        self.wait = wait
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _try(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"command": command(), "pid": os.getpid(),
                                  "serving": self.serving}).encode(), 0)
        self._fd = fd
        return True

    def acquire(self, doing: str = "open") -> None:
        """Take the lock, or raise CollectionBusyError naming the holder.

        A serving process refuses at once while a job waits for the collection. Others wait up
        to ``wait`` seconds when the holder is a serving process, and refuse at once otherwise.

        Raises:
            CollectionBusyError: another process (or another store in this one) holds it.
        """
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.serving:
            job = wanted_by(self.root, self.name)
            if job is not None:
                raise CollectionBusyError(busy_message(self.name, doing, job))
        if self._try():
            return
        holder = holder_of(self.root, self.name)
        if holder is None or not holder.serving or self.wait <= 0 or self.serving:
            raise CollectionBusyError(busy_message(self.name, doing, holder))
        self._wait_for_server(doing)

    def _wait_for_server(self, doing: str) -> None:
        """Leave a want file, then poll until the serving holder lets go (or the wait ends)."""
        tmp = self.want_path.with_suffix(f".want.{os.getpid()}")
        tmp.write_text(json.dumps({"command": command(), "pid": os.getpid()}))
        os.replace(tmp, self.want_path)
        deadline = time.monotonic() + self.wait
        try:
            while time.monotonic() < deadline:
                time.sleep(POLL)
                if self._try():
                    return
            raise CollectionBusyError(busy_message(self.name, doing, holder_of(self.root, self.name)))
        finally:
            mine = _read(self.want_path)
            if mine is not None and mine.pid == os.getpid():
                self.want_path.unlink(missing_ok=True)

    def release(self) -> None:
        """Drop the lock (no-op when not held)."""
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None
