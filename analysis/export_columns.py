"""The columns of an export: which the collection has, their arrow types, and a page of points as rows.

Analysis columns come from the registries (every projection, clusterer and per-point score the
collection's last analysis wrote; see embedscope.analysis.registry) and the contract's field
names, so a newly registered method is exported without an edit here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.analysis.registry import CLUSTERERS, PROJECTIONS, SCORES
from embedscope.contract import CollectionMeta, Payload
from embedscope.store import Record

#: Columns from the ingestion payload, with their descriptions (the dataset card's table).
BASE = {
    "row": "the row's number in the whole export (files in name order): what `neighbors.ids` "
    "refer to",
    "id": "the point's id in the Qdrant collection (UUID5 of dataset, split and index)",
    Payload.DATASET: "the dataset as given at ingestion",
    Payload.SPLIT: "the dataset split (also the 🤗 split of the row's file)",
    Payload.INDEX: "the row's index in its split of the source dataset",
    Payload.LABEL: "the class id (null: unlabelled)",
    Payload.LABEL_NAME: "the class name",
    Payload.SOURCE: "path or URI of the image when it came from a file",
    Payload.WIDTH: "the image's width in pixels",
    Payload.HEIGHT: "the image's height in pixels",
    Payload.TAGS: "tags given on embedscope's page",
}
NEIGHBORS = "neighbors"
VECTOR = "vector"
LEAK_PARTNER, LEAK_PARTNER_ROW, LEAK_SIMILARITY = "leak_partner", "leak_partner_row", "leak_similarity"


@dataclass
class Plan:
    """The columns of one export, decided before the first row is written."""

    dimension: int
    labels: list[str]
    vectors: bool
    thumbnails: bool
    neighbors: int
    maps: list[str] = field(default_factory=list)
    clusterings: list[str] = field(default_factory=list)
    scores: list[str] = field(default_factory=list)
    leak: bool = False

    def payload_fields(self) -> list[str]:
        """The payload fields a page is read with."""
        out = [f for f in BASE if f not in ("row", "id")]
        out += [Payload.projection(p) for p in self.maps]
        out += [Payload.cluster(c) for c in self.clusterings] + list(self.scores)
        out += [Payload.LEAK] if self.leak else []
        return out + ([Payload.THUMBNAIL] if self.thumbnails else [])

    def schema(self) -> Any:
        """The arrow schema of every file."""
        import pyarrow as pa

        cols = [("row", pa.int64()), ("id", pa.string()), (Payload.DATASET, pa.string()),
                (Payload.SPLIT, pa.string()), (Payload.INDEX, pa.int64()),
                (Payload.LABEL, pa.int64()), (Payload.LABEL_NAME, pa.string()),
                (Payload.SOURCE, pa.string()), (Payload.WIDTH, pa.int32()),
                (Payload.HEIGHT, pa.int32()), (Payload.TAGS, pa.list_(pa.string()))]
        if self.vectors:
            cols.append((VECTOR, pa.list_(pa.float32(), self.dimension)))
        for p in self.maps:
            cols += [(f"{p}_x", pa.float32()), (f"{p}_y", pa.float32())]
        cols += [(Payload.cluster(c), pa.int32()) for c in self.clusterings]
        cols += [(s, pa.int8() if SCORES[s].kind == "binary" else pa.float64())
                 for s in self.scores]
        if self.leak:
            cols += [(LEAK_PARTNER, pa.string()), (LEAK_PARTNER_ROW, pa.int64()),
                     (LEAK_SIMILARITY, pa.float32())]
        if self.neighbors:
            cols.append((NEIGHBORS, pa.struct([("ids", pa.list_(pa.int64())),
                                               ("distances", pa.list_(pa.float32()))])))
        if self.thumbnails:
            cols.append((Payload.THUMBNAIL, pa.struct([("bytes", pa.binary()),
                                                       ("path", pa.string())])))
        return pa.schema(cols)

    def descriptions(self) -> dict[str, str]:
        """Every column's meaning, for the dataset card."""
        out = dict(BASE)
        if self.vectors:
            out[VECTOR] = (f"the embedding: {self.dimension} float32 values, L2-normalised "
                           "(cosine similarity = dot product)")
        for p in self.maps:
            out[f"{p}_x"] = f"x of the point on the {PROJECTIONS[p].title} map"
            out[f"{p}_y"] = f"y of the point on the {PROJECTIONS[p].title} map"
        for c in self.clusterings:
            out[Payload.cluster(c)] = (f"cluster id by {CLUSTERERS[c].title} (-1: noise; null: "
                                       "not clustered)")
        for s in self.scores:
            out[s] = f"{SCORES[s].title}: {SCORES[s].description}"
        if self.leak:
            out[LEAK_PARTNER] = ("id of the nearest reference-split point when it is at cosine ≥ "
                                 "the leak threshold (a train/test leak), else null")
            out[LEAK_PARTNER_ROW] = "the row of that partner in this export"
            out[LEAK_SIMILARITY] = "cosine similarity to that partner"
        if self.neighbors:
            out[NEIGHBORS] = (f"the {self.neighbors} nearest other points: `ids` are row "
                              "numbers of this export, `distances` cosine distances (1 − cosine), "
                              "nearest first (Embedding Atlas's --neighbors format)")
        if self.thumbnails:
            out[Payload.THUMBNAIL] = "the stored thumbnail (PNG or JPEG bytes; 🤗 Image feature)"
        return out


