"""Leaks between splits: query-split points whose nearest reference-split point is a near-duplicate.

Exact: every query vector is compared with every reference vector (blocked float32 matrix
products), and the rows whose best similarity lies near the threshold are checked again in
float64, so the set of leaked points is the one a float64 brute-force search finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Rows whose float32 best similarity is this close to the threshold are recomputed in float64.
RECHECK = 1e-4
#: Query rows per block (a block holds ``BLOCK × n_reference`` float32 similarities).
BLOCK = 512


def nearest_reference(Q: np.ndarray, R: np.ndarray, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """The nearest reference row of every query row, by cosine (rows are L2-normalised).

    Args:
        Q: (n, d) query vectors.
        R: (m, d) reference vectors, m ≥ 1.
        block: Query rows per matrix product.

    Returns:
        ``(index, similarity)``: (n,) int64 reference rows (first of equals) and float64
        similarities.
    """
    Q = np.asarray(Q, dtype=np.float32)
    R = np.asarray(R, dtype=np.float32)
    index = np.zeros(len(Q), dtype=np.int64)
    sim = np.zeros(len(Q), dtype=np.float64)
    for start in range(0, len(Q), block):
        S = Q[start:start + block] @ R.T
        best = S.argmax(axis=1)
        index[start:start + block] = best
        sim[start:start + block] = S[np.arange(len(S)), best]
    return index, sim


def leaked_rows(
    Q: np.ndarray, R: np.ndarray, threshold: float, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query rows whose nearest reference row is at cosine ≥ ``threshold``, exactly.

    Returns:
        ``(rows, partners, similarities)``: the leaked query rows (ascending), their nearest
        reference rows and the similarities (float64).
    """
    if len(Q) == 0 or len(R) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    index, sim = nearest_reference(Q, R, block)
    near = np.flatnonzero(np.abs(sim - threshold) < RECHECK)
    if len(near):  # settle the borderline rows in float64
        S = np.asarray(Q[near], np.float64) @ np.asarray(R, np.float64).T
        index[near] = S.argmax(axis=1)
        sim[near] = S[np.arange(len(near)), index[near]]
    rows = np.flatnonzero(sim >= threshold)
    return rows, index[rows], sim[rows]


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
    present = sorted({s for s in splits if s})
    chosen = [s for s in (query_splits or present) if s != reference_split]
    wanted = set(chosen)
    ref_rows = np.flatnonzero([s == reference_split for s in splits])
    query_rows = np.flatnonzero([s in wanted for s in splits])
    found, partners, sims = leaked_rows(X[query_rows], X[ref_rows], threshold, block)
    return Leaks(threshold, reference_split, [s for s in chosen if s in present], query_rows,
                 query_rows[found], ref_rows[partners], sims)
