"""Which rows of a streamed source an ingest takes: ``--limit``, ``--sample N --seed S``, ``--shard i/N``.

Each applies per split and keeps the meaning it had when whole datasets were listed up front:
``--limit`` is the first N rows; ``--sample`` is a stratified random N drawn from the label
column alone (one cheap pass where the format allows: parquet column reads, WebDataset header
scans, image-folder paths), then the rows are streamed and the chosen ones kept. ``--shard i/N``
reads only shard i's whole input units (parquet row groups, WebDataset tars, image files:
`units`), so N jobs read the dataset once between them; sources without units (``save_to_disk``,
image folders with metadata files, non-parquet hub datasets) are streamed whole and keep the
points whose id falls in shard i.
Either way N jobs split any selection disjointly and the points keep a single run's ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from embedscope.ingest.items import Item
from embedscope.ingest.sharding import shard_of
from embedscope.ingest.sources import Dataset
from embedscope.ingest.units import Piece, plan

log = logging.getLogger(__name__)
Plan = tuple[str, int | None, "np.ndarray | None", "list[Piece] | None"]  # split, stop, keep, pieces


@dataclass
class Selection:
    """The chosen items, streamed in chunks, and how many to expect (None: unknown)."""

    chunks: Iterator[list[Item]]
    total: int | None


def _rows(ds: Dataset, split: str) -> int:
    """A split's row count: cheap where the format says, else one pass over the rows."""
    n = ds.count(split)
    if n is None and ds.read_labels is not None:
        n = len(ds.read_labels(split))
    return n if n is not None else sum(len(chunk) for chunk in ds.read(split))


def stratified(labels: np.ndarray | None, n: int, size: int, seed: int) -> np.ndarray:
    """``size`` sorted row indices out of ``n``, each label keeping its share (plain random when unlabelled)."""
    rng = np.random.default_rng(seed)
    if labels is None or (labels < 0).any():
        return np.sort(rng.choice(n, size=size, replace=False))
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    try:
        chosen, _ = train_test_split(idx, train_size=size, stratify=labels, random_state=seed)
    except ValueError:  # a class too small to stratify: a plain random sample
        chosen = rng.choice(n, size=size, replace=False)
    return np.sort(chosen)


def select(ds: Dataset, limit: int | None = None, sample: int | None = None, seed: int = 0,
           shard: tuple[int, int] | None = None) -> Selection:
    """Plan the selection (the sample's label pass runs here) and return it as a stream."""
    plans, total, row_filter = plan_splits(ds, limit, sample, seed, shard)
    return Selection(stream(ds, plans, row_filter), total)


def plan_splits(ds: Dataset, limit: int | None = None, sample: int | None = None, seed: int = 0,
                shard: tuple[int, int] | None = None
                ) -> tuple[list[Plan], int | None, tuple[int, int] | None]:
    """Each split's plan, the expected total, and the shard to filter point ids by (no units)."""
    plans: list[Plan] = []
    total: int | None = 0
    by_units = shard is not None and ds.units is not None and ds.read_pieces is not None
    if shard is not None and not by_units and shard[1] > 1:
        log.warning("--shard %d/%d: this %s source has no separately readable units; every shard "
                    "reads all of it and keeps its points", shard[0], shard[1], ds.kind)
    for split in ds.splits:
        stop, keep = limit, None
        expected: int | None = None
        if sample is not None:
            labels = ds.read_labels(split) if ds.read_labels is not None else None
            if labels is not None and (labels < 0).all():
                labels = None
            n = len(labels) if labels is not None else _rows(ds, split)
            if sample < n:
                chosen = stratified(labels, n, sample, seed)
                keep = np.zeros(n, dtype=bool)
                keep[chosen] = True
                stop, expected = int(chosen[-1]) + 1, sample
            else:
                expected = min(n, limit) if limit else n
        else:
            rows = ds.count(split)
            expected = None if rows is None else (min(rows, limit) if limit else rows)
        pieces = None
        if by_units and shard is not None and ds.units is not None:
            pieces = plan(ds.units(split), shard, stop, split)
            if keep is not None:  # a sample: units without a chosen row are not read at all
                pieces = [p for p in pieces if keep[p.lo:p.hi].any()]
            expected = sum(p.hi - p.lo if keep is None else int(keep[p.lo:p.hi].sum()) for p in pieces)
        if expected is None and limit is None:
            total = None
        elif total is not None:
            total += expected if expected is not None else limit or 0
        plans.append((split, stop, keep, pieces))
    if total is not None and shard is not None and not by_units:
        total = -(-total // shard[1])
    return plans, total, None if by_units else shard


def stream(ds: Dataset, plans: list[Plan], shard: tuple[int, int] | None) -> Iterator[list[Item]]:
    """The plans' chunks; ``shard`` (sources without units) filters by point id."""
    for split, stop, keep, pieces in plans:
        reader = ds.read(split) if pieces is None or ds.read_pieces is None else ds.read_pieces(split, pieces)
        try:
            for chunk in reader:
                done = stop is not None and chunk and chunk[-1].index + 1 >= stop
                if stop is not None:
                    chunk = [it for it in chunk if it.index < stop]
                if keep is not None:
                    chunk = [it for it in chunk if keep[it.index]]
                if shard is not None:
                    chunk = [it for it in chunk if shard_of(it.point_id, shard[1]) == shard[0]]
                if chunk:
                    yield chunk
                if done:
                    break
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()
