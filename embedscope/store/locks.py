"""How processes share the embedded store: locks, waiting jobs, lending, and the serving hold.

Read top to bottom, this module is the whole protocol.

1. **One process per collection.** Qdrant Edge lets one process open a collection's shard. Each
   collection has a lock file, ``<root>/.locks/<name>.lock`` (outside the collection's own
   directory, so deleting or replacing the collection keeps it valid). A process holds an
   exclusive ``flock`` on it from the moment it creates, opens or deletes the collection until it
   closes its store (`CollectionLock`). The kernel drops the lock when the process dies, even by
   kill -9, so a crash never leaves a collection locked.
2. **The lock file names its holder**: command, pid, and whether it is a *serving* process (``ui``,
   ``serve``) that lets go when asked. The holder writes its record over the file in one write
   of a fixed width (never truncating it first), and a new lock file appears with its record
   already in it, so a process reading it never finds it empty (`holder_of`). A refused process
   names the holder (`busy_message`).
3. **Jobs and serving processes.** A job (ingest, analyze, snapshot …) that finds another *job*
   holding a collection is refused at once. A job that finds a *serving* process holding it waits
   for up to ``lock_wait_seconds``: it puts a ticket in the line, ``<name>.want.<time>.<pid>``, and
   takes the lock when it is free and its ticket is the first of a live process (`waiting`).
   Jobs that wait are served in the order they came; a job that arrives while others wait joins
   the end of the line. A waiting job takes its ticket away when it gets the lock or gives up;
   the ticket of a process that died is ignored and removed.
4. **A serving process never waits and never takes a collection a job waits for** (`wanted_by`).
   It holds its store through `StoreHold` (store/hold.py): one caller at a time, and between
   two callers it closes the store when a job waits for one of its collections, or when it was
   idle for ``idle_release_seconds``; the next caller opens it again (quickly: the integrity
   record matches, see store/integrity.py).
5. **Lending.** A job that writes from a child process (ingest's store writer) keeps the lock in
   the parent and lends the collection: ``EdgeStore.lend(name)`` closes the shard but keeps the
   lock, and the child opens it with ``EdgeStore(root, lent={name})``, which takes no lock
   (`StoreLocks`). No third process can get in between: the lock is the parent's all along.

A store's locks are kept by `StoreLocks` (the embedded backend, store/edge.py, calls it);
``open_store(serving=True)`` in store/__init__.py makes the serving kind.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from embedscope.errors import CollectionBusyError

#: Folder under the embedded root holding one lock file per collection (and the waiting line).
LOCK_DIR = ".locks"
#: Seconds between two tries while a job waits for a serving process to let go.
POLL = 0.05
#: Bytes of a lock file's record: every record is padded to this width and written whole.
RECORD_BYTES = 256

_command: list[str] = []


def set_command(name: str) -> None:
    """Name this process in the lock files it takes (the console command sets its command)."""
    _command[:] = [name]


def command() -> str:
    """This process's command name as lock files record it."""
    if _command:
        return _command[0]
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"


# --- who holds, who waits ----------------------------------------------------------------------
@dataclass(frozen=True)
class Holder:
    """Who holds (or waits for) a collection: what its lock file or ticket records."""

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


def _record(serving: bool) -> bytes:
    """This process's record, padded with spaces to RECORD_BYTES (JSON ignores them)."""
    data = json.dumps({"command": command()[:100], "pid": os.getpid(), "serving": serving})
    return data.encode().ljust(RECORD_BYTES)


