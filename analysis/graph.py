"""One exact k-NN graph (cosine) shared by every stage that needs neighbours.

The graph is built by blocked matrix products of the unit vectors (cosine = dot), float32, with
torch on the chosen device. Each block of the upper triangle is computed once and serves both its
rows and its columns, so the work is n²·d (half the full product) and only one block of
``block × block`` similarities exists at a time. The same pass collects near-duplicate pairs.

Users of the graph: UMAP (``precomputed_knn``), k-NN accuracy and the per-point k-NN fields,
label errors, near-duplicates and trustworthiness (rows whose map neighbours are all among their
graph neighbours contribute nothing, so only the others need a full row of similarities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from embedscope.analysis.data import normalize
from embedscope.analysis.device import tensor
from embedscope.scratch import block_rows, row_blocks, spilled, take

#: Rows per block of the blocked product (block × block float32 similarities at a time).
BLOCK_ROWS = 4096


@dataclass
class Neighbours:
    """The k nearest neighbours of every point (cosine, self excluded) and near-duplicate pairs."""

    index: np.ndarray  # n × k, nearest first (ties: smaller index first)
    sim: np.ndarray  # n × k cosine similarities
    dup_pairs: np.ndarray  # m × 2 (i < j), most similar first, at most max_pairs
    dup_sims: np.ndarray  # m
    dup_total: int  # pairs above the threshold, including those not kept

    def distances(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """umap-learn's ``precomputed_knn`` for n_neighbors = ``k``: (indices int32, cosine
        distances float32), each point first (distance 0) and then its k - 1 nearest others,
        as umap-learn's own nearest-neighbour search returns them.
        """
        n = len(self.index)
        idx = np.empty((n, k), dtype=np.int32)
        dist = np.zeros((n, k), dtype=np.float32)
        idx[:, 0] = np.arange(n)
        idx[:, 1:] = self.index[:, :k - 1]
        dist[:, 1:] = np.clip(1.0 - self.sim[:, :k - 1], 0.0, 2.0)
        return idx, dist


def _merge(run_sim: Any, run_idx: Any, new_sim: Any, new_idx: Any, k: int) -> tuple[Any, Any]:
    """Top-k of two candidate lists per row, by similarity then smaller index (deterministic)."""
    import torch

    sim = torch.cat([run_sim, new_sim], dim=1)
    idx = torch.cat([run_idx, new_idx], dim=1)
    order = torch.argsort(idx, dim=1, stable=True)
    sim, idx = sim.gather(1, order), idx.gather(1, order)
    order = torch.argsort(sim, dim=1, descending=True, stable=True)[:, :k]
    return sim.gather(1, order), idx.gather(1, order)


def knn_graph(
    X: np.ndarray, k: int, dup_threshold: float = 1.1, max_pairs: int = 200,
    device: str = "cpu", block: int = BLOCK_ROWS, progress: bool = False,
) -> Neighbours:
    """Exact top-``k`` cosine neighbours of every row (self excluded) and pairs ≥ threshold.

    Args:
        X: n × d vectors (normalised here; stored vectors already are).
        k: Neighbours per point (capped at n - 1).
        dup_threshold: Cosine similarity from which two points are near-duplicates
            (above 1: none collected).
        max_pairs: Most similar pairs kept (the total is counted regardless).
        device: ``cpu`` or ``cuda`` (torch).
        block: Rows per block; memory holds about 3 blocks × block float32 values.
        progress: Show a progress bar.

    Returns:
        The graph and the near-duplicate pairs.
    """
    import torch
    from tqdm import tqdm

    Xn = normalize(X)
    n = len(Xn)
    k = max(0, min(k, n - 1))
    T = tensor(Xn, device)
    big = torch.iinfo(torch.int64).max
    run_sim = torch.full((n, k), -torch.inf, device=device)
    run_idx = torch.full((n, k), big, dtype=torch.int64, device=device)
    pairs: list[np.ndarray] = []
    psims: list[np.ndarray] = []
    total = 0
    starts = list(range(0, n, block))
    bar = tqdm(total=len(starts) * (len(starts) + 1) // 2, desc="k-NN graph",
               disable=not progress, leave=False)
    with torch.no_grad():
        for bi, i0 in enumerate(starts):
            i1 = min(n, i0 + block)
            for j0 in starts[bi:]:
                j1 = min(n, j0 + block)
                sims = T[i0:i1] @ T[j0:j1].T
                if i0 == j0:
                    sims.fill_diagonal_(-torch.inf)
                if k:
                    kk = min(k, j1 - j0)
                    v_row, c = torch.topk(sims, kk, dim=1)
                    run_sim[i0:i1], run_idx[i0:i1] = _merge(
                        run_sim[i0:i1], run_idx[i0:i1], v_row, c + j0, k)
                    if i0 != j0:
                        # top-k down the columns on a transposed copy: a contiguous top-k is
                        # several times faster than one along the strided dimension.
                        kk = min(k, i1 - i0)
                        v, c = torch.topk(sims.T.contiguous(), kk, dim=1)
                        run_sim[j0:j1], run_idx[j0:j1] = _merge(
                            run_sim[j0:j1], run_idx[j0:j1], v, c + i0, k)
                if dup_threshold <= 1.0:
                    # Only rows whose best similarity in this block reaches the threshold can
                    # hold a pair: a full-block comparison costs as much as the top-k itself.
                    best = v_row[:, 0] if k else sims.max(dim=1).values
                    cand = (best >= dup_threshold).nonzero().flatten()
                    if len(cand):
                        hit = sims[cand] >= dup_threshold
                        if i0 == j0:
                            hit &= cand[:, None] < torch.arange(j1 - j0, device=device)[None, :]
                        ij = hit.nonzero()
                        ij[:, 0] = cand[ij[:, 0]]
                        total += len(ij)
                        pairs.append((ij + torch.tensor([i0, j0], device=device)).cpu().numpy())
                        psims.append(sims[ij[:, 0], ij[:, 1]].cpu().numpy())
                        if sum(len(p) for p in pairs) > 10 * max_pairs:
                            pairs, psims = _top_pairs(pairs, psims, max_pairs)
                bar.update(1)
    bar.close()
    pairs, psims = _top_pairs(pairs, psims, max_pairs)
    return Neighbours(run_idx.cpu().numpy(), run_sim.cpu().numpy().astype(np.float32),
                      pairs[0], psims[0], total)


def _top_pairs(
    pairs: list[np.ndarray], sims: list[np.ndarray], keep: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if not pairs:
        return [np.zeros((0, 2), np.int64)], [np.zeros(0, np.float32)]
    p, s = np.vstack(pairs).astype(np.int64), np.concatenate(sims).astype(np.float32)
    order = np.lexsort((p[:, 1], p[:, 0], -s))[:keep]
    return [p[order]], [s[order]]


#: Most similarities one block of queries against every reference row may hold (512 MiB float32).
BLOCK_VALUES = 2**27


def bounded_block(block: int, reference_rows: int) -> int:
    """Query rows per block so that a block × reference similarities fit in BLOCK_VALUES (a
    4,096-row block against a million points would be 16 GB)."""
    return max(1, min(block, BLOCK_VALUES // max(1, reference_rows)))


#: Rows per block of :func:`rows_similarities` on streamed vectors (at least; each block reads
#: every vector once).
STREAMED_ROWS = 64


def rows_similarities(
    X: np.ndarray, rows: np.ndarray, device: str = "cpu", block: int = 1024
) -> Any:
    """Yield ``(rows_block, similarities to every point)`` for the given rows, block by block.

    Vectors streamed from a scratch file are read a block of reference rows at a time.
    """
    import torch

    if spilled(X):  # each block of rows reads every vector once: fewer, larger blocks
        block = bounded_block(max(block, STREAMED_ROWS), len(X))
        with torch.no_grad():
            for start in range(0, len(rows), block):
                part = rows[start:start + block]
                Q = tensor(take(X, part), device)
                S = torch.empty((len(part), len(X)), dtype=torch.float32, device=device)
                for at, R in row_blocks(X):
                    S[:, at:at + len(R)] = Q @ tensor(R, device).T
                yield part, S
        return
    block = bounded_block(block, len(X))
    T = tensor(normalize(X), device)
    with torch.no_grad():
        for start in range(0, len(rows), block):
            part = rows[start:start + block]
            yield part, T[torch.as_tensor(part, device=device)] @ T.T


def knn_to(
    queries: np.ndarray, reference: np.ndarray, k: int, device: str = "cpu",
    block: int = BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosine neighbours in ``reference`` of each query (indices, similarities).

    A reference streamed from a scratch file is read a block of rows at a time, each block's
    candidates merged into the running top ``k`` (most similar first, ties: smaller index).
    """
    import torch

    k = min(k, len(reference))
    if spilled(reference):
        return _knn_to_streamed(queries, reference, k, device, block)
    R = tensor(normalize(reference), device)
    block = bounded_block(block, len(reference))
    idx, sim = [], []
    with torch.no_grad():
        for start in range(0, len(queries), block):
            Q = tensor(normalize(queries[start:start + block]), device)
            v, c = torch.topk(Q @ R.T, k, dim=1)
            idx.append(c.cpu().numpy())
            sim.append(v.cpu().numpy())
    return np.vstack(idx), np.vstack(sim)


