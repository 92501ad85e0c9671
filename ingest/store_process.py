"""The embedded store's upserts in a child process: the engine's conversions off the feeding process's GIL.

Qdrant Edge's binding converts every point (ids, ``row.tolist()``, payload dicts) while it holds
the GIL, and the thread that feeds the model needs the same GIL: on a thread, the writer slows the
model down. Here a child process writes the collection for the run: the parent closes its shard
but keeps the collection's lock (no other process can get in), the child opens the shard under
that lock and closes it, with its integrity record, before it answers "closed". Vectors travel
through a ring of shared-memory batch buffers, ids and payloads through a pipe; a buffer is
reused once the child has stored its batch, so at most ``slots`` batches are in flight.

Only a run into an empty collection uses it (the pipeline decides): a resumed run looks up stored ids
while it writes, which needs the shard in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from embedscope.errors import EmbedscopeError
from embedscope.store.edge import EdgeStore
from embedscope.store.points import as_matrix
from embedscope.store.space import MB


class StoreProcessError(EmbedscopeError):
    """The writer process ended without saying why (killed, out of memory)."""


class StoreProcess:
    """``upsert`` and ``close`` for one embedded collection, done by a child process.

    Args:
        store: the parent's embedded store; the collection is lent from it for the run.
        name: the collection (it must exist).
        dimension: its vector dimension.
        batch_size: points per shared buffer (larger upserts are split).
        slots: shared buffers, i.e. batches in flight.
    """

    def __init__(self, store: EdgeStore, name: str, dimension: int, batch_size: int, slots: int = 4) -> None:
        self.name, self.dimension, self.batch_size = name, dimension, batch_size
        self.stored = 0
        self.error: BaseException | None = None
        store.lend(name)
        self.shm = shared_memory.SharedMemory(create=True, size=max(1, slots * batch_size * dimension * 4))
        self.buffers = np.ndarray((slots, batch_size, dimension), np.float32, buffer=self.shm.buf)
        self.free = list(range(slots))
        # spawn, not the decoding workers' forkserver: this process is then the child's parent, so
        # the child dies with it at once (see _die_with_parent) and never holds the lock after it
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve, name="embedscope-store-writer", daemon=True,
            args=(str(store.root), store.reserve / MB, name, self.shm.name, slots, batch_size, dimension, child),
        )
        self.proc.start()
        child.close()

    def _receive(self) -> None:
        """One answer from the child: a stored batch frees its buffer; an error is kept and raised."""
        try:
            kind, *rest = self.conn.recv()
        except (EOFError, OSError):
            kind, rest = "error", [self._gone()]
        if kind == "stored":
            slot, n = rest
            self.free.append(slot)
            self.stored += n
        elif kind == "error":
            self.error = rest[0]
            raise self.error

    def _gone(self) -> StoreProcessError:
        self.proc.join(5)
        return StoreProcessError(
            f"the process writing collection {self.name!r} ended (exit code {self.proc.exitcode}) "
            "before it was done; what it stored is kept: run the same command again to resume")

    def upsert(self, name: str, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict[str, Any]]) -> None:
        """Hand a batch to the child (blocks while every buffer is in flight); raises its first error."""
        if self.error is not None:
            raise self.error
        mat = as_matrix(vectors, self.dimension)
        for start in range(0, len(ids), self.batch_size):
            end = start + self.batch_size
            while not self.free or self.conn.poll():
                self._receive()
            slot = self.free.pop()
            part = mat[start:end]
            self.buffers[slot, :len(part)] = part
            try:
                self.conn.send(("upsert", slot, list(ids[start:end]), len(part), list(payloads[start:end])))
            except OSError:
                self.error = self._gone()
                raise self.error from None

    def close(self) -> None:
        """Wait until everything handed over is stored and the child has closed the collection."""
        try:
            if self.error is None and self.proc.is_alive():
                self.conn.send(("close",))
                while True:
                    answer = self.conn.recv()
                    if answer[0] == "closed":
                        break
                    if answer[0] == "stored":
                        self.free.append(answer[1])
                        self.stored += answer[2]
                    elif answer[0] == "error":
                        self.error = answer[1]
                        break
        except (EOFError, OSError):
            self.error = self.error or self._gone()
        finally:
            self.proc.join(60)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
            self.conn.close()
            del self.buffers
            self.shm.close()
            self.shm.unlink()
        if self.error is not None:
            raise self.error


def _serve(root: str, reserve_mb: float, name: str, shm_name: str, slots: int, batch_size: int, dimension: int,
           conn: Any) -> None:
    """The child: upsert each batch it is sent, answer "stored"; the first error is sent and ends it."""
    import signal

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which closes us in order
    shm = shared_memory.SharedMemory(name=shm_name)
    buffers = np.ndarray((slots, batch_size, dimension), np.float32, buffer=shm.buf)
    store = EdgeStore(root, reserve_mb, lent={name})
    try:
        while True:
            message = conn.recv()
            if message[0] == "close":
                break
            _, slot, ids, n, payloads = message
            store.upsert(name, ids, buffers[slot, :n], payloads)
            conn.send(("stored", slot, len(ids)))
        store.close()
        conn.send(("closed",))
    except BaseException as exc:  # sent to the parent, which raises it
        try:
            store.close()  # what is stored stays stored, with its integrity record
        finally:
            conn.send(("error", exc))
    finally:
        del buffers
        shm.close()


def _die_with_parent() -> None:
    """On Linux, end this process with its parent, as the writer thread did.

    A parent killed outright (SIGKILL) would otherwise leave the child holding the collection's
    lock while it closes, and a run started at once to resume would find the collection busy.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not glibc: the child ends when the pipe closes instead
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
