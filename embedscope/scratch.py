"""The analysed vectors outside the process's memory: a scratch file read in blocks.

From ``--stream-from`` points on, ``fetch`` writes the vectors it reads from the store once,
unit rows in float32, into a file under ``--scratch-dir`` and hands the analysis a read-only
array mapped from it. Every stage reads it in row blocks (:func:`row_blocks`, :func:`take`) and
gives each block's pages back as soon as it is done with them (:func:`release`), so the analysis
holds its samples, its per-point results and one block at a time: not N vectors (1.5 GB at a
million 384-d points, 30 GB at ten million 768-d ones). The pages stay in the system's file
cache, which the kernel reclaims under pressure, so a later pass reads them at memory speed
while they fit and from disk when they do not.

The file is unlinked as soon as it is mapped: nothing is left behind, even after a crash, and
its disk space returns when the array goes.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

#: Values a block of a pass over the rows holds (16 MB of float32; see row_blocks).
BLOCK_VALUES = 1 << 22


#: Rows :func:`take` copies between two releases (at most; see take). A read of one row maps
#: the file's cached pages around it too: the kernel's fault-around (64 KiB), or the whole
#: large folio holding it (2 MiB) where the file system caches the file in large folios.
TAKE_ROWS = 256


def block_rows(X: np.ndarray, values: int = BLOCK_VALUES) -> int:
    """Rows of ``X`` per block so that a block holds at most ``values`` values."""
    return max(1, values // max(1, int(np.prod(X.shape[1:]))))


def _root(X: np.ndarray) -> tuple[np.ndarray, mmap.mmap] | None:
    """The array mapped from a scratch file that ``X`` views, and its mapping (None: ``X`` is
    in memory)."""
    root = X
    while isinstance(root.base, np.ndarray):
        root = root.base
    base = root.base.obj if isinstance(root.base, memoryview) else root.base
    if isinstance(base, mmap.mmap):
        return root, base
    return None


def spilled(X: np.ndarray) -> bool:
    """Whether ``X`` (or the array it views) is mapped from a scratch file."""
    return isinstance(X, np.ndarray) and _root(X) is not None


def release(X: np.ndarray, start: int = 0, stop: int | None = None) -> None:
    """Give back the resident pages of rows ``start:stop`` of ``X`` (all rows by default).

    The data stays in the file (and the system's file cache): the next read maps it again. An
    array in memory is left alone.
    """
    found = _root(X) if isinstance(X, np.ndarray) else None
    if found is None or not hasattr(mmap, "MADV_DONTNEED") or not len(X):
        return
    root, mapping = found
    stop = len(X) if stop is None else min(stop, len(X))
    if stop <= start:
        return
    row = X.strides[0]
    first = X.ctypes.data - root.ctypes.data + start * row
    last = first + (stop - start) * row
    page = mmap.PAGESIZE
    begin = first - first % page
    end = min(len(mapping), -(-last // page) * page)
    if end > begin:
        mapping.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def row_blocks(X: np.ndarray, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, X[start:start + rows])`` block by block, each block's pages given back once the
    caller moves on (a copy is needed to keep a block)."""
    rows = rows or block_rows(X)
    for start in range(0, len(X), rows):
        part = X[start:start + rows]
        yield start, part
        release(part)


def take(X: np.ndarray, rows: np.ndarray | Iterable[int]) -> np.ndarray:
    """``X[rows]`` as an array in memory (rows in any order), the pages read given back."""
    rows = np.asarray(rows, dtype=np.int64)
    if not spilled(X):
        return np.asarray(X[rows])
    out = np.empty((len(rows), *X.shape[1:]), dtype=X.dtype)
    # The rows are read in file order, between two releases at most TAKE_ROWS of them and all
    # within one block's span: a read maps the pages around a row too (up to 2 MiB), so a few
    # hundred scattered rows would hold much of the file at once.
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    span = block_rows(X)
    step = min(span, TAKE_ROWS)
    start = 0
    while start < len(rows):
        first = int(ordered[start])
        stop = min(start + step, int(np.searchsorted(ordered, first + span)))
        part = order[start:stop]
        out[part] = X[ordered[start:stop]]
        release(X, first, int(ordered[stop - 1]) + 1)
        start = stop
    return out


class ScratchWriter:
    """Rows appended to a scratch file, then mapped read-only (:meth:`array`).

    Args:
        dim: Values per row.
        directory: Where the file goes (None: the system's temporary directory).
        dtype: The rows' type.
    """

    def __init__(self, dim: int, directory: Path | str | None = None,
                 dtype: np.dtype | type = np.float32) -> None:
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="embedscope-vectors-", suffix=".bin",
                                    dir=None if directory is None else str(directory))
        self.path = Path(name)
        self._file = os.fdopen(fd, "w+b")
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.rows = 0

    def append(self, block: np.ndarray) -> None:
        """Write rows (n × dim) after those written so far."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.dim:
            raise ValueError(f"rows of {self.dim} values expected, got shape {block.shape}")
        self._file.write(block.tobytes() if not block.flags.c_contiguous else block.data)
        self.rows += len(block)

    def array(self) -> np.ndarray:
        """The rows written, mapped read-only; the file is unlinked (its space returns when the
        array and every view of it go)."""
        try:
            self._file.flush()
            if self.rows == 0:
                return np.empty((0, self.dim), dtype=self.dtype)
            mapping = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            return np.frombuffer(mapping, dtype=self.dtype).reshape(self.rows, self.dim)
        finally:
            self.close()

    def close(self) -> None:
        """Close and remove the file (a mapping made by :meth:`array` stays valid)."""
        self._file.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except PermissionError:  # Windows refuses to remove an open file: it stays in the directory
            pass


def spill(X: np.ndarray, rows: np.ndarray | None = None, directory: Path | str | None = None,
          ) -> np.ndarray:
    """``X[rows]`` (all rows by default) written to a new scratch file and mapped, block by
    block (the source's pages given back as it goes)."""
    rows = np.arange(len(X)) if rows is None else np.asarray(rows, dtype=np.int64)
    out = ScratchWriter(int(np.prod(X.shape[1:])), directory, X.dtype)
    try:
        step = block_rows(X)
        for start in range(0, len(rows), step):
            out.append(take(X, rows[start:start + step]).reshape(-1, out.dim))
    except BaseException:
        out.close()
        raise
    return out.array().reshape(len(rows), *X.shape[1:])


def on_tmpfs(directory: Path | str | None) -> bool:
    """Whether ``directory`` (None: the system's temporary directory) lies on a memory-backed
    file system (tmpfs, ramfs), where a scratch file would hold the vectors in memory after
    all. False where the platform cannot tell."""
    path = os.path.realpath(str(directory) if directory is not None else tempfile.gettempdir())
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            mounts = [line.split()[1:3] for line in fh if len(line.split()) > 2]
    except OSError:
        return False
    best, kind = "", ""
    for point, fs in mounts:
        point = point.replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fs
    return kind in ("tmpfs", "ramfs")