def _knn_to_streamed(
    queries: np.ndarray, reference: np.ndarray, k: int, device: str, block: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`knn_to` against a reference read from its scratch file once per query block."""
    import torch

    block = bounded_block(block, block_rows(reference))
    idx, sim = [], []
    with torch.no_grad():
        for start in range(0, len(queries), block):
            Q = tensor(normalize(take(queries, np.arange(start, min(start + block,
                                                                     len(queries))))), device)
            best_sim = torch.full((len(Q), 0), -torch.inf, device=device)
            best_idx = torch.zeros((len(Q), 0), dtype=torch.int64, device=device)
            for at, R in row_blocks(reference):
                v, c = torch.topk(Q @ tensor(R, device).T, min(k, len(R)), dim=1)
                best_sim, best_idx = _merge(best_sim, best_idx, v, c + at, k)
            idx.append(best_idx.cpu().numpy())
            sim.append(best_sim.cpu().numpy())
    return np.vstack(idx), np.vstack(sim)


def approximate_graph(
    X: np.ndarray, k: int, dup_threshold: float = 1.1, max_pairs: int = 200, seed: int = 0,
) -> Neighbours:
    """Approximate top-``k`` cosine neighbours by NN-descent (pynndescent, seeded).

    What umap-learn builds for itself: seconds instead of n²·d, at a recall that depends on the
    data (``graph_recall`` measures it). Near-duplicate pairs are those found among the
    neighbours, so ``dup_total`` is a lower bound.
    """
    from pynndescent import NNDescent

    Xn = normalize(X)
    n = len(Xn)
    k = max(0, min(k, n - 1))
    found, dist = NNDescent(Xn, metric="cosine", n_neighbors=min(n, k + 1), random_state=seed,
                            n_jobs=1, low_memory=True).neighbor_graph
    found = found.astype(np.int64)
    s = (1.0 - dist).astype(np.float32)
    s[(found == np.arange(n)[:, None]) | (found < 0)] = -np.inf  # self and unfilled slots last
    order = np.lexsort((found, -s), axis=1)[:, :k]  # most similar first, ties: smaller index
    index = np.take_along_axis(found, order, axis=1)
    sim = np.take_along_axis(s, order, axis=1)
    short = np.flatnonzero(np.isinf(sim).any(axis=1))  # rows NN-descent left short (rare)
    if len(short):
        found, near = knn_to(Xn[short], Xn, k + 1)
        for row, i in enumerate(short):
            keep = found[row] != i
            index[i], sim[i] = found[row][keep][:k], near[row][keep][:k]
    return neighbours_with_pairs(index, sim, dup_threshold, max_pairs)


def neighbours_with_pairs(
    index: np.ndarray, sim: np.ndarray, dup_threshold: float, max_pairs: int
) -> Neighbours:
    """A graph found by search (NN-descent, the collection's index) and the near-duplicate pairs
    among its neighbours: ``dup_total`` counts those, a lower bound of all pairs."""
    hit = (sim >= dup_threshold) & (index >= 0)
    both = np.stack([np.nonzero(hit)[0], index[hit]], axis=1)
    both.sort(axis=1)  # (i, j) and (j, i) are one pair
    pairs, first = np.unique(both, axis=0, return_index=True)
    kept, sims = _top_pairs([pairs] if len(pairs) else [], [sim[hit][first]], max_pairs)
    return Neighbours(index, sim, kept[0], sims[0], len(pairs))


def graph_recall(X: np.ndarray, nb: Neighbours, sample: int = 1000, seed: int = 0) -> float:
    """Mean share of each row's exact k nearest neighbours that the graph holds, on a seeded
    sample of rows (each row's exact neighbours are a row of similarities: cheap)."""
    n, k = nb.index.shape
    if k == 0:
        return 1.0
    rows = np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False)
    idx, _ = knn_to(take(X, rows), X, k + 1)
    hits = 0
    for r, exact in zip(rows, idx, strict=True):
        exact = exact[exact != r][:k]
        hits += len(np.intersect1d(exact, nb.index[r]))
    return hits / (len(rows) * k)