def _read(path: Path) -> Holder | None:
    for _ in range(3):  # a read overlapping the holder's one write may see a torn record
        try:
            raw = json.loads(path.read_bytes())
            return Holder(str(raw["command"]), int(raw["pid"]), bool(raw.get("serving", False)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.001)
    return None


def _write_whole(path: Path, data: bytes, exclusive: bool = False) -> None:
    """Make ``path`` appear with ``data`` in it at once (a temporary file renamed or linked in).

    ``exclusive``: leave an existing file alone (link, which fails when the name exists).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if exclusive:
            with suppress(FileExistsError, PermissionError):  # no hard links here: see _try
                os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def holder_of(root: Path, name: str) -> Holder | None:
    """Who the lock file of ``name`` says holds it (None when unknown)."""
    return _read(root / LOCK_DIR / f"{name}.lock")


def waiting(root: Path, name: str) -> list[tuple[Holder, Path]]:
    """The live jobs waiting for ``name``, first come first, with their tickets (the tickets of
    processes that died are removed)."""
    folder = root / LOCK_DIR
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(name) + r"\.want\.\d{20}\.\d+")
    out = []
    for path in sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name)):
        holder = _read(path)
        if holder is None:
            continue
        if holder.alive():
            out.append((holder, path))
        else:
            path.unlink(missing_ok=True)
    return out


def wanted_by(root: Path, name: str) -> Holder | None:
    """The first live job waiting for ``name``, or None."""
    line = waiting(root, name)
    if line:
        return line[0][0]
    legacy = _read(root / LOCK_DIR / f"{name}.want")  # a job of an older version waits
    return legacy if legacy is not None and legacy.alive() else None


def busy_message(name: str, doing: str = "open", holder: Holder | None = None) -> str:
    """The one "busy" message every concurrent operation gets (naming the holder when known)."""
    who = (f"collection busy: {holder.command} running (pid {holder.pid}). "
           if holder is not None else "")
    return (
        f"{who}collection {name!r} is {doing} in another process (embedded Qdrant allows one "
        "process per collection). Wait for that process (ingest, analyze, ui, snapshot …) to "
        "finish, or run a Qdrant server and set EMBEDSCOPE_QDRANT_URL to share it."
    )


# --- one lock ----------------------------------------------------------------------------------
class CollectionLock:
    """An exclusive ``flock`` on ``root/.locks/<name>.lock``, held until ``release``.

    Args:
        root: The embedded store's root.
        name: The collection.
        serving: This process serves requests (ui, serve): it never takes a collection a job is
            waiting for, never waits, and lets go when asked.
        wait: Seconds a job waits in line when a serving process holds the lock; 0: refuse at
            once.
    """

    def __init__(self, root: Path, name: str, serving: bool = False, wait: float = 0.0) -> None:
        self.root = root
        self.path = root / LOCK_DIR / f"{name}.lock"
        self.name = name
        self.serving = serving
        self.wait = wait
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _try(self) -> bool:
        if not self.path.exists():
            _write_whole(self.path, _record(self.serving), exclusive=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # O_CREAT: a file system without links
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.pwrite(fd, _record(self.serving), 0)  # one write, never shorter: never seen empty
        self._fd = fd
        return True

    def acquire(self, doing: str = "open") -> None:
        """Take the lock, or raise CollectionBusyError naming the holder.

        A serving process refuses at once while a job waits for the collection. A job takes a
        free lock unless others wait for it (then it joins their line), waits in line up to
        ``wait`` seconds while a serving process holds it, and refuses at once otherwise.

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
            raise CollectionBusyError(busy_message(self.name, doing, holder_of(self.root, self.name)))
        line = waiting(self.root, self.name)
        if not line and self._try():
            return
        holder = holder_of(self.root, self.name)
        if self.wait <= 0 or (not line and (holder is None or not holder.serving)):
            raise CollectionBusyError(busy_message(self.name, doing, line[0][0] if line else holder))
        self._wait_in_line(doing)

    def _wait_in_line(self, doing: str) -> None:
        """Put a ticket in the line, then take the lock once it is free and the ticket first."""
        ticket = self._join()
        deadline = time.monotonic() + self.wait
        try:
            while time.monotonic() < deadline:
                time.sleep(POLL)
                line = waiting(self.root, self.name)
                if not any(path == ticket for _, path in line):
                    ticket = self._join()  # removed by someone: back in line
                    continue
                if line[0][1] == ticket and self._try():
                    return
            raise CollectionBusyError(busy_message(self.name, doing, holder_of(self.root, self.name)))
        finally:
            ticket.unlink(missing_ok=True)

    def _join(self) -> Path:
        ticket = self.path.with_name(f"{self.name}.want.{time.time_ns():020d}.{os.getpid()}")
        _write_whole(ticket, _record(False))
        return ticket

    def release(self) -> None:
        """Drop the lock (no-op when not held)."""
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


# --- a store's locks ---------------------------------------------------------------------------
class StoreLocks:
    """The collection locks one embedded store holds.

    Args:
        root: The embedded store's root.
        serving: The store serves requests (see `CollectionLock`).
        wait: Seconds a job waits in line for a serving process (ignored when serving).
        lent: Collections whose lock the parent process holds for this one (no lock is taken).
    """

    def __init__(self, root: Path, serving: bool = False, wait: float = 0.0,
                 lent: Iterable[str] = ()) -> None:
        self.root = root
        self.serving = serving
        self.wait = 0.0 if serving else wait
        self.lent = frozenset(lent)
        self._locks: dict[str, CollectionLock] = {}

    def take(self, name: str, doing: str = "open") -> None:
        """Hold ``name``'s lock (kept until `drop`), or raise CollectionBusyError."""
        if name in self.lent:
            return
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = CollectionLock(self.root, name, self.serving, self.wait)
        lock.acquire(doing)

    def holds(self, name: str) -> bool:
        """Whether this store holds ``name``'s lock now."""
        lock = self._locks.get(name)
        return lock is not None and lock.held

    def drop(self, name: str) -> None:
        """Let go of ``name``'s lock (no-op when not held)."""
        lock = self._locks.pop(name, None)
        if lock is not None:
            lock.release()

    def drop_all(self) -> None:
        """Let go of every lock."""
        for name in list(self._locks):
            self.drop(name)

    def held(self) -> set[str]:
        """The collections whose lock this store holds."""
        return {n for n, lock in self._locks.items() if lock.held}

    def wanted(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` a job in another process waits for."""
        return [n for n in names if wanted_by(self.root, n) is not None]

    def holder(self, name: str) -> Holder | None:
        """Who holds ``name``'s lock, as its lock file says."""
        return holder_of(self.root, name)
