"""report.json as one typed model: the analysis writes it, the page and `compare` read it.

Every reader goes through :class:`Report` (``Report.read(path)``), so a figure has one name and
one shape. Sections that registered methods add (a projection's map, a clusterer's figures, a
per-point score) are keyed by the registered name, and readers iterate them: nothing lists the
names. Unknown keys are kept (``extra="allow"``), so a report written by a newer version still
opens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class DataInfo(_Section):
    """What was analysed."""

    points_total: int = 0
    points_analysed: int = 0
    dimension: int = 0
    labelled: bool = False
    classes: list[str] = Field(default_factory=list)
    #: The vectors were read once into a scratch file and streamed from it (--stream-from).
    streamed: bool = False


class KInfo(_Section):
    """The cluster count and how it was chosen."""

    mode: str = ""
    value: int = 0
    curve: list[dict[str, float]] = Field(default_factory=list)


class Silhouette(_Section):
    """Silhouettes of every labeling (true labels and each clustering) in the embedding and maps."""

    metric_embedding: str = "cosine"
    metric_maps: str = "euclidean"
    embedding: dict[str, float | None] = Field(default_factory=dict)
    maps: dict[str, dict[str, float | None]] = Field(default_factory=dict)


class KnnAccuracy(_Section):
    """k-NN accuracy per k, and where it came from."""

    source: str = ""
    points: int | None = None
    accuracy: dict[str, float] = Field(default_factory=dict)


class LabelError(_Section):
    """A point whose neighbours vote for another class."""

    id: str
    split: str | None = None
    index: int | None = None
    label: int
    label_name: str
    suggested: int
    suggested_name: str
    agreement: float
    vote_share: float
    mean_similarity: float


class DuplicatePair(_Section):
    """Two points at cosine ≥ the threshold."""

    id_a: str
    id_b: str
    split_a: str | None = None
    split_b: str | None = None
    index_a: int | None = None
    index_b: int | None = None
    similarity: float


class Duplicates(_Section):
    """Near-duplicate pairs: the total found and the listed ones, most similar first."""

    threshold: float | None = None
    total: int = 0
    pairs: list[DuplicatePair] = Field(default_factory=list)


class LeakPair(_Section):
    """A query-split point and its nearest reference-split point, at cosine ≥ the threshold."""

    id: str
    split: str | None = None
    index: int | None = None
    label_name: str | None = None
    partner_id: str
    partner_split: str | None = None
    partner_index: int | None = None
    partner_label_name: str | None = None
    similarity: float


class Leaks(_Section):
    """Leaks between splits: query points whose nearest reference point is a near-duplicate.

    ``per_split``: {split: {query, leaked, share}}; ``per_class``: [{label, name, query,
    leaked, share}] over the query points; ``pairs``: the listed ones, most similar first.
    """

    threshold: float
    reference_split: str
    query_splits: list[str] = Field(default_factory=list)
    query_points: int = 0
    leaked: int = 0
    share: float = 0.0
    per_split: dict[str, dict[str, Any]] = Field(default_factory=dict)
    per_class: list[dict[str, Any]] = Field(default_factory=list)
    pairs: list[LeakPair] = Field(default_factory=list)


class ScoreInfo(_Section):
    """A per-point score written to the payloads (see analysis.registry.register_score)."""

    title: str
    description: str = ""
    kind: str = "continuous"


class SummaryRow(BaseModel):
    """One headline figure."""

    figure: str
    value: float | int | None


class Report(_Section):
    """report.json."""

    run_id: str
    created_at: str
    collection: str
    report_dir: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    data: DataInfo = Field(default_factory=DataInfo)
    notes: list[str] = Field(default_factory=list)
    k: KInfo = Field(default_factory=KInfo)
    silhouette: Silhouette = Field(default_factory=Silhouette)
    per_class_silhouette: list[dict[str, Any]] = Field(default_factory=list)
    #: Clusterer name → its parameters, cluster count and (labelled data) ARI / NMI / contingency.
    clusterings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Projection name → trustworthiness of its map.
    trustworthiness: dict[str, float | None] = Field(default_factory=dict)
    trustworthiness_neighbors: int | None = None
    estimates: dict[str, Any] = Field(default_factory=dict)
    device: str = "cpu"
    knn_graph: dict[str, Any] = Field(default_factory=dict)
    knn_accuracy: KnnAccuracy = Field(default_factory=KnnAccuracy)
    #: Zero-shot accuracy in the text space (the collection's or a linked one's); {} without one.
    zero_shot: dict[str, Any] = Field(default_factory=dict)
    #: Cluster captions: {space, vocabulary, templates, clusterings: {name: [{cluster, size,
    #: caption, score, runner_up, runner_up_score}]}}; {} without a text space.
    captions: dict[str, Any] = Field(default_factory=dict)
    pca: dict[str, Any] = Field(default_factory=dict)
    #: None when the collection has no labels (the stage did not run).
    label_errors: list[LabelError] | None = None
    near_duplicates: Duplicates = Field(default_factory=Duplicates)
    #: None when the collection has no reference split (or no query split) to check.
    leaks: Leaks | None = None
    #: Per-point score name → what it is (the score's values are payload fields).
    point_scores: dict[str, ScoreInfo] = Field(default_factory=dict)
    payload_fields: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    peak_rss_gb: dict[str, float] = Field(default_factory=dict)
    #: Figure key (``map_umap``, ``contingency_kmeans``, …) → file name in the report folder.
    files: dict[str, str] = Field(default_factory=dict)
    animation: dict[str, Any] | None = None
    written_back: bool = False
    #: ``analyze --update`` runs since this run, oldest first: when, how many new points, what
    #: placed them (``placed``: field → points), what could not (``unplaced``), which figures
    #: were not recomputed, the share of the fitted points placed since, the seconds.
    updates: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Report:
        """Parse a report.json file."""
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))

    def summary_rows(self) -> list[SummaryRow]:
        """The headline figures (scores in 0..1), in one order for the HTML report, the page and
        `compare`."""
        rows: list[SummaryRow] = []
        for name, value in self.silhouette.embedding.items():
            rows.append(SummaryRow(figure=f"silhouette cosine ({name})", value=value))
        for proj, per in self.silhouette.maps.items():
            for name, value in per.items():
                rows.append(SummaryRow(figure=f"silhouette {proj} map ({name})", value=value))
        for proj, value in self.trustworthiness.items():
            rows.append(SummaryRow(figure=f"trustworthiness {proj}", value=value))
        for name, c in self.clusterings.items():
            for key in ("ari", "nmi"):
                if key in c:
                    rows.append(SummaryRow(figure=f"{key.upper()} {name}", value=c[key]))
        for k, acc in self.knn_accuracy.accuracy.items():
            rows.append(SummaryRow(figure=f"{k}-NN accuracy", value=acc))
        if self.zero_shot.get("accuracy") is not None:
            rows.append(SummaryRow(figure=f"zero-shot accuracy ({self.zero_shot['space']})",
                                   value=self.zero_shot["accuracy"]))
        return rows

    def count_rows(self) -> list[SummaryRow]:
        """What the findings count: label errors listed, near-duplicate pairs found."""
        rows: list[SummaryRow] = []
        if self.label_errors is not None:
            rows.append(SummaryRow(figure="likely label errors listed", value=len(self.label_errors)))
        if self.near_duplicates.threshold is not None:
            rows.append(SummaryRow(figure=f"near-duplicate pairs (cosine ≥ {self.near_duplicates.threshold})",
                                   value=self.near_duplicates.total))
        if self.leaks is not None:
            rows.append(SummaryRow(
                figure=f"leaked {'/'.join(self.leaks.query_splits)} points (nearest "
                       f"{self.leaks.reference_split} at cosine ≥ {self.leaks.threshold})",
                value=self.leaks.leaked))
            rows.append(SummaryRow(figure="share of query points leaked", value=self.leaks.share))
        return rows
