"""The built-in per-point scores: what the shared k-NN graph's vote says about each labelled point.

Each is one registration (see embedscope.analysis.registry.register_score); the job writes every
registered score to the payload field of its name, the report describes it and the page offers
it as a colouring.
"""

from __future__ import annotations

import numpy as np

from embedscope.analysis.findings import knn_fields
from embedscope.analysis.registry import register_score
from embedscope.analysis.result import Analysis


def _knn_fields(a: Analysis) -> dict[str, np.ndarray] | None:
    """The k-NN fields of the graph's rows (None without a graph or labels)."""
    if a.graph is None or a.data.labels is None:
        return None
    labels = a.data.labels if a.graph_rows is None else a.data.labels[a.graph_rows]
    return knn_fields(a.graph, labels, a.settings.label_error_k)


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