def plan(meta: CollectionMeta, vectors: bool, thumbnails: bool, neighbors: int) -> Plan:
    """The columns: ingestion's, then those of every registered method the analysis wrote."""
    written = set(meta.analysis.get("fields") or [])
    return Plan(
        dimension=meta.dimension, labels=list(meta.labels), vectors=vectors,
        thumbnails=thumbnails, neighbors=neighbors,
        maps=[p for p in PROJECTIONS if Payload.projection(p) in written],
        clusterings=[c for c in CLUSTERERS if Payload.cluster(c) in written],
        scores=[s for s in SCORES if s in written], leak=Payload.LEAK in written,
    )


def image_bytes(raw: Any) -> bytes | None:
    """A base64 thumbnail payload (or a data: URI) decoded to its image bytes (None: absent or bad)."""
    if not raw or not isinstance(raw, str):
        return None
    if raw.startswith("data:"):
        raw = raw.split(",", 1)[-1]
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(value)] if isinstance(value, str) else [str(t) for t in value]


def _num(value: Any, kind: type) -> Any:
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None


def page_columns(plan: Plan, records: Sequence[Record], first_row: int, rows_of: Any,
                 neighbours: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
    """One page of points as column values (lists or arrays), in the schema's order.

    Args:
        plan: The columns.
        records: The page (payloads with ``plan.payload_fields()``, vectors when needed).
        first_row: The export row of ``records[0]``.
        rows_of: ``rows_of(ids: list[str]) -> (m,) rows`` (-1 when unknown), for leak partners.
        neighbours: (rows, distances) of shape (len(records), k), rows -1 where none.
    """
    payloads = [r.payload for r in records]

    def get(name: str, kind: type | None = None) -> list[Any]:
        values = [p.get(name) for p in payloads]
        return values if kind is None else [_num(v, kind) for v in values]

    cols: dict[str, Any] = {"row": np.arange(first_row, first_row + len(records), dtype=np.int64),
                            "id": [r.id for r in records]}
    cols[Payload.DATASET] = get(Payload.DATASET, str)
    cols[Payload.SPLIT] = get(Payload.SPLIT, str)
    cols[Payload.INDEX] = get(Payload.INDEX, int)
    cols[Payload.LABEL] = get(Payload.LABEL, int)
    cols[Payload.LABEL_NAME] = get(Payload.LABEL_NAME, str)
    cols[Payload.SOURCE] = get(Payload.SOURCE, str)
    cols[Payload.WIDTH] = get(Payload.WIDTH, int)
    cols[Payload.HEIGHT] = get(Payload.HEIGHT, int)
    cols[Payload.TAGS] = [_tags(v) for v in get(Payload.TAGS)]
    if plan.vectors:
        cols[VECTOR] = np.vstack([np.asarray(r.vector, np.float32) for r in records]) \
            if records else np.zeros((0, plan.dimension), np.float32)
    for p in plan.maps:
        xy = [v if isinstance(v, (list, tuple)) and len(v) == 2 else (None, None)
              for v in get(Payload.projection(p))]
        cols[f"{p}_x"] = [_num(v[0], float) for v in xy]
        cols[f"{p}_y"] = [_num(v[1], float) for v in xy]
    for c in plan.clusterings:
        cols[Payload.cluster(c)] = get(Payload.cluster(c), int)
    for s in plan.scores:
        cols[s] = get(s, int if SCORES[s].kind == "binary" else float)
    if plan.leak:
        leaks = [v if isinstance(v, dict) else {} for v in get(Payload.LEAK)]
        partners = [None if v.get("partner") is None else str(v["partner"]) for v in leaks]
        known = [p for p in partners if p is not None]
        found = dict(zip(known, (int(r) for r in rows_of(known)), strict=True)) if known else {}
        cols[LEAK_PARTNER] = partners
        cols[LEAK_PARTNER_ROW] = [None if p is None or found.get(p, -1) < 0 else found[p]
                                  for p in partners]
        cols[LEAK_SIMILARITY] = [_num(v.get("similarity"), float) for v in leaks]
    if plan.neighbors:
        rows, dist = neighbours if neighbours is not None else (np.zeros((0, 0)), np.zeros((0, 0)))
        cols[NEIGHBORS] = [{"ids": [int(x) for x in r[r >= 0]], "distances": [float(x) for x in d[r >= 0]]}
                           for r, d in zip(rows, dist, strict=True)]
    if plan.thumbnails:
        cols[Payload.THUMBNAIL] = [None if (b := image_bytes(v)) is None else {"bytes": b, "path": None}
                                   for v in get(Payload.THUMBNAIL)]
    return cols


def record_batch(plan: Plan, schema: Any, cols: dict[str, Any]) -> Any:
    """The page as an arrow RecordBatch of ``schema``."""
    import pyarrow as pa

    arrays = []
    for f in schema:
        value = cols[f.name]
        if f.name == VECTOR:
            flat = pa.array(np.ascontiguousarray(value, np.float32).ravel(), pa.float32())
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, plan.dimension))
        else:
            arrays.append(pa.array(value, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def hf_features(plan: Plan, schema: Any) -> Any:
    """The 🤗 datasets Features of the export: the thumbnail an Image, the label a ClassLabel."""
    from datasets import ClassLabel, Features, Image

    features = Features.from_arrow_schema(schema)
    if plan.thumbnails:
        features[Payload.THUMBNAIL] = Image()
    if plan.labels:
        features[Payload.LABEL] = ClassLabel(names=plan.labels)
    return features


def hf_schema_metadata(features: Any) -> dict[bytes, bytes]:
    """The parquet schema metadata 🤗 datasets reads the features from (as its own files have)."""
    return {b"huggingface": json.dumps({"info": {"features": features.to_dict()}}).encode()}
