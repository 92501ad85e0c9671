"""The figures of a run as named metric stages, run in registration order after the clusterings.

Each stage reads the maps and clusterings of the analysis and fills its own fields; the
numerical work is in metrics.py and findings.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.findings import knn_graph_accuracy, label_errors
from embedscope.analysis.metrics import (
    agreement,
    cosine_silhouette_samples,
    map_silhouette_samples,
    maps_trustworthiness,
    mean_or_none,
    per_class,
)
from embedscope.analysis.registry import register_metric
from embedscope.analysis.result import Analysis, Stages
from embedscope.store import Store

#: How k-NN accuracy's source names each way the shared graph is built.
GRAPH_WORDS = {"exact": "exact", "approximate": "approximate, NN-descent",
               "index": "approximate, the collection's HNSW index"}


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


def sample_rows(n: int, size: int, seed: int) -> np.ndarray | None:
    """Sorted seeded sample of ``size`` of ``n`` rows; None (all rows, exact) when size is 0 or ≥ n."""
    if size <= 0 or size >= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


@register_metric("map_quality")
def map_quality(a: Analysis, store: Store, stages: Stages) -> None:
    """Euclidean silhouette of every labeling and trustworthiness, for each 2-D map (the maps'
    trustworthiness in one pass over the rows' similarities).

    Both are quadratic; above --silhouette-sample / --trust-sample points they are estimated
    on a seeded sample of rows (each against all points), and the report says so.
    """
    s, X = a.settings, a.data.X
    n = a.data.n
    found = labelings(a)
    sil_rows = sample_rows(n, s.silhouette_sample, s.seed)
    trust_rows = sample_rows(n, s.trust_sample, s.seed + 1)
    exact = a.graph is not None and a.graph_rows is None and a.graph_exact
    graph = a.graph.index if exact else None  # the shortcut needs the exact neighbours
    for proj, Y in a.maps.items():
        with stages.stage(f"silhouette ({proj} map)"):
            per = map_silhouette_samples(Y, found, s.chunk_size, s.progress, rows=sil_rows)
            a.silhouette_maps[proj] = {name: mean_or_none(v) for name, v in per.items()}
    if a.maps:
        with stages.stage(f"trustworthiness ({', '.join(a.maps)} map{'s' * (len(a.maps) > 1)})"):
            a.trust.update(maps_trustworthiness(X, a.maps, s.trust_neighbors, s.chunk_size,
                                                s.progress, trust_rows, graph, a.device))
    if a.maps and sil_rows is not None:
        a.estimates["silhouette_maps"] = {"sample": len(sil_rows), "of": n, "seed": s.seed}
        a.notes.append(f"2-D map silhouettes are estimated on a seeded sample of {len(sil_rows)} "
                       f"of {n} points, each against all points (--silhouette-sample).")
    if a.maps and trust_rows is not None:
        a.estimates["trustworthiness"] = {"sample": len(trust_rows), "of": n, "seed": s.seed + 1}
        a.notes.append(f"trustworthiness is estimated on a seeded sample of {len(trust_rows)} of "
                       f"{n} points, each ranked against all points (--trust-sample).")


@register_metric("agreement")
def label_agreement(a: Analysis, store: Store, stages: Stages) -> None:
    """ARI, NMI and the contingency table of each clustering against the labels."""
    if a.data.labels is None:
        return
    for name, c in a.clusterings.items():
        a.agreement[name] = agreement(a.data.labels, c.labels)


def _row(a: Analysis, graph_row: int) -> int:
    """The analysed row of a row of the shared graph."""
    return int(graph_row if a.graph_rows is None else a.graph_rows[graph_row])


@register_metric("neighbours")
def neighbour_lists(a: Analysis, store: Store, stages: Stages) -> None:
    """Near-duplicate pairs and likely label errors, from the graph."""
    s, data, nb = a.settings, a.data, a.graph
    if nb is None:
        return
    with stages.stage("label errors, near-duplicates"):
        a.duplicates = {"threshold": s.duplicate_threshold, "total": nb.dup_total,
                        "pairs": [{"row_a": _row(a, i), "row_b": _row(a, j),
                                   "similarity": float(v)}
                                  for (i, j), v in zip(nb.dup_pairs, nb.dup_sims, strict=True)]}
        if data.labels is None:
            return
        labels = data.labels if a.graph_rows is None else data.labels[a.graph_rows]
        errors = label_errors(nb, labels, s.label_error_k, s.label_error_max_agreement,
                              s.max_list)
        a.label_errors = [{**e, "row": _row(a, int(e["row"]))} for e in errors]


@register_metric("knn_accuracy")
def knn_figures(a: Analysis, store: Store, stages: Stages) -> None:
    """k-NN accuracy per k (labelled collections only).

    Leave-one-out on the shared graph unless --knn-query-split / --knn-reference-split ask for
    search.knn.evaluate on the whole collection.
    """
    s = a.settings
    if a.data.labels is None:
        return
    with stages.stage("k-NN accuracy"):
        if s.knn_query_split or s.knn_reference_split or a.graph is None:
            a.knn_accuracy = knn_accuracy(store, str(s.collection), s)
            if s.sample:
                a.notes.append("k-NN accuracy comes from search.knn on the whole "
                               "collection, not only the sample.")
            return
        labels = a.data.labels if a.graph_rows is None else a.data.labels[a.graph_rows]
        a.knn_accuracy = {
            "source": "shared k-NN graph: leave-one-out over the analysed points ("
                      + GRAPH_WORDS[a.graph_method] + " cosine)",
            "points": int(len(labels)),
            "accuracy": knn_graph_accuracy(a.graph, labels, s.knn_k_list()),
        }


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
