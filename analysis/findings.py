"""What the shared k-NN graph tells: label errors, near-duplicates, k-NN accuracy, per-point votes."""

from __future__ import annotations

import numpy as np

from embedscope.analysis.graph import Neighbours, knn_graph
from embedscope.search.neighbors import majority_vote

__all__ = ["Neighbours", "knn_fields", "knn_graph_accuracy", "label_errors", "neighbour_pass"]


def neighbour_pass(
    X: np.ndarray, k: int, dup_threshold: float, max_pairs: int = 200, chunk: int = 1024,
    progress: bool = False, device: str = "cpu",
) -> Neighbours:
    """The shared k-NN graph and near-duplicate pairs (embedscope.analysis.graph.knn_graph).

    ``chunk`` is the block size of the blocked product (rows; at least 16).
    """
    return knn_graph(X, k, dup_threshold, max_pairs, device=device, block=max(16, chunk),
                     progress=progress)


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
    winner, votes = majority_vote(neigh)
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


def knn_graph_accuracy(nb: Neighbours, labels: np.ndarray, ks: list[int]) -> dict[str, float]:
    """Leave-one-out k-NN accuracy per k from the graph (majority vote, ties: smallest label).

    Equal to scikit-learn's ``KNeighborsClassifier(k, metric="cosine")`` fitted on all points and
    asked ``kneighbors()`` without the query itself, up to ties between equal similarities.
    """
    out: dict[str, float] = {}
    for k in ks:
        if k > nb.index.shape[1]:
            continue
        winner, _ = majority_vote(labels[nb.index[:, :k]])
        out[str(k)] = float((winner == labels).mean())
    return out


def knn_fields(
    nb: Neighbours, labels: np.ndarray, k: int, neighbour_labels: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per-point leave-one-out k-NN fields written back to the payloads.

    ``neighbour_labels`` are the labels ``nb.index`` points into when they are not ``labels``
    (an update: the new points' neighbours are rows of every point).

    Returns:
        ``knn_correct`` (1 when the majority of the k nearest other points votes the point's
        label, else 0), ``knn_confidence`` (vote share of the predicted class, 0..1) and
        ``label_error`` (1 - the share of neighbours with the point's label: the label-error
        stage's agreement turned into a score, higher = more likely mislabelled).
    """
    k = min(k, nb.index.shape[1])
    neigh = (labels if neighbour_labels is None else neighbour_labels)[nb.index[:, :k]]
    winner, votes = majority_vote(neigh)
    agree = (neigh == labels[:, None]).mean(axis=1)
    return {"knn_correct": (winner == labels).astype(np.int64),
            "knn_confidence": votes / k, "label_error": 1.0 - agree}
