"""The analysis runner: fetch → projections → clusterings → figures → outputs, timed per stage."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis import clustering, findings, metrics, projections
from analysis.config import AnalysisSettings
from analysis.data import Vectors, fetch
from analysis.errors import TooFewPointsError
from search.contract import now_iso
from search.store import Store


class Stages:
    """Times named stages and prints one line per stage to stderr."""

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block; print `analysis: <name> …` before and the seconds after."""
        if self.progress:
            print(f"analysis: {name} …", file=sys.stderr, flush=True)
        start = time.perf_counter()
        yield
        took = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + took
        if self.progress:
            print(f"analysis: {name} done in {took:.1f} s", file=sys.stderr, flush=True)


@dataclass
class Analysis:
    """Everything one run computed, before it is written anywhere."""

    settings: AnalysisSettings
    data: Vectors
    run_id: str
    created_at: str
    k: int
    k_mode: str
    k_curve: list[dict[str, float]] = field(default_factory=list)
    pca: projections.PCAResult | None = None
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    clusterings: dict[str, clustering.Clustering] = field(default_factory=dict)
    silhouette_embedding: dict[str, float | None] = field(default_factory=dict)
    silhouette_maps: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_class: list[dict[str, Any]] = field(default_factory=list)
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)
    trust: dict[str, float | None] = field(default_factory=dict)
    knn_accuracy: dict[str, Any] = field(default_factory=dict)
    label_errors: list[dict[str, Any]] | None = None
    duplicates: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def resolve_k(data: Vectors, s: AnalysisSettings) -> tuple[int, str, list[str]]:
    """The k for k-means / k-medoids and how it was chosen (before --k auto's search)."""
    choice = s.k_choice()
    notes: list[str] = []
    if isinstance(choice, int):
        return choice, "given", notes
    if choice == "auto":
        return 0, "auto", notes
    if data.labels is not None:
        k = max(len(data.label_names), int(len(np.unique(data.labels))))
        return max(k, 2), "labels", notes
    notes.append("no labels to count: k defaults to 10 (pass --k N or --k auto).")
    return 10, "default", notes


def check_sizes(n: int, k: int, s: AnalysisSettings) -> None:
    """Fail early, naming the method and the fix, when the data is too small for a choice."""
    if n < 3:
        raise TooFewPointsError(
            f"the analysis needs at least 3 points; the collection has {n}. Ingest more images."
        )
    projs, clus = s.projection_list(), s.clusterer_list()
    if "umap" in projs and n <= s.umap_neighbors:
        raise TooFewPointsError(
            f"UMAP needs more than --umap-neighbors ({s.umap_neighbors}) points; there are {n}. "
            "Lower --umap-neighbors or drop umap from --projections."
        )
    if "tsne" in projs and n <= s.tsne_perplexity:
        raise TooFewPointsError(
            f"t-SNE needs more than --tsne-perplexity ({s.tsne_perplexity:g}) points; there are "
            f"{n}. Lower --tsne-perplexity or drop tsne from --projections."
        )
    for name in ("kmeans", "kmedoids"):
        if name in clus and k and n < k:
            raise TooFewPointsError(
                f"{name} with k={k} needs at least {k} points; there are {n}. Pass a smaller --k."
            )
    if "hdbscan" in clus and n < s.hdbscan_min_cluster_size:
        raise TooFewPointsError(
            f"HDBSCAN needs at least --hdbscan-min-cluster-size ({s.hdbscan_min_cluster_size}) "
            f"points; there are {n}. Lower it or drop hdbscan from --clusterers."
        )


def knn_accuracy(store: Store, collection: str, s: AnalysisSettings) -> dict[str, Any] | None:
    """k-NN accuracy per k from search.knn.evaluate (issue 3); None where it is not available.

    Exact search; by default the test split is classified against train when both exist,
    else leave-one-out (search.knn's rule). Covers the whole collection, not only a sample.
    """
    try:
        from search import knn
    except ImportError:
        return None
    evaluation = knn.evaluate(
        store, collection, ks=tuple(s.knn_k_list()), query_split=s.knn_query_split,
        reference_split=s.knn_reference_split, exact=True, progress=s.progress,
    )
    raw = evaluation.to_json()
    acc = {str(k): float(v) for k, v in (raw.get("accuracy") or {}).items()}
    return {"source": "search.knn.evaluate", "accuracy": acc, "raw": raw}


def _labelings(a: Analysis) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if a.data.labels is not None:
        out["labels"] = a.data.labels
    for name, c in a.clusterings.items():
        out[name] = c.labels  # HDBSCAN noise (-1) is left out of its silhouette
    return out


