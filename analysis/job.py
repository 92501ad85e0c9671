"""The analysis runner: fetch → maps → clusterings → metric stages → outputs, each timed.

Which projections, clusterers and metric stages exist is the registries' business
(embedscope.analysis.registry); this module only runs the chosen ones in order.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.analysis.clustering import choose_k
from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import Vectors, fetch, stratified_indices
from embedscope.analysis.device import resolve_device
from embedscope.analysis.errors import TooFewPointsError
from embedscope.analysis.graph import approximate_graph, graph_recall, knn_graph
from embedscope.analysis.index_graph import (
    EF_PILOT_ROWS,
    choose_ef,
    index_graph,
    index_outside,
    index_unusable,
)
from embedscope.analysis.outputs import write_maps, write_outputs
from embedscope.analysis.projections import pca
from embedscope.analysis.registry import CLUSTERERS, METRICS, PROJECTIONS, SCORES
from embedscope.analysis.result import Analysis, Stages
from embedscope.contract import now_iso
from embedscope.scratch import on_tmpfs, release, spilled, take
from embedscope.store import Store

__all__ = ["Analysis", "Stages", "build_graph", "check_sizes", "compute", "default_out", "graph_k",
           "graph_method", "resolve_k", "run"]


def resolve_k(data: Vectors, s: AnalysisSettings) -> tuple[int, str, list[str]]:
    """The k for k-means / k-medoids and how it was chosen (before --clusters auto's search)."""
    choice = s.k_choice()
    notes: list[str] = []
    if isinstance(choice, int):
        return choice, "given", notes
    if choice == "auto":
        return 0, "auto", notes
    if data.labels is not None:
        k = max(len(data.label_names), int(len(np.unique(data.labels))))
        return max(k, 2), "labels", notes
    notes.append("no labels to count: k defaults to 10 (pass --clusters N or --clusters auto).")
    return 10, "default", notes


def check_sizes(n: int, k: int, s: AnalysisSettings) -> None:
    """Fail early, naming the method and the fix, when the data is too small for a choice.

    Each chosen projection and clusterer is asked through the ``check`` of its registration,
    in registration order.

    Raises:
        TooFewPointsError: The first method (or the analysis as a whole) that cannot run.
    """
    if n < 3:
        raise TooFewPointsError(
            f"the analysis needs at least 3 points; the collection has {n}. Ingest more images."
        )
    projs, clus = s.projection_list(), s.clusterer_list()
    checks = [p.check for p in PROJECTIONS.values() if p.name in projs]
    checks += [c.check for c in CLUSTERERS.values() if c.name in clus]
    for check in checks:
        problem = check(n, k, s) if check is not None else None
        if problem:
            raise TooFewPointsError(problem)


def compute(store: Store, s: AnalysisSettings, stages: Stages | None = None) -> Analysis:
    """Run every analysis stage on the collection named in the settings (no files written).

    Args:
        store: The store holding the collection.
        s: The settings; ``s.collection`` names the collection.
        stages: The stage timer (default: a new one printing when ``s.progress``).

    Returns:
        The analysis: maps, clusterings, figures, lists, notes and timings.
    """
    s.check()
    collection = str(s.collection)
    stages = stages or Stages(s.progress)
    with stages.stage("fetch vectors"):
        data = fetch(store, collection, s.sample, s.seed, s.progress,
                     stream_from=s.stream_from, scratch_dir=s.scratch_dir)
        if data.total > s.graph_max_points:
            # The scroll read every stored vector through a mapping of the vector file that the
            # graph's searches do not use (they map it again): 1.5 GB resident at 1M × 384,
            # counted twice, until the shard is closed.
            store.rest(collection)
    k, mode, notes = resolve_k(data, s)
    check_sizes(data.n, k, s)
    a = Analysis(s, data, uuid.uuid4().hex[:12], now_iso(), k, mode, notes=data.notes + notes)
    a.device = resolve_device(s.device)
    X = data.X
    a.streamed = spilled(X)
    if a.streamed and on_tmpfs(s.scratch_dir):
        a.notes.append("the vectors' scratch file (--stream-from) lay on a memory-backed file "
                       "system, so it held them in memory after all: --scratch-dir on a local "
                       "disk keeps them out of it.")
    clus = s.clusterer_list()
    if mode == "auto" and any(CLUSTERERS[name].uses_k for name in clus):
        with stages.stage("choose k by silhouette"):
            a.k, a.k_curve = choose_k(X, s.clusters_min, s.clusters_max, s.seed, s.kmeans_n_init,
                                      s.chunk_size, s.kmeans_max_points)
    elif mode == "auto":
        a.k = 10
    with stages.stage("pca"):
        a.pca = pca(X, s.pca_components, s.seed)
        a.fitted["pca"] = a.pca.model
    if a.pca.fitted_on:
        a.estimates["pca"] = {"sample": a.pca.fitted_on, "of": data.n, "seed": s.seed}
        a.notes.append(f"PCA's components were fitted on a seeded sample of {a.pca.fitted_on} of "
                       f"{data.n} points and every point projected on them.")
    with stages.stage("k-NN graph"):
        build_graph(a, store)
    if data.total > s.graph_max_points:
        # the maps, clusterings and figures read no vector from the store: its shard's memory
        # (~2.5 GB at 1M × 384) goes until the plots and the write-back open it again
        store.rest(collection)
    release(X)  # streamed vectors: what a stage read goes back before the next (scratch.py)
    for name in s.projection_list():
        with stages.stage(f"projection {name}"):
            a.maps[name] = _checked_map(name, PROJECTIONS[name].run(X, s, a), data.n)
        release(X)
    for name in clus:
        with stages.stage(f"clustering {name}"):
            a.clusterings[name] = CLUSTERERS[name].run(X, s, a)
        release(X)
    for metric in METRICS.values():
        metric(a, store, stages)
        release(X)
    with stages.stage("per-point scores"):
        for score in SCORES.values():
            values = score.run(a)
            if values is not None:
                a.point_fields[score.name] = np.asarray(values)
    if data.labels is None:
        a.notes.append("no labels: silhouette of the labels, per-class silhouette, ARI/NMI, "
                       "contingency tables, k-NN accuracy and label errors are omitted.")
    a.notes += [note for name in a.clusterings if (note := CLUSTERERS[name].note)]
    a.timings = stages.timings
    a.peak_rss_gb = stages.peak_rss_gb
    return a


#: Points whose exact neighbours measure an approximate graph's recall.
RECALL_SAMPLE = 1000
#: Below this recall an approximate graph's note warns that its figures say little.
LOW_RECALL = 0.9


def graph_k(a: Analysis) -> int:
    """Neighbours the shared graph keeps: enough for UMAP, trustworthiness and the k-NN figures."""
    s = a.settings
    k = max(s.trust_neighbors, s.uniqueness_k)
    if "umap" in s.projection_list():
        k = max(k, s.umap_neighbors)
    if a.data.labels is not None:
        k = max(k, s.label_error_k, *s.knn_k_list())
    return k


def graph_method(a: Analysis, store: Store) -> str:
    """exact, approximate or index: --graph, with auto resolved (exact up to
    --graph-max-points, the collection's index above when it can serve every point)."""
    s, data = a.settings, a.data
    if s.graph != "auto":
        return s.graph
    if data.n <= s.graph_max_points:
        return "exact"
    if data.n < data.total:
        a.notes.append("the k-NN graph uses exact search on a sample: the analysed points are a "
                       "sample (--sample), and the index searches the whole collection.")
        return "exact"
    problem = index_unusable(store, str(s.collection), data.n)
    if problem:
        a.notes.append(f"the collection's index cannot score every point: {problem}.")
        return "exact"
    return "index"


def build_graph(a: Analysis, store: Store) -> None:
    """The shared k-NN graph (and near-duplicates): exact over all points or a seeded sample,
    NN-descent, or every point through the collection's index (``graph_method``)."""
    s, data = a.settings, a.data
    method = a.graph_method = graph_method(a, store)
    a.graph_exact = method == "exact"
    rows = None
    if data.n > s.graph_max_points and method != "index":
        rows = stratified_indices(data.n, s.graph_max_points, s.seed, data.labels)
        a.notes.append(
            f"the k-NN graph (k-NN accuracy, label errors, near-duplicates, k-NN payload fields) "
            f"covers a seeded sample of {len(rows)} of {data.n} points (--graph-max-points; "
            f"--graph index scores every point through the collection's index)."
        )
        a.estimates["knn_graph"] = {"sample": len(rows), "of": data.n}
    X = data.X if rows is None else take(data.X, rows)
    a.graph_rows = rows
    if method == "exact":
        a.graph = knn_graph(X, graph_k(a), s.duplicate_threshold, s.max_list, device=a.device,
                            progress=s.progress)
        return
    beam: dict[str, Any] = {}
    if method == "index":
        outside = index_outside(store, str(s.collection), s.reindex)
        if outside:
            a.notes.append(f"{outside}.")
        ef = s.graph_ef
        if not ef:
            ef, pilot = choose_ef(store, str(s.collection), data.ids, X, graph_k(a), s.seed + 4)
            beam = {"pilot_rows": min(EF_PILOT_ROWS, len(X)), "pilot_recall": round(pilot, 4)}
        a.graph = index_graph(store, str(s.collection), data.ids, X, graph_k(a),
                              s.duplicate_threshold, s.max_list, s.progress, ef=ef)
        beam["ef"] = ef
        how = f"through the collection's HNSW index (--graph index, beam width {ef})"
    else:
        a.graph = approximate_graph(X, graph_k(a), s.duplicate_threshold, s.max_list, s.seed)
        how = "approximate (--graph approximate, NN-descent)"
    recall = graph_recall(X, a.graph, RECALL_SAMPLE, s.seed + 2)
    a.estimates["knn_graph_recall"] = {
        "sample": min(RECALL_SAMPLE, len(X)), "of": len(X), "seed": s.seed + 2,
        "k": int(a.graph.index.shape[1]), "recall": round(recall, 4), **beam}
    a.notes.append(
        f"the k-NN graph of {len(X)} points is {how}: it holds {recall:.1%} of the exact "
        f"{a.graph.index.shape[1]} nearest neighbours (measured against exact search on a seeded "
        f"sample of {min(RECALL_SAMPLE, len(X))} points), so k-NN accuracy, label errors, the "
        f"k-NN fields and UMAP's neighbours are approximate and near-duplicates are those found "
        f"among the neighbours.")
    if recall < LOW_RECALL:
        a.notes.append(
            f"the approximate k-NN graph found only {recall:.1%} of the exact neighbours: the "
            "vectors have little local structure (every point has many near-equidistant "
            "neighbours), so the k-NN figures and label errors say little; near-duplicates, "
            "being far closer than the rest, are still found. --graph exact gives exact figures "
            "on a seeded sample of --graph-max-points.")


def _checked_map(name: str, Y: np.ndarray, n: int) -> np.ndarray:
    """The projection's map as float64, after checking it has one 2-D point per row."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape != (n, 2):
        raise ValueError(f"projection {name} returned shape {Y.shape}; expected ({n}, 2)")
    return Y


def default_out(s: AnalysisSettings, data_dir: Path | None = None) -> Path:
    """<data_dir>/reports/<collection>/ unless --out is given.

    Args:
        s: The settings (``out``, ``collection``).
        data_dir: The data directory (e.g. from --data-dir); None: QdrantSettings().data_dir.
    """
    if s.out is not None:
        return Path(s.out)
    if data_dir is None:
        from embedscope.settings import QdrantSettings

        data_dir = QdrantSettings().data_dir
    return Path(data_dir) / "reports" / str(s.collection)


def run(
    store: Store, s: AnalysisSettings, data_dir: Path | None = None, stages: Stages | None = None,
    map_files: bool = True,
) -> tuple[dict[str, Any], Path]:
    """Compute, write the report directory, the payload write-back and the map files.

    Args:
        store: The store holding the collection.
        s: The settings.
        data_dir: Where reports go without --out (None: QdrantSettings().data_dir).
        stages: The stage timer (default: a new one printing when ``s.progress``); another
            thread may read its ``current`` stage.
        map_files: Write the map files after the payloads (embedscope.mapfiles); a caller
            that changes the metadata afterwards writes them itself (``write_maps``).

    Returns:
        The report (as in report.json) and the report directory.
    """
    stages = stages or Stages(s.progress)
    analysis = compute(store, s, stages)
    out_dir = default_out(s, data_dir)
    report = write_outputs(store, analysis, out_dir, stages)
    if map_files and report.get("written_back"):
        with stages.stage("map files"):
            write_maps(store, str(s.collection), data_dir)
    return report, out_dir
