"""Settings of the analysis job: one pydantic-settings class, fed by EMBEDSCOPE_ANALYSIS_* and flags.

--projections and --clusterers are checked against the registries (embedscope.analysis.registry,
a light module; the package's ``__init__`` registers the built-ins), so a newly registered
method is accepted here without an edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from embedscope.analysis.registry import CLUSTERERS, PROJECTIONS
from embedscope.errors import UsageError

#: The ways to build the shared k-NN graph (--graph).
GRAPHS = ("auto", "exact", "approximate", "index")


def parse_list(value: str, allowed: Iterable[str], what: str) -> list[str]:
    """Split a comma-separated choice list and check every entry (empty string: none).

    Args:
        value: The comma-separated names, e.g. ``"umap,pca"``.
        allowed: The registered names, in the order error messages list them.
        what: The flag without dashes, e.g. ``"projections"``.

    Returns:
        The names, lower-cased, without repeats, in the given order.

    Raises:
        UsageError: A name is not registered; the message lists the registered ones.
    """
    allowed = tuple(allowed)
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise UsageError(
            f"unknown {what} {', '.join(bad)}: choose from {', '.join(allowed)} "
            f"(comma-separated, e.g. --{what} {','.join(allowed)})"
        )
    return list(dict.fromkeys(items))


class AnalysisSettings(BaseSettings):
    """Everything `embedscope analyze`, `compare` and `python -m embedscope.analysis` can be told."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_ANALYSIS_", extra="ignore")

    collection: str | None = Field(default=None, description="Collection to analyse (required).")
    sample: int = Field(
        default=0, ge=0,
        description="Analyse a random sample of this many points (stratified by label when "
        "labelled); 0 = all points.",
    )
    seed: int = Field(default=0, description="Seed for sampling, UMAP, t-SNE, k-means, k-medoids.")
    projections: str = Field(
        default="umap,pca",
        description="2-D maps to compute, comma-separated: umap,tsne,pca (t-SNE is opt-in: it is "
        "fitted on at most --tsne-max-points points).",
    )
    clusterers: str = Field(
        default="kmeans,kmedoids,hdbscan",
        description="Clusterings to compute, comma-separated: kmeans,kmedoids,hdbscan.",
    )
    clusters: str = Field(
        default="labels",
        description="Number of clusters for k-means/k-medoids: an integer, 'labels' (the number "
        "of classes; 10 when unlabelled) or 'auto' (best cosine silhouette of k-means over "
        "--clusters-min..--clusters-max).",
    )
    clusters_min: int = Field(default=2, ge=2, description="Fewest clusters tried by --clusters auto.")
    clusters_max: int = Field(default=20, ge=2, description="Most clusters tried by --clusters auto.")
    umap_neighbors: int = Field(default=15, ge=2, description="UMAP n_neighbors.")
    umap_min_dist: float = Field(default=0.1, ge=0.0, description="UMAP min_dist.")
    tsne_perplexity: float = Field(default=30.0, gt=0, description="t-SNE perplexity.")
    pca_components: int = Field(
        default=50, ge=2, description="Principal components fitted (explained-variance plot)."
    )
    kmeans_n_init: int = Field(default=3, ge=1, description="k-means restarts (k-means++ init).")
    kmeans_max_points: int = Field(
        default=200000, ge=10,
        description="k-means centres are fitted on at most this many points (a seeded sample; "
        "scikit-learn copies the data it fits); every point then gets its nearest centre.",
    )
    kmedoids_max_points: int = Field(
        default=10000, ge=10,
        description="FasterPAM needs an n×n dissimilarity matrix: above this many points it runs "
        "on a seeded sample of this size and every point joins its nearest medoid.",
    )
    stream_from: int = Field(
        default=200000, ge=0,
        description="From this many analysed points on, the vectors read from the store go into "
        "a scratch file (--scratch-dir) that every stage reads in blocks, so memory holds "
        "samples and per-point results rather than N vectors (0: always in memory).",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="Where --stream-from's scratch file of vectors goes (default: the system's "
        "temporary directory; a memory-backed /tmp holds them in memory after all, and the "
        "report says so). Removed as soon as it is opened.",
    )
    hdbscan_min_cluster_size: int = Field(default=15, ge=2, description="HDBSCAN min_cluster_size.")
    hdbscan_space: str = Field(
        default="pca",
        description="Where HDBSCAN runs: 'pca' (the first --hdbscan-dims principal components, "
        "fast), 'vectors' (the full L2-normalised vectors, euclidean = cosine order) or 'umap'.",
    )
    hdbscan_dims: int = Field(default=10, ge=2, description="Principal components for HDBSCAN.")
    trust_neighbors: int = Field(default=5, ge=1, description="Trustworthiness n_neighbors.")
    trust_sample: int = Field(
        default=2000, ge=0,
        description="Trustworthiness is estimated on a seeded sample of this many points "
        "(exact when there are no more points; 0 = always exact, quadratic).",
    )
    silhouette_sample: int = Field(
        default=5000, ge=0,
        description="The 2-D map silhouettes are estimated on a seeded sample of this many points "
        "against all points (exact when there are no more; 0 = always exact, quadratic).",
    )
    knn_ks: str = Field(default="1,5,10,20", description="k values of the k-NN accuracy figure.")
    knn_query_split: str | None = Field(
        default=None, description="k-NN accuracy: split of the queries (unset: leave-one-out on "
        "the analysed points, from the shared k-NN graph; set: search.knn.evaluate on the whole "
        "collection).",
    )
    knn_reference_split: str | None = Field(
        default=None, description="k-NN accuracy: split searched (unset: all points)."
    )
    text_space: str | None = Field(
        default=None, description="The collection whose text tower gives zero-shot accuracy and "
        "cluster captions (unset: the collection itself when its model embeds text, else the "
        "first linked collection of the same dataset that does).",
    )
    zero_shot_prompts: list[str] = Field(
        default_factory=lambda: ["a photo of a {}."], description="Zero-shot accuracy and the "
        "default caption vocabulary: prompt templates with {} for the class name (several are "
        "averaged).", json_schema_extra={"flag": "--prompt"},
    )
    vocabulary: str | None = Field(
        default=None, description="Cluster captions: a text file with one phrase a line, "
        "embedded as written (unset: the class names put into the prompts).",
    )
    graph: str = Field(
        default="auto",
        description="The shared k-NN graph: 'exact' (blocked matrix products, n²·d; every figure "
        "equals scikit-learn's), 'approximate' (NN-descent, as umap-learn builds its own), "
        "'index' (every point's neighbours through the collection's HNSW index, batched "
        "queries) or 'auto' (exact up to --graph-max-points, index above). Approximate graphs "
        "state their recall against exact search, measured on a seeded sample, in the report.",
    )
    graph_max_points: int = Field(
        default=100000, ge=100,
        description="The exact k-NN graph covers at most this many points (it costs n²·d): "
        "above, --graph auto scores every point through the collection's index, and exact or "
        "approximate cover a seeded sample of this many.",
    )
    graph_ef: int = Field(
        default=0, ge=0,
        description="HNSW beam width of the every-point graph's searches (--graph index): lower "
        "is faster and finds fewer of the exact neighbours; report.json states the recall "
        "either way. 0: the narrowest of 32, 64, 128, 256 that finds 99% of the exact "
        "neighbours of a seeded pilot of 256 points.",
    )
    map_max_points: int = Field(
        default=100000, ge=100,
        description="UMAP is fitted on at most this many points (a seeded sample); the others "
        "are placed with UMAP's transform.",
    )
    tsne_max_points: int = Field(
        default=10000, ge=100,
        description="t-SNE is fitted on at most this many points (a seeded sample); the others "
        "are placed at the similarity-weighted mean of their 10 nearest fitted points.",
    )
    hdbscan_max_points: int = Field(
        default=20000, ge=100,
        description="HDBSCAN (quadratic in scikit-learn) runs on at most this many points (a "
        "seeded sample); the others join the cluster of their nearest sampled point.",
    )
    device: str = Field(
        default="auto",
        description="Device of the vector maths (k-NN graph, silhouettes, k-means): auto (CUDA "
        "when torch sees a GPU; then UMAP uses cuML when installed) | cpu | cuda.",
    )
    label_error_k: int = Field(default=10, ge=1, description="Neighbours voting on label errors.")
    label_error_max_agreement: float = Field(
        default=0.2, ge=0.0, le=1.0,
        description="A point is a likely label error when at most this fraction of its k "
        "nearest neighbours share its label and the majority votes another class.",
    )
    duplicate_threshold: float = Field(
        default=0.98, gt=-1.0, le=1.0, description="Cosine similarity above which two points "
        "are near-duplicates.",
    )
    leak_threshold: float | None = Field(
        default=None, gt=-1.0, le=1.0,
        description="Leaks between splits: a query-split point leaks when its nearest "
        "reference-split point is at cosine ≥ this (unset: --duplicate-threshold).",
    )
    leak_reference_split: str = Field(
        default="train", description="Leaks between splits: the split leaked into (searched "
        "exactly for each query point's nearest neighbour).",
    )
    leak_query_splits: str = Field(
        default="", description="Leaks between splits: the splits checked, comma-separated "
        "(empty: every split but --leak-reference-split, e.g. test and validation).",
    )
    uniqueness_k: int = Field(
        default=10, ge=1, description="Neighbours of the uniqueness score (1 − the mean cosine "
        "of the k nearest other points).",
    )
    max_list: int = Field(
        default=200, ge=1, description="Longest label-error / duplicate list kept."
    )
    thumbnails_per_cluster: int = Field(default=8, ge=1, description="Thumbnails per cluster row.")
    animate: bool = Field(
        default=False, description="Write a GIF of k-means / k-medoids iterations on the 2-D map."
    )
    animate_points: int = Field(default=1500, ge=10, description="Points drawn in the animation.")
    animate_steps: int = Field(default=12, ge=1, description="Iterations shown in the animation.")
    chunk_size: int = Field(
        default=1024, ge=16, description="Rows per chunk in silhouette, trustworthiness and k-NN."
    )
    write_back: bool = Field(
        default=True, description="Write 2-D coordinates and cluster ids into point payloads."
    )
    reindex: bool = Field(
        default=True,
        description="After writing payloads back into an embedded collection whose HNSW index "
        "was built, build it again: the engine moves every point whose payload changes out of "
        "the index, so until then each search scans those points (skip it only when more "
        "writes follow, e.g. an ingest with --index wait).",
    )
    out: Path | None = Field(
        default=None,
        description="Report directory (default: <data_dir>/reports/<collection>/).",
    )
    keep_fitted: bool = Field(
        default=True,
        description="Keep what a full run fitted (UMAP, PCA, k-means centres, k-medoids medoids, "
        "HDBSCAN's fitted points) as fitted.joblib beside the report, for --update.",
    )
    update: bool = Field(
        default=False,
        description="Place only the points ingested since the last full run (each counted "
        "once) with the models it kept, wherever it recorded them: UMAP/PCA transform, nearest "
        "centre or medoid, HDBSCAN's nearest fitted point, their per-point scores and their "
        "leaks into the reference split; old points do not move and the run's figures are not "
        "recomputed (t-SNE cannot place new points).",
    )
    refit: bool = Field(
        default=False,
        description="A full run (refit every map and clustering) even when --update is set.",
    )
    update_refit_share: float = Field(
        default=0.2, gt=0.0,
        description="--update suggests --refit once the points it placed since the last full "
        "run exceed this share of the points that run fitted (it still places them).",
    )
    first_map: bool = Field(
        default=False,
        description="Only a first map, within a minute of the vectors being stored (before "
        "the index build and the full report): PCA of every point and a UMAP fitted on "
        "--first-map-points with the others at their nearest fitted points; writes the map "
        "payloads and map files, and the next full run replaces it.",
    )
    first_map_points: int = Field(
        default=20000, ge=100,
        description="--first-map fits its UMAP on a seeded sample of this many points.",
    )
    progress: bool = Field(default=True, description="Progress bars and stage lines on stderr.")

    def incremental(self) -> bool:
        """True when this run places new points only (--update without --refit)."""
        return self.update and not self.refit

    def projection_list(self) -> list[str]:
        """The chosen 2-D maps (registered projection names)."""
        return parse_list(self.projections, PROJECTIONS, "projections")

    def clusterer_list(self) -> list[str]:
        """The chosen clusterings (registered clusterer names)."""
        return parse_list(self.clusterers, CLUSTERERS, "clusterers")

    def effective_leak_threshold(self) -> float:
        """The leak threshold: --leak-threshold, else --duplicate-threshold."""
        return self.duplicate_threshold if self.leak_threshold is None else self.leak_threshold

    def leak_query_list(self) -> list[str]:
        """The query splits of the leak search (empty: every split but the reference one)."""
        return [v.strip() for v in self.leak_query_splits.split(",") if v.strip()]

    def knn_k_list(self) -> list[int]:
        """The k values of the k-NN accuracy figure."""
        try:
            ks = sorted({int(v) for v in self.knn_ks.split(",") if v.strip()})
        except ValueError as exc:
            raise UsageError(f"--knn-ks {self.knn_ks!r}: expected integers like 1,5,10") from exc
        if any(k < 1 for k in ks):
            raise UsageError(f"--knn-ks {self.knn_ks!r}: every k must be at least 1")
        return ks

    def k_choice(self) -> int | str:
        """The cluster count of k-means / k-medoids: an int, 'labels' or 'auto'."""
        value = self.clusters.strip().lower()
        if value in ("labels", "auto"):
            return value
        try:
            k = int(value)
        except ValueError as exc:
            raise UsageError(
                f"--clusters {self.clusters!r}: expected an integer, 'labels' or 'auto'"
            ) from exc
        if k < 2:
            raise UsageError(f"--clusters {k}: a clustering needs at least 2 clusters")
        return k

    def check(self) -> None:
        """Validate cross-field choices early, before any data is read."""
        self.projection_list()
        self.clusterer_list()
        self.knn_k_list()
        self.k_choice()
        if self.clusters_max < self.clusters_min:
            raise UsageError(
                f"--clusters-max {self.clusters_max} is below --clusters-min {self.clusters_min}"
            )
        if self.graph not in GRAPHS:
            raise UsageError(f"--graph {self.graph!r}: choose {', '.join(GRAPHS)}")
        if self.hdbscan_space not in ("pca", "vectors", "umap"):
            raise UsageError(
                f"--hdbscan-space {self.hdbscan_space!r}: choose pca, vectors or umap"
            )
        from embedscope.analysis.device import DEVICES

        if self.device.strip().lower() not in DEVICES:
            raise UsageError(f"--device {self.device!r}: choose auto, cpu or cuda")
        if not self.collection:
            raise UsageError(
                "no collection given: pass --collection NAME or set EMBEDSCOPE_ANALYSIS_COLLECTION "
                "(`embedscope collections` lists them)"
            )
