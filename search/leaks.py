"""Leaks between splits: query-split points whose nearest reference-split point is a near-duplicate.

Exact (``find_leaks``): every query vector is compared with every reference vector (blocked
float32 matrix products), and the rows whose best similarity lies near the threshold are checked
again in float64, so the set of leaked points is the one a float64 brute-force search finds.
Through the index (``leaks_by_index``, for collections too large for that): every query point's
nearest reference point comes from a filtered search of the collection, with the recall of that
search measured on a sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedscope.scratch import block_rows, take
from embedscope.store import Store, Where
from embedscope.store.keys import IdRows

#: Rows whose float32 best similarity is this close to the threshold are recomputed in float64.
RECHECK = 1e-4
#: Query rows per product (each holds ``BLOCK`` × a block of reference rows, 16 MB of them,
#: as float32 similarities).
BLOCK = 512


def _reference_blocks(R: np.ndarray, rows: np.ndarray | None,
                      step: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """The reference vectors a block at a time: rows of ``R`` (all, or those ``rows`` names),
    ``step`` at a time (default: 16 MB of rows; ``R`` may be streamed, embedscope.scratch)."""
    m = len(R) if rows is None else len(rows)
    step = step or block_rows(R)
    for start in range(0, m, step):
        stop = min(m, start + step)
        yield start, (take(R, rows[start:stop]) if rows is not None else np.asarray(R[start:stop]))


def nearest_reference(Q: np.ndarray, R: np.ndarray, block: int = BLOCK,
                      rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The nearest reference row of every query row, by cosine (rows are L2-normalised).

    Args:
        Q: (n, d) query vectors.
        R: (m, d) reference vectors, m ≥ 1; with ``rows``, the matrix they are rows of.
        block: Query rows per matrix product.
        rows: The rows of ``R`` that are the reference (None: every row). The reference is
            read a block at a time, so ``R`` may be streamed and larger than memory.

    Returns:
        ``(index, similarity)``: (n,) int64 reference rows (positions in ``rows`` when given;
        first of equals) and float64 similarities.
    """
    Q = np.asarray(Q, dtype=np.float32)
    index = np.zeros(len(Q), dtype=np.int64)
    best = np.full(len(Q), -np.inf, dtype=np.float32)
    for at, Rb in _reference_blocks(R, rows):
        Rt = np.asarray(Rb, dtype=np.float32).T
        for start in range(0, len(Q), block):
            S = Q[start:start + block] @ Rt
            top = S.argmax(axis=1)
            value = S[np.arange(len(S)), top]
            better = value > best[start:start + block]  # first of equals: an earlier block keeps a tie
            best[start:start + block][better] = value[better]
            index[start:start + block][better] = top[better] + at
    return index, best.astype(np.float64)