def compute(store: Store, s: AnalysisSettings, stages: Stages | None = None) -> Analysis:
    """Run every analysis stage on the collection named in the settings (no files written)."""
    s.check()
    collection = str(s.collection)
    stages = stages or Stages(s.progress)
    with stages.stage("fetch vectors"):
        data = fetch(store, collection, s.sample, s.seed, s.progress)
    k, mode, notes = resolve_k(data, s)
    check_sizes(data.n, k, s)
    a = Analysis(s, data, uuid.uuid4().hex[:12], now_iso(), k, mode, notes=data.notes + notes)
    X, seed = data.X, s.seed
    clus = s.clusterer_list()
    if mode == "auto" and ("kmeans" in clus or "kmedoids" in clus):
        with stages.stage("choose k by silhouette"):
            a.k, a.k_curve = clustering.choose_k(
                X, s.k_min, s.k_max, seed, s.kmeans_n_init, s.chunk_size
            )
    elif mode == "auto":
        a.k = 10
    with stages.stage("pca"):
        a.pca = projections.pca(X, s.pca_components, seed)
    for name in s.projection_list():
        with stages.stage(f"projection {name}"):
            if name == "umap":
                a.maps[name] = projections.umap_map(X, s.umap_neighbors, s.umap_min_dist, seed)
            elif name == "tsne":
                a.maps[name] = projections.tsne_map(X, s.tsne_perplexity, seed)
            else:
                a.maps[name] = a.pca.scores[:, :2].copy()
    for name in clus:
        with stages.stage(f"clustering {name}"):
            if name == "kmeans":
                a.clusterings[name] = clustering.kmeans(X, a.k, seed, s.kmeans_n_init)
            elif name == "kmedoids":
                a.clusterings[name] = clustering.kmedoids(X, a.k, seed, s.kmedoids_max_points)
            else:
                Z, space = _hdbscan_input(a)
                a.clusterings[name] = clustering.hdbscan(Z, s.hdbscan_min_cluster_size, space)
    labelings = _labelings(a)
    with stages.stage("silhouette (embedding, cosine)"):
        for name, labels in labelings.items():
            samples = metrics.cosine_silhouette_samples(X, labels, s.chunk_size, s.progress)
            a.silhouette_embedding[name] = metrics.mean_or_none(samples)
            if name == "labels" and samples is not None:
                a.per_class = metrics.per_class(samples, labels, data.label_names)
    for proj, Y in a.maps.items():
        with stages.stage(f"silhouette and trustworthiness ({proj} map)"):
            per = metrics.map_silhouette_samples(Y, labelings, s.chunk_size, s.progress)
            a.silhouette_maps[proj] = {n: metrics.mean_or_none(v) for n, v in per.items()}
            a.trust[proj] = metrics.trustworthiness(
                X, Y, s.trust_neighbors, s.chunk_size, s.progress
            )
    if data.labels is not None:
        for name, c in a.clusterings.items():
            a.agreement[name] = metrics.agreement(data.labels, c.labels)
    with stages.stage("k-NN votes and near-duplicates"):
        k_nb = max([s.label_error_k, *s.knn_k_list()]) if data.labels is not None else 0
        nb = findings.neighbour_pass(
            X, k_nb, s.duplicate_threshold, s.max_list, s.chunk_size, s.progress
        )
        a.duplicates = {"threshold": s.duplicate_threshold, "total": nb.dup_total,
                        "pairs": [{"row_a": int(i), "row_b": int(j), "similarity": float(v)}
                                  for (i, j), v in zip(nb.dup_pairs, nb.dup_sims, strict=True)]}
        if data.labels is not None:
            a.label_errors = findings.label_errors(
                nb, data.labels, s.label_error_k, s.label_error_max_agreement, s.max_list
            )
    if data.labels is not None:
        with stages.stage("k-NN accuracy"):
            result = knn_accuracy(store, collection, s)
            if result is None:
                a.knn_accuracy = {
                    "source": "in-process leave-one-out (search.knn not available)",
                    "accuracy": findings.loo_knn_accuracy(nb, data.labels, s.knn_k_list()),
                }
            else:
                a.knn_accuracy = result
                if s.sample:
                    a.notes.append("k-NN accuracy comes from search.knn on the whole "
                                   "collection, not only the sample.")
    else:
        a.notes.append("no labels: silhouette of the labels, per-class silhouette, ARI/NMI, "
                       "contingency tables, k-NN accuracy and label errors are omitted.")
    if "hdbscan" in a.clusterings:
        a.notes.append("HDBSCAN noise points (-1) are left out of its silhouette; ARI/NMI "
                       "count noise as one more cluster.")
    a.timings = stages.timings
    return a


def _hdbscan_input(a: Analysis) -> tuple[np.ndarray, str]:
    s = a.settings
    if s.hdbscan_space == "umap" and "umap" in a.maps:
        return a.maps["umap"], "umap"
    if s.hdbscan_space == "vectors":
        from analysis.data import normalize

        return normalize(a.data.X), "vectors"
    if s.hdbscan_space == "umap":
        a.notes.append("--hdbscan-space umap without a UMAP map: HDBSCAN ran on PCA instead.")
    if a.pca is None:
        a.pca = projections.pca(a.data.X, s.pca_components, s.seed)
    dims = min(s.hdbscan_dims, a.pca.scores.shape[1])
    return a.pca.scores[:, :dims], f"pca{dims}"


def default_out(s: AnalysisSettings) -> Path:
    """<data_dir>/reports/<collection>/ unless --out is given."""
    if s.out is not None:
        return Path(s.out)
    from search.config import QdrantSettings

    return QdrantSettings().data_dir / "reports" / str(s.collection)


def run(store: Store, s: AnalysisSettings) -> tuple[dict[str, Any], Path]:
    """Compute, write the report directory and the payload write-back; returns (report, dir)."""
    from analysis.outputs import write_outputs

    stages = Stages(s.progress)
    analysis = compute(store, s, stages)
    out_dir = default_out(s)
    report = write_outputs(store, analysis, out_dir, stages)
    return report, out_dir
