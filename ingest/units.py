"""Whole input units (parquet row groups, WebDataset tars, image files) and which a shard reads.

A unit is a piece of a split that can be read alone and knows where its rows sit in the split
(``start``: the global row index of its first row, from parquet footers or a tar header scan),
so a shard reads only its own units and its points keep the ids and row indices a single run
gives them. ``--shard i/N`` gives shard i a contiguous run of units, balanced by rows; where a
split has fewer units than shards, its rows are split instead (each shard reads the units its
rows touch).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """A readable piece of a split: a file (``part`` −1: a tar, an image) or a parquet row group."""

    url: str
    part: int
    start: int  # global row index (within the split) of the unit's first row
    rows: int


@dataclass(frozen=True)
class Piece:
    """The rows ``lo`` … ``hi``−1 (global indices) of ``unit`` that one shard reads."""

    unit: Unit
    lo: int
    hi: int


def plan(units: list[Unit], shard: tuple[int, int], stop: int | None = None,
         split: str = "") -> list[Piece]:
    """Shard ``shard[0]`` of ``shard[1]``'s pieces of ``units``, only rows below ``stop``.

    Whole units go to the shard holding their middle row (contiguous runs, balanced by rows);
    with fewer units than shards, each shard takes an equal run of rows instead (logged once).
    """
    index, count = shard
    clipped = [Unit(u.url, u.part, u.start, u.rows if stop is None else min(u.rows, stop - u.start))
               for u in units]
    clipped = [u for u in clipped if u.rows > 0]
    total = sum(u.rows for u in clipped)
    if not clipped:
        return []
    if len(clipped) >= count:
        return [Piece(u, u.start, u.start + u.rows) for u in clipped
                if min(count - 1, (2 * u.start + u.rows) * count // (2 * total)) == index]
    log.warning("%s: %d input unit(s) for %d shards; splitting their rows instead (a shard reads "
                "every unit its rows touch)", split or "split", len(clipped), count)
    lo, hi = index * total // count, (index + 1) * total // count
    return [Piece(u, max(lo, u.start), min(hi, u.start + u.rows)) for u in clipped
            if max(lo, u.start) < min(hi, u.start + u.rows)]


# ---- parquet ----------------------------------------------------------------------------------


def _open(url: str) -> Any:
    if "://" not in url:
        return open(url, "rb")  # noqa: SIM115 (closed by the callers)
    import fsspec

    return fsspec.open(url, "rb").open()


def parquet_metadata(url: str) -> Any:
    """A parquet file's footer, reading only its bytes (Arrow's own read takes the last 64 KiB).

    The planning shards read every file's footer; on small files Arrow's speculative 64 KiB
    would be a good part of the file. The footer bytes, behind a magic number, parse alone.
    Footers are kept for the run (a local file's by its size and time, so a rewrite is seen).
    """
    version = None
    if "://" not in url:
        st = os.stat(url)
        version = (st.st_size, st.st_mtime_ns)
    return _footer(url, version)


@functools.lru_cache(maxsize=65_536)
def _footer(url: str, version: tuple[int, int] | None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _open(url) as fh:
        fh.seek(0, 2)
        size = fh.tell()
        if size < 12:
            raise OSError(f"{url}: {size} bytes is too short for a parquet file")
        fh.seek(size - 8)
        tail = fh.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length + 12 > size:
            raise OSError(f"{url}: not a parquet file (no PAR1 footer)")
        fh.seek(size - 8 - length)
        footer = fh.read(length)
    return pq.read_metadata(pa.BufferReader(b"PAR1" + footer + tail))


def parquet_units(files: list[str]) -> list[Unit]:
    """Every row group of ``files`` in order, with its global start row (footer reads only)."""
    out: list[Unit] = []
    start = 0
    for url in files:
        meta = parquet_metadata(url)
        for rg in range(meta.num_row_groups):
            rows = meta.row_group(rg).num_rows
            out.append(Unit(url, rg, start, rows))
            start += rows
    return out


def parquet_rows(piece: Piece, columns: list[str], batch: int) -> Iterator[tuple[int, dict[str, list[Any]]]]:
    """``(first global row, columns as lists)`` for the piece's rows, ``batch`` rows at a time."""
    import pyarrow.parquet as pq

    with _open(piece.unit.url) as fh:
        pf = pq.ParquetFile(fh, metadata=parquet_metadata(piece.unit.url), pre_buffer=False)
        pos = piece.unit.start
        for record in pf.iter_batches(batch_size=batch, row_groups=[piece.unit.part], columns=columns):
            n = record.num_rows
            a, b = max(piece.lo, pos), min(piece.hi, pos + n)
            if a < b:
                yield a, record.slice(a - pos, b - a).to_pydict()
            pos += n
            if pos >= piece.hi:
                break


# ---- WebDataset -------------------------------------------------------------------------------


def tar_units(files: list[str]) -> list[Unit]:
    """Every tar of ``files`` with its global start row, from a header scan (labels only)."""
    from embedscope.ingest.webdataset import samples

    out: list[Unit] = []
    start = 0
    for url in files:
        rows = sum(1 for _ in samples(url, labels_only=True))
        out.append(Unit(url, -1, start, rows))
        start += rows
    return out