def leaked_rows(
    Q: np.ndarray, R: np.ndarray, threshold: float, block: int = BLOCK,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query rows whose nearest reference row is at cosine ≥ ``threshold``, exactly.

    ``R`` and ``rows`` are :func:`nearest_reference`'s: the reference is read a block at a time.

    Returns:
        ``(rows, partners, similarities)``: the leaked query rows (ascending), their nearest
        reference rows and the similarities (float64).
    """
    m = len(R) if rows is None else len(rows)
    if len(Q) == 0 or m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    index, sim = nearest_reference(Q, R, block, rows)
    near = np.flatnonzero(np.abs(sim - threshold) < RECHECK)
    if len(near):  # settle the borderline rows in float64, a block of reference rows at a time
        Qn = np.asarray(Q[near], np.float64)
        best = np.full(len(near), -np.inf)
        for start, Rb in _reference_blocks(R, rows, block * 8):
            S = Qn @ np.asarray(Rb, np.float64).T
            top = S.argmax(axis=1)
            value = S[np.arange(len(near)), top]
            better = value > best  # first of equals: an earlier block keeps a tie
            best[better], index[near[better]] = value[better], top[better] + start
        sim[near] = best
    leaked = np.flatnonzero(sim >= threshold)
    return leaked, index[leaked], sim[leaked]


@dataclass
class Leaks:
    """The leaks of query splits into a reference split, over rows of one vector array."""

    threshold: float
    reference_split: str
    query_splits: list[str]
    #: Rows of the query points (every point of the query splits).
    query_rows: np.ndarray
    #: Leaked query rows, their nearest reference rows and the similarities.
    rows: np.ndarray
    partners: np.ndarray
    similarities: np.ndarray
    #: Searched through the index: how often it found the nearest reference point, measured
    #: on a seeded sample ({sample, of, seed, recall}); None for the exact search.
    recall: dict[str, Any] | None = None

    @property
    def share(self) -> float:
        """Leaked query points / query points (0 without query points)."""
        return len(self.rows) / len(self.query_rows) if len(self.query_rows) else 0.0


def find_leaks(
    X: np.ndarray, splits: Sequence[str | None], threshold: float,
    reference_split: str = "train", query_splits: Sequence[str] | None = None,
    block: int = BLOCK,
) -> Leaks:
    """Every query-split point whose nearest reference-split point is at cosine ≥ ``threshold``.

    Args:
        X: (n, d) L2-normalised vectors.
        splits: The split of each row (None: no split; never a query).
        threshold: Cosine similarity from which a pair is a leak.
        reference_split: The split leaked into (the training split).
        query_splits: The splits checked (None or empty: every split but the reference one).
        block: Query rows per matrix product.

    Returns:
        The leaks, rows indexing ``X``.
    """
    chosen, ref_rows, query_rows = _roles(splits, reference_split, query_splits)
    found, partners, sims = leaked_rows(take(X, query_rows), X, threshold, block, ref_rows)
    return Leaks(threshold, reference_split, chosen, query_rows, query_rows[found],
                 ref_rows[partners], sims)


def _roles(
    splits: Sequence[str | None], reference_split: str, query_splits: Sequence[str] | None,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The query splits present, the reference rows and the query rows."""
    present = sorted({s for s in splits if s})
    chosen = [s for s in (query_splits or present) if s != reference_split]
    wanted = set(chosen)
    ref_rows = np.flatnonzero([s == reference_split for s in splits])
    query_rows = np.flatnonzero([s in wanted for s in splits])
    return [s for s in chosen if s in present], ref_rows, query_rows


def leaks_by_index(
    store: Store, collection: str, X: np.ndarray, ids: Sequence[str],
    splits: Sequence[str | None], threshold: float, reference_split: str = "train",
    query_splits: Sequence[str] | None = None, batch: int = 512, progress: bool = False,
    recall_sample: int = 1000, seed: int = 0,
) -> Leaks:
    """:func:`find_leaks` for a collection too large to compare every query point with every
    reference point: each query point's nearest reference point comes from the collection's
    index (a search filtered to the reference split), and the pair's similarity is recomputed
    in float64 from the vectors. Every query point is checked; a leak is missed only where the
    index misses the nearest reference point: ``Leaks.recall`` is how often it finds it (a
    partner as similar as the exact nearest), on a seeded sample of ``recall_sample`` query
    points."""
    from tqdm import tqdm

    chosen, ref_rows, query_rows = _roles(splits, reference_split, query_splits)
    partner = nearest_by_index(store, collection, X, query_rows, reference_split, IdRows(ids),
                               batch, tqdm(total=len(query_rows), desc="leaks (index)",
                                           unit="pt", disable=not progress, leave=False))
    ok = partner >= 0
    sim = np.full(len(query_rows), -np.inf)
    sim[ok] = _pair_similarities(X, query_rows[ok], partner[ok])
    leaked = np.flatnonzero(sim >= threshold)
    leaks = Leaks(threshold, reference_split, chosen, query_rows, query_rows[leaked],
                  partner[leaked], sim[leaked])
    if len(query_rows) and len(ref_rows):
        pick = np.sort(np.random.default_rng(seed).choice(
            len(query_rows), size=min(recall_sample, len(query_rows)), replace=False))
        _, best = nearest_reference(take(X, query_rows[pick]), X, rows=ref_rows)
        leaks.recall = {"sample": int(len(pick)), "of": int(len(query_rows)), "seed": seed,
                        "recall": round(float(np.mean(sim[pick] >= best - 1e-5)), 4)}
    return leaks


def _pair_similarities(X: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine (dot, float64) of rows ``a[i]`` and ``b[i]`` of ``X``, a block at a time."""
    out = np.empty(len(a), dtype=np.float64)
    step = block_rows(X)  # X may be streamed from a scratch file (embedscope.scratch)
    for start in range(0, len(a), step):
        part = slice(start, start + step)
        out[part] = np.einsum("nd,nd->n", take(X, a[part]).astype(np.float64),
                              take(X, b[part]).astype(np.float64))
    return out


def nearest_by_index(
    store: Store, collection: str, X: np.ndarray, rows: np.ndarray, reference_split: str,
    lookup: IdRows, batch: int = 512, bar: Any = None,
) -> np.ndarray:
    """The row of each ``rows``' nearest reference-split point by the collection's index (-1
    where the index returns none among the read points, whose ids ``lookup`` holds)."""
    where = Where(split=reference_split)
    partner = np.full(len(rows), -1, dtype=np.int64)
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        found = store.query_keys(collection, take(X, part), 1, where=where)
        partner[start + found.query] = lookup.rows(found.keys)
        if bar is not None:
            bar.update(len(part))
    if bar is not None:
        bar.close()
    return partner
