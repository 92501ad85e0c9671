"""Bring your own vectors: precomputed vectors from a dataset column, checked and normalised per row.

``embedscope ingest --vector-column emb [--space NAME]`` stores the column's vectors instead of
running a model: each row's vector must be finite, non-zero and of the collection's dimension
(a bad row is a reported reject naming its split and row, never a crash); vectors are
L2-normalised like a model's. Images, when the dataset has them, still give thumbnails.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedscope.contract import CollectionMeta
from embedscope.errors import UsageError
from embedscope.ingest.items import Item
from embedscope.ingest.models import Embedder

#: The pooling recorded for precomputed vectors (their space is named, not built here).
POOLING = "precomputed"


class PrecomputedVectors(Embedder):
    """The space of vectors made elsewhere: named by ``--space``, of a fixed dimension."""

    pooling = POOLING

    def __init__(self, space: str, dimension: int) -> None:
        self.name = space
        self.dimension = dimension
        self.mode = "RGB"
        self.decode_size = None
        self.device = "cpu"

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Never called: the vectors come with the rows (`check_rows`)."""
        raise UsageError(f"space {self.name!r} holds precomputed vectors: there is no model to "
                         "embed images with (query it by --id, or by a vector from the same model)")

    def meta(self, dataset: str, labels: list[str]) -> CollectionMeta:
        """Metadata of the named space (no image size, no text tower)."""
        return CollectionMeta(model=self.name, pooling=POOLING, dimension=self.dimension,
                              dataset=dataset, labels=labels)


def as_vector(value: Any) -> np.ndarray | None:
    """A row's value as a float32 vector (None when it is missing or not a flat list of numbers)."""
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    return arr if arr.ndim == 1 else None


def first_dimension(items: list[Item], column: str) -> int:
    """The dimension of the first row that holds a vector.

    Raises:
        UsageError: no row of the first chunk holds a vector.
    """
    for item in items:
        vec = as_vector(item.vector)
        if vec is not None and len(vec):
            return int(len(vec))
    raise UsageError(f"--vector-column {column!r}: none of the first {len(items)} rows holds a "
                     "vector (a list of numbers)")


def check_rows(items: list[Item], dimension: int) -> tuple[list[int], np.ndarray, list[tuple[int, str]]]:
    """The rows whose vectors are usable, their unit vectors, and why the others are not.

    Returns:
        ``(kept positions, (len(kept), dimension) float32 unit vectors, [(position, reason)])``.
    """
    kept: list[int] = []
    rows: list[np.ndarray] = []
    bad: list[tuple[int, str]] = []
    for pos, item in enumerate(items):
        vec = as_vector(item.vector)
        where = f"vector of {item.split} row {item.index}"
        if vec is None:
            bad.append((pos, f"{where}: missing or not a list of numbers"))
        elif len(vec) != dimension:
            bad.append((pos, f"{where}: {len(vec)} values, the collection's dimension is {dimension}"))
        elif not np.isfinite(vec).all():
            bad.append((pos, f"{where}: NaN or infinite values"))
        elif not np.any(vec):
            bad.append((pos, f"{where}: all zeros (no direction to compare by cosine)"))
        else:
            kept.append(pos)
            rows.append(vec / np.linalg.norm(vec.astype(np.float64)).astype(np.float32))
    matrix = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, dimension), np.float32)
    return kept, matrix, bad
