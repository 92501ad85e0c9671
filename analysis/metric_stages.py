"""The figures of a run as named metric stages, run in registration order after the clusterings.

Each stage reads the maps and clusterings of the analysis and fills its own fields; the
numerical work is in metrics.py and findings.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.findings import label_errors, neighbour_pass
from embedscope.analysis.metrics import (
    agreement,
    cosine_silhouette_samples,
    map_silhouette_samples,
    mean_or_none,
    per_class,
    trustworthiness,
)
from embedscope.analysis.registry import register_metric
from embedscope.analysis.result import Analysis, Stages
from embedscope.search.store import Store


def labelings(a: Analysis) -> dict[str, np.ndarray]:
    """The true labels (when there are any) and every clustering's cluster ids, by name."""
    out: dict[str, np.ndarray] = {}
    if a.data.labels is not None:
        out["labels"] = a.data.labels
    for name, c in a.clusterings.items():
        out[name] = c.labels  # HDBSCAN noise (-1) is left out of its silhouette
    return out


@register_metric("silhouette")
def embedding_silhouette(a: Analysis, store: Store, stages: Stages) -> None:
    """Cosine silhouette of every labeling in the embedding, and per true class."""
    s, X = a.settings, a.data.X
    with stages.stage("silhouette (embedding, cosine)"):
        for name, labels in labelings(a).items():
            samples = cosine_silhouette_samples(X, labels, s.chunk_size, s.progress)
            a.silhouette_embedding[name] = mean_or_none(samples)
            if name == "labels" and samples is not None:
                a.per_class = per_class(samples, labels, a.data.label_names)


@register_metric("map_quality")
def map_quality(a: Analysis, store: Store, stages: Stages) -> None:
    """Euclidean silhouette of every labeling and trustworthiness, for each 2-D map."""
    s, X = a.settings, a.data.X
    found = labelings(a)
    for proj, Y in a.maps.items():
        with stages.stage(f"silhouette and trustworthiness ({proj} map)"):
            per = map_silhouette_samples(Y, found, s.chunk_size, s.progress)
            a.silhouette_maps[proj] = {n: mean_or_none(v) for n, v in per.items()}
            a.trust[proj] = trustworthiness(X, Y, s.trust_neighbors, s.chunk_size, s.progress)


@register_metric("agreement")
def label_agreement(a: Analysis, store: Store, stages: Stages) -> None:
    """ARI, NMI and the contingency table of each clustering against the labels."""
    if a.data.labels is None:
        return
    for name, c in a.clusterings.items():
        a.agreement[name] = agreement(a.data.labels, c.labels)


@register_metric("neighbours")
def neighbour_lists(a: Analysis, store: Store, stages: Stages) -> None:
    """Near-duplicate pairs and, when labelled, likely label errors, from one neighbour pass."""
    s, data = a.settings, a.data
    with stages.stage("k-NN votes and near-duplicates"):
        # k-NN accuracy comes from search.knn, but the pass keeps its width (--knn-ks too):
        # a narrower top-k could break ties between equal similarities differently.
        k_nb = max([s.label_error_k, *s.knn_k_list()]) if data.labels is not None else 0
        nb = neighbour_pass(data.X, k_nb, s.duplicate_threshold, s.max_list, s.chunk_size,
                            s.progress)
        a.duplicates = {"threshold": s.duplicate_threshold, "total": nb.dup_total,
                        "pairs": [{"row_a": int(i), "row_b": int(j), "similarity": float(v)}
                                  for (i, j), v in zip(nb.dup_pairs, nb.dup_sims, strict=True)]}
        if data.labels is not None:
            a.label_errors = label_errors(
                nb, data.labels, s.label_error_k, s.label_error_max_agreement, s.max_list
            )


@register_metric("knn_accuracy")
def knn_figures(a: Analysis, store: Store, stages: Stages) -> None:
    """k-NN accuracy per k over the whole collection (labelled collections only)."""
    s = a.settings
    if a.data.labels is None:
        return
    with stages.stage("k-NN accuracy"):
        a.knn_accuracy = knn_accuracy(store, str(s.collection), s)
        if s.sample:
            a.notes.append("k-NN accuracy comes from search.knn on the whole "
                           "collection, not only the sample.")


def knn_accuracy(store: Store, collection: str, s: AnalysisSettings) -> dict[str, Any]:
    """k-NN accuracy per k from search.knn.evaluate (issue 3).

    Exact search; by default the test split is classified against train when both exist,
    else leave-one-out (search.knn's rule). Covers the whole collection, not only a sample.

    Args:
        store: The store holding the collection.
        collection: The collection to classify.
        s: The settings (--knn-ks, --knn-query-split, --knn-reference-split, --progress).

    Returns:
        ``{"source": …, "accuracy": {k: accuracy}, "raw": the evaluation as JSON}``.
    """
    from embedscope.search import knn

    evaluation = knn.evaluate(
        store, collection, ks=tuple(s.knn_k_list()), query_split=s.knn_query_split,
        reference_split=s.knn_reference_split, exact=True, progress=s.progress,
    )
    raw = evaluation.to_json()
    acc = {str(k): float(v) for k, v in (raw.get("accuracy") or {}).items()}
    return {"source": "embedscope.search.knn.evaluate", "accuracy": acc, "raw": raw}
