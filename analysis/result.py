"""What one analysis run produces, and the stage timer: shared by the job, methods and outputs."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import Vectors


class Stages:
    """Times named stages and prints one line per stage to stderr."""

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        #: The process's peak resident memory (GB) at the end of each stage: where it grows
        #: is the stage that set it.
        self.peak_rss_gb: dict[str, float] = {}
        #: The stage running now (None between stages): a progress line for another thread.
        self.current: str | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block; print `analysis: <name> …` before and the seconds after."""
        if self.progress:
            print(f"analysis: {name} …", file=sys.stderr, flush=True)
        start = time.perf_counter()
        self.current = name
        try:
            yield
        finally:
            self.current = None
        took = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + took
        self.peak_rss_gb[name] = peak_rss_gb()
        if self.progress:
            print(f"analysis: {name} done in {took:.1f} s (peak memory so far "
                  f"{self.peak_rss_gb[name]:.2f} GB)", file=sys.stderr, flush=True)


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, GB (0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1024**3, 3)


@dataclass
class PCAResult:
    """Principal components of the vectors: scores and explained-variance ratios."""

    scores: np.ndarray
    explained_variance_ratio: np.ndarray
    #: The fitted scikit-learn PCA (``transform`` places new points; kept for --update).
    model: Any = None
    #: The seeded sample the components were fitted on (None: every point); its scores then
    #: keep the first components only.
    fitted_on: int | None = None


@dataclass
class Clustering:
    """Cluster ids per point (-1 = HDBSCAN noise) and what produced them."""

    name: str
    labels: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    #: What places new points (kept for --update, never in the report): a scikit-learn model,
    #: centres or medoids, or HDBSCAN's fitted points.
    model: Any = None


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
    pca: PCAResult | None = None
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    clusterings: dict[str, Clustering] = field(default_factory=dict)
    silhouette_embedding: dict[str, float | None] = field(default_factory=dict)
    silhouette_maps: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_class: list[dict[str, Any]] = field(default_factory=list)
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)
    trust: dict[str, float | None] = field(default_factory=dict)
    knn_accuracy: dict[str, Any] = field(default_factory=dict)
    #: Zero-shot figures in the text space ({} without one): space, accuracy, macro_f1, …
    zero_shot: dict[str, Any] = field(default_factory=dict)
    #: Cluster captions ({} without a text space): space, vocabulary, clusterings → captions.
    captions: dict[str, Any] = field(default_factory=dict)
    #: Working state of the text stages (the text space, looked up once).
    text: dict[str, Any] = field(default_factory=dict)
    label_errors: list[dict[str, Any]] | None = None
    duplicates: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: Peak resident memory (GB) at the end of each stage (Stages.peak_rss_gb).
    peak_rss_gb: dict[str, float] = field(default_factory=dict)
    #: "cpu" or "cuda": where the vector maths ran.
    device: str = "cpu"
    #: The shared k-NN graph (graph.Neighbours) over ``graph_rows`` (None: every analysed point).
    graph: Any = None
    graph_rows: np.ndarray | None = None
    #: False when the graph is approximate (NN-descent or the index): figures from it are too.
    graph_exact: bool = True
    #: How the graph was found: exact, approximate (NN-descent) or index (the collection's HNSW).
    graph_method: str = "exact"
    #: Per-point payload fields beyond maps and clusters (knn_correct, …), one value per
    #: ``graph_rows`` entry; written back for labelled points only.
    point_fields: dict[str, np.ndarray] = field(default_factory=dict)
    #: Payload fields set on some analysed rows: {field: {row: value}} (None clears the field).
    row_payloads: dict[str, dict[int, Any]] = field(default_factory=dict)
    #: Leaks between splits (search.leaks.Leaks) and their counts (analysis.leaks.summarise).
    leaks: Any = None
    leak_summary: dict[str, Any] | None = None
    #: How each figure was obtained when not exactly: {figure: {"sample": s, "of": n, …}}.
    estimates: dict[str, Any] = field(default_factory=dict)
    #: What the methods fitted, kept beside the report for ``analyze --update``:
    #: ``"pca"``, ``"map/<projection>"``, ``"cluster/<clusterer>"`` → a picklable object.
    fitted: dict[str, Any] = field(default_factory=dict)
    #: True when the graph's indices are rows of every analysed point while its own rows are
    #: ``graph_rows`` (an update: the new points' neighbours among all points).
    graph_to_all: bool = False
    #: True when the vectors were streamed from a scratch file (--stream-from) instead of held.
    streamed: bool = False
