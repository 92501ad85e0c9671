"""Compiled loops for the sampled map-quality figures: one pass over all N points per sampled row.

The silhouette of a 2-D map needs, for each sampled row, the sum of its Euclidean distances to
the points of every cluster of every labeling; trustworthiness needs, for each sampled row, how
many points lie closer (in the original space) than each of its map neighbours. As numpy
expressions both allocate and traverse a rows × N block several times (and the silhouette
multiplies it by an N × clusters indicator): 130 s a map at a million points. Here each block is
read once, in parallel over the rows (numba; compiled once, then cached on disk).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_compiled: dict[str, Any] = {}


def _kernels() -> dict[str, Any]:
    """The compiled functions (numba loads and compiles on first use only)."""
    if _compiled:
        return _compiled
    from numba import njit, prange

    def compiled(function: Any) -> Any:
        """Parallel and cached on disk; uncached where no cache folder is writable (numba
        refuses to cache then, e.g. a read-only install without a writable home)."""
        try:
            return njit(parallel=True, cache=True)(function)
        except RuntimeError:
            return njit(parallel=True)(function)

    @compiled
    def distance_sums(Y: Any, rows: Any, codes: Any, ncols: int) -> Any:  # pragma: no cover
        out = np.zeros((rows.shape[0], ncols))
        for a in prange(rows.shape[0]):
            y0, y1 = Y[rows[a], 0], Y[rows[a], 1]
            acc = out[a]
            for j in range(Y.shape[0]):
                dx, dy = Y[j, 0] - y0, Y[j, 1] - y1
                d = np.sqrt(dx * dx + dy * dy)
                for c in codes[j]:
                    if c >= 0:
                        acc[c] += d
        return out

    @compiled
    def rank_penalty(sim: Any, rows: Any, nbr: Any) -> Any:  # pragma: no cover
        k = nbr.shape[1]
        per_row = np.zeros(sim.shape[0], dtype=np.int64)
        for a in prange(sim.shape[0]):
            row = sim[a]
            limit = np.empty(k, dtype=np.float32)
            for c in range(k):
                limit[c] = min(max(np.float32(1.0) - row[nbr[a, c]], np.float32(0.0)),
                               np.float32(2.0))
            farthest = limit.max()
            closer = np.zeros(k, dtype=np.int64)
            for j in range(row.shape[0]):
                d = min(max(np.float32(1.0) - row[j], np.float32(0.0)), np.float32(2.0))
                if d >= farthest or j == rows[a]:  # most points: closer than no neighbour
                    continue
                for c in range(k):
                    if d < limit[c]:
                        closer[c] += 1
            for c in range(k):
                per_row[a] += max(0, 1 + closer[c] - k)
        return per_row

    _compiled.update(distance_sums=distance_sums, rank_penalty=rank_penalty)
    return _compiled


def distance_sums(Y: np.ndarray, rows: np.ndarray, codes: np.ndarray, ncols: int) -> np.ndarray:
    """For each of ``rows``, the sum of its Euclidean distances (2-D map ``Y``) to the points of
    each column: ``codes[j]`` lists point j's column in each labeling (-1: none).

    Returns:
        len(rows) × ncols float64 sums; the row itself adds 0, as in scikit-learn.
    """
    return np.asarray(_kernels()["distance_sums"](
        np.ascontiguousarray(Y, dtype=np.float64), np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(codes, dtype=np.int64), int(ncols)))


def rank_penalty(sim: np.ndarray, rows: np.ndarray, nbr: np.ndarray) -> np.ndarray:
    """Trustworthiness's penalty of each row of a block of cosine similarities.

    ``sim[a]`` holds row ``rows[a]``'s similarity to every point and ``nbr[a]`` its k map
    neighbours. With the cosine distance ``clip(1 - sim, 0, 2)`` (float32, as computed), a
    neighbour's rank is 1 + the number of other points strictly closer, and the row's penalty is
    the sum over its neighbours of max(0, rank - k) (scikit-learn's trustworthiness).
    """
    return np.asarray(_kernels()["rank_penalty"](
        np.ascontiguousarray(sim, dtype=np.float32), np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(nbr, dtype=np.int64)))
