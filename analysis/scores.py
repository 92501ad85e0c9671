"""The built-in per-point scores: the k-NN vote on each labelled point, uniqueness, representativeness.

Each is one registration (see embedscope.analysis.registry.register_score); the job writes every
registered score to the payload field of its name, the report describes it and the page offers
it as a colouring.
"""

from __future__ import annotations

import numpy as np

from embedscope.analysis.findings import knn_fields
from embedscope.analysis.registry import register_score
from embedscope.analysis.result import Analysis
from embedscope.scratch import row_blocks


def _knn_fields(a: Analysis) -> dict[str, np.ndarray] | None:
    """The k-NN fields of the graph's rows (None without a graph or labels)."""
    if a.graph is None or a.data.labels is None:
        return None
    labels = a.data.labels if a.graph_rows is None else a.data.labels[a.graph_rows]
    around = a.data.labels if a.graph_to_all else None  # an update's graph: rows of all points
    return knn_fields(a.graph, labels, a.settings.label_error_k, around)


@register_score("knn_correct", title="k-NN vote right", kind="binary", labels=("wrong", "correct"),
                description="1 when the majority of the k nearest other points votes the "
                "point's own label, else 0")
def knn_correct(a: Analysis) -> np.ndarray | None:
    """1 where the leave-one-out k-NN vote is right."""
    fields = _knn_fields(a)
    return None if fields is None else fields["knn_correct"]


@register_score("knn_confidence", title="k-NN vote share",
                description="share of the k nearest other points that vote the predicted class")
def knn_confidence(a: Analysis) -> np.ndarray | None:
    """The winning class's share of the k votes (0..1)."""
    fields = _knn_fields(a)
    return None if fields is None else fields["knn_confidence"]


@register_score("label_error", title="label-error score",
                description="1 − the share of the k nearest other points with the point's label "
                "(higher: more likely mislabelled)")
def label_error(a: Analysis) -> np.ndarray | None:
    """1 − label agreement of the k nearest other points."""
    fields = _knn_fields(a)
    return None if fields is None else fields["label_error"]


@register_score("uniqueness", title="uniqueness",
                description="1 − the mean cosine of the k nearest other points (--uniqueness-k); "
                "high: few close neighbours, low: many near-copies")
def uniqueness(a: Analysis) -> np.ndarray | None:
    """1 − mean cosine similarity of the ``uniqueness_k`` nearest other points (graph rows)."""
    if a.graph is None:
        return None
    k = min(a.settings.uniqueness_k, a.graph.sim.shape[1])
    return 1.0 - np.asarray(a.graph.sim[:, :k], dtype=np.float64).mean(axis=1)


def group_of(a: Analysis) -> np.ndarray:
    """Each analysed point's group for representativeness: its label; unlabelled, its k-means
    cluster; else one group."""
    if a.data.labels is not None:
        return a.data.labels
    if "kmeans" in a.clusterings:
        return a.clusterings["kmeans"].labels
    return np.zeros(a.data.n, dtype=np.int64)


def centroid_similarity(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row to the mean direction (normalised mean) of its group.

    Two passes over the rows, a block at a time (vectors streamed from their scratch file are
    never all held): the groups' sums, then each row's dot with its group's direction.
    """
    codes, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(codes), X.shape[1]), dtype=np.float64)
    for start, part in row_blocks(X):
        np.add.at(sums, inverse[start:start + len(part)], part.astype(np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    directions = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)
    out = np.zeros(len(X), dtype=np.float64)
    for start, part in row_blocks(X):
        rows = inverse[start:start + len(part)]
        out[start:start + len(part)] = np.einsum("nd,nd->n", part.astype(np.float64),
                                                 directions[rows])
    return out


@register_score("representativeness", title="representativeness",
                description="cosine similarity to the mean direction of the point's class "
                "(unlabelled: of its k-means cluster, else of all points); high: typical")
def representativeness(a: Analysis) -> np.ndarray | None:
    """Cosine similarity to the normalised mean of the point's class (or cluster)."""
    values = centroid_similarity(a.data.X, group_of(a))
    return values if a.graph_rows is None else values[a.graph_rows]
