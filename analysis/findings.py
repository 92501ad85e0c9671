"""Lists people ask for: likely label errors (k-NN vote disagrees) and near-duplicate pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedscope.analysis.data import normalize


@dataclass
class Neighbours:
    """The k nearest neighbours of every point (cosine, self excluded) and near-duplicate pairs."""

    index: np.ndarray  # n × k, nearest first
    sim: np.ndarray  # n × k cosine similarities
    dup_pairs: np.ndarray  # m × 2 (i < j), most similar first, at most max_pairs
    dup_sims: np.ndarray  # m
    dup_total: int  # pairs above the threshold, including those not kept


def neighbour_pass(
    X: np.ndarray, k: int, dup_threshold: float, max_pairs: int = 200, chunk: int = 1024,
    progress: bool = False,
) -> Neighbours:
    """One chunked pass over the cosine similarities: top-k neighbours and pairs ≥ threshold.

    Only a chunk × n block of similarities exists at a time (float32).
    """
    from tqdm import tqdm

    Xn = normalize(X)
    n = len(Xn)
    k = min(k, n - 1)
    idx = np.zeros((n, k), dtype=np.int64)
    sims = np.zeros((n, k), dtype=np.float32)
    pairs: list[np.ndarray] = []
    psims: list[np.ndarray] = []
    total = 0
    rows = int(max(1, min(chunk, (1 << 25) // max(1, n))))
    bar = tqdm(total=n, desc="k-NN and duplicates", disable=not progress, leave=False)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        block = Xn[start:stop] @ Xn.T
        local = np.arange(stop - start)
        block[local, local + start] = -np.inf
        if k > 0:
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
            top_sim = np.take_along_axis(block, top, axis=1)
            order = np.lexsort((top, -top_sim), axis=1)
            idx[start:stop] = np.take_along_axis(top, order, axis=1)
            sims[start:stop] = np.take_along_axis(top_sim, order, axis=1)
        ii, jj = np.nonzero(block >= dup_threshold)
        ii = ii + start
        keep = jj > ii
        ii, jj = ii[keep], jj[keep]
        total += len(ii)
        if len(ii):
            pairs.append(np.stack([ii, jj], axis=1))
            psims.append(block[ii - start, jj])
            if sum(len(p) for p in pairs) > 10 * max_pairs:
                pairs, psims = _top_pairs(pairs, psims, max_pairs)
        bar.update(stop - start)
    bar.close()
    pairs, psims = _top_pairs(pairs, psims, max_pairs)
    return Neighbours(idx, sims, pairs[0], psims[0], total)


def _top_pairs(
    pairs: list[np.ndarray], sims: list[np.ndarray], keep: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if not pairs:
        return [np.zeros((0, 2), np.int64)], [np.zeros(0, np.float32)]
    p, s = np.vstack(pairs), np.concatenate(sims)
    order = np.lexsort((p[:, 1], p[:, 0], -s))[:keep]
    return [p[order]], [s[order]]


def vote(neighbour_labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Majority label of each row (ties: the smallest label) and its vote count."""
    counts = np.zeros((len(neighbour_labels), n_classes), dtype=np.int64)
    rows = np.repeat(np.arange(len(neighbour_labels)), neighbour_labels.shape[1])
    np.add.at(counts, (rows, neighbour_labels.ravel()), 1)
    winner = counts.argmax(axis=1)
    return winner, counts[np.arange(len(counts)), winner]


def label_errors(
    nb: Neighbours, labels: np.ndarray, k: int, max_agreement: float, limit: int
) -> list[dict[str, float | int]]:
    """Points whose k-NN vote strongly disagrees with their label, most suspicious first.

    A point is listed when at most ``max_agreement`` of its k nearest neighbours share its
    label and the majority votes for another class. Ranked by agreement (ascending), then
    by the winning class's vote share and mean similarity (descending).
    """
    k = min(k, nb.index.shape[1])
    if k == 0:
        return []
    neigh = labels[nb.index[:, :k]]
    n_classes = int(labels.max()) + 1
    winner, votes = vote(neigh, n_classes)
    agree = (neigh == labels[:, None]).mean(axis=1)
    flagged = np.flatnonzero((agree <= max_agreement) & (winner != labels))
    if not len(flagged):
        return []
    share = votes[flagged] / k
    mean_sim = nb.sim[flagged, :k].mean(axis=1)
    order = np.lexsort((flagged, -mean_sim, -share, agree[flagged]))[:limit]
    return [
        {"row": int(flagged[o]), "label": int(labels[flagged[o]]),
         "suggested": int(winner[flagged[o]]), "agreement": float(agree[flagged[o]]),
         "vote_share": float(share[o]), "mean_similarity": float(mean_sim[o])}
        for o in order
    ]
