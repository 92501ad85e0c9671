"""The collection contract other services rely on: names, point ids, payload fields, metadata."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, Field

from embedscope.errors import MixedSpaceError

#: Namespace for point ids: uuid5(NAMESPACE, "<dataset>/<split>/<index>") or "<dataset>/file/<relpath>".
NAMESPACE = uuid.UUID("6f1c2a4e-5b7d-4c1e-9a3f-2d8e7b6c5a41")



class Payload:
    """Payload field names: the one spelling that writers and readers (and other services) share."""

    DATASET = "dataset"
    SPLIT = "split"
    INDEX = "index"
    LABEL = "label"
    LABEL_NAME = "label_name"
    SOURCE = "source"
    WIDTH = "width"
    HEIGHT = "height"
    THUMBNAIL = "thumbnail"
    MODEL = "model"
    INGESTED_AT = "ingested_at"
    #: Tags a user gives points on the page (a list of keywords).
    TAGS = "tags"
    #: Set by analysis on each point of a query split (test, validation): {"partner": id of its
    #: nearest reference-split (train) point, "similarity": cosine} when that point is at cosine
    #: ≥ the leak threshold, else null.
    LEAK = "leak"
    #: Set by `analyze --update` on each point it placed: the run id of the full run whose fitted
    #: models placed it, so that a later update counts the point as new no more (whichever maps
    #: could place it).
    PLACED_BY = "placed_by"
    #: Prefix of a clusterer's ids: ``cluster_<clusterer name>``.
    CLUSTER_PREFIX = "cluster_"

    @staticmethod
    def cluster(clusterer: str) -> str:
        """The payload field holding the cluster ids of ``clusterer`` (``cluster_kmeans``)."""
        return Payload.CLUSTER_PREFIX + clusterer

    @staticmethod
    def projection(projection: str) -> str:
        """The payload field holding the [x, y] coordinates of ``projection`` (``umap``)."""
        return projection


#: Payload fields written at ingestion.
PAYLOAD_FIELDS = (
    Payload.DATASET, Payload.SPLIT, Payload.INDEX, Payload.LABEL, Payload.LABEL_NAME, Payload.SOURCE,
    Payload.WIDTH, Payload.HEIGHT, Payload.THUMBNAIL, Payload.MODEL, Payload.INGESTED_AT,
)
#: Fields that get payload indexes (keyword and integer).
INDEXED_FIELDS = {Payload.SPLIT: "keyword", Payload.LABEL: "integer", Payload.TAGS: "keyword"}
#: Metadata format version, bumped when the metadata layout changes incompatibly.
CONTRACT_VERSION = 1

#: How a collection's vectors may be compressed for search (the originals are always kept, for
#: rescoring): none, int8 (scalar, 4× smaller), binary (1 bit a dimension, 32×), turbo4
#: (TurboQuant, 4 bits a dimension, 8×).
QUANTIZATIONS = ("none", "int8", "binary", "turbo4")
#: How many times k candidates a quantized search draws before rescoring them with the original
#: vectors, when the search does not say (measured: docs/benchmarks.md, quantized search).
DEFAULT_OVERSAMPLING = {"none": 1.0, "int8": 2.0, "binary": 4.0, "turbo4": 2.0}


def slug(text: str) -> str:
    """Lower-case slug: runs of anything but [a-z0-9] become one underscore."""
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return out or "unnamed"


def dataset_slug(dataset: str) -> str:
    """Slug for a dataset given as a hub name, a file or a directory.

    ``zalando-datasets/fashion_mnist`` → ``fashion_mnist``; ``./data/photos/`` → ``photos``;
    ``train.parquet`` inside ``fashion_mnist_sample`` → ``fashion_mnist_sample``.
    """
    path = PurePath(dataset.rstrip("/\\"))
    name = path.name
    if path.suffix.lower() == ".parquet":
        stem = path.stem
        # HF layout: <name>/<split>.parquet or <name>/<split>-00000-of-00001.parquet.
        if re.match(r"^(train|test|validation|valid|val)([-_].*)?$", stem) and path.parent.name:
            name = path.parent.name
        else:
            name = stem
    return slug(name)


def model_slug(model: str) -> str:
    """Slug for a model: ``facebook/dinov2-small`` → ``dinov2_small``; a local dir → its name."""
    return slug(PurePath(model.rstrip("/\\")).name)


def collection_name(dataset: str, model: str) -> str:
    """The collection for a dataset and a model: ``<dataset>__<model>``."""
    return f"{dataset_slug(dataset)}__{model_slug(model)}"


def row_point_id(dataset: str, split: str, index: int) -> str:
    """Point id of row ``index`` of ``split`` in a tabular (parquet/hub) dataset."""
    return str(uuid.uuid5(NAMESPACE, f"{dataset}/{split}/{index}"))


def file_point_id(dataset: str, relpath: str) -> str:
    """Point id of an image file, from its path relative to the dataset root (POSIX form)."""
    return str(uuid.uuid5(NAMESPACE, f"{dataset}/file/{relpath}"))


def now_iso() -> str:
    """UTC timestamp in ISO 8601, seconds precision."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class CollectionMeta(BaseModel):
    """Collection-level metadata: what space the vectors live in, and what the labels mean.

    On a Qdrant server it is the collection's metadata; embedded, a JSON file beside the shard.
    """

    model: str = Field(description="Model name or path the vectors came from ('pixels' baseline).")
    revision: str | None = Field(default=None, description="Model revision / commit hash.")
    image_size: int | None = Field(default=None, description="Input resolution (None: native).")
    pooling: str = Field(default="cls", description="cls | mean | cls+mean | pixels.")
    dimension: int = Field(description="Vector dimension.")
    distance: str = "cosine"
    dataset: str = Field(default="", description="Dataset as given at ingestion.")
    labels: list[str] = Field(default_factory=list, description="Class names; index = label id.")
    text: bool = Field(
        default=False, description="Whether the space's model embeds text too (CLIP, SigLIP): "
        "search by words, zero-shot labels and cluster captions work in it.",
    )
    quantization: Literal["none", "int8", "binary", "turbo4"] = Field(
        default="none", description="How the vectors are compressed for search (none | int8 | "
        "binary | turbo4); the originals are kept and rescore the candidates.",
    )
    vectors_on_disk: bool = Field(
        default=False, description="Whether the original vectors stay on disk (memory-mapped, "
        "read for rescoring) rather than in RAM.",
    )
    hnsw_on_disk: bool = Field(
        default=False, description="Whether the HNSW graph stays on disk (memory-mapped).",
    )
    contract_version: int = CONTRACT_VERSION
    created_at: str = Field(default_factory=now_iso)
    analysis: dict[str, Any] = Field(
        default_factory=dict, description="Which analysis run wrote which payload fields."
    )

    def storage(self) -> dict[str, Any]:
        """How the vectors are kept: quantization and what stays on disk."""
        return {"quantization": self.quantization, "vectors_on_disk": self.vectors_on_disk,
                "hnsw_on_disk": self.hnsw_on_disk}

    def storage_text(self) -> str:
        """One phrase for listings: "int8, vectors on disk" ("float32 in RAM" when plain)."""
        parts: list[str] = [self.quantization if self.quantization != "none" else "float32"]
        if self.vectors_on_disk:
            parts.append("vectors on disk")
        if self.hnsw_on_disk:
            parts.append("HNSW on disk")
        if parts == ["float32"]:
            return "float32 in RAM"
        return ", ".join(parts)

    def dataset_key(self) -> str:
        """The dataset as point ids name it (its slug): collections with the same key share ids."""
        return dataset_slug(self.dataset) if self.dataset else ""

    def space(self) -> dict[str, Any]:
        """The fields that define the vector space; two collections mix only if these agree."""
        return {
            "model": self.model, "revision": self.revision, "image_size": self.image_size,
            "pooling": self.pooling, "dimension": self.dimension,
        }

    def flags(self) -> str:
        """The ingest flags that reproduce this space."""
        out = f"--model {self.model}"
        if self.model != "pixels":
            out += f" --pooling {self.pooling}"
        if self.image_size:
            out += f" --image-size {self.image_size}"
        return out

    def check_same_space(self, other: CollectionMeta, collection: str) -> None:
        """Raise MixedSpaceError naming both spaces unless ``other`` (asked for) matches self."""
        mine, theirs = self.space(), other.space()
        if theirs.get("revision") is None:
            mine.pop("revision")
            theirs.pop("revision")
        if mine == theirs:
            return
        diff = ", ".join(
            f"{k} {mine[k]!r} (asked: {theirs[k]!r})" for k in mine if mine[k] != theirs[k]
        )
        raise MixedSpaceError(
            f"collection {collection} was built with {self.model} ({self.dimension}-d, "
            f"pooling {self.pooling}, image size {self.image_size}); you asked for {other.model} "
            f"({other.dimension}-d, pooling {other.pooling}, image size {other.image_size}). "
            f"Differences: {diff}. Vectors from different spaces never share a collection: "
            f"add to it with {self.flags()}, "
            f"use --collection NAME for a new collection, or --recreate to replace this one."
        )
