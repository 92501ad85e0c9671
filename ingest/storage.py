"""How a new collection keeps its vectors: quantization and what stays on disk (memory tiers)."""

from __future__ import annotations

from typing import Any

from embedscope.contract import CollectionMeta
from embedscope.errors import UsageError
from embedscope.ingest.config import LARGE_COLLECTION, IngestSettings


def storage_for(settings: IngestSettings, points: int | None) -> dict[str, Any]:
    """The storage fields of a new collection's metadata for this run.

    ``points`` is the number of points the run selects (None when unknown: a stream). With
    ``--quantization auto`` a run of LARGE_COLLECTION points or more is stored as int8; quantized
    originals go on disk unless ``--vectors-on-disk`` says otherwise.
    """
    quantization = settings.quantization
    if quantization == "auto":
        quantization = "int8" if points is not None and points >= LARGE_COLLECTION else "none"
    on_disk = settings.vectors_on_disk
    if on_disk is None:
        on_disk = quantization != "none"
    return {"quantization": quantization, "vectors_on_disk": on_disk,
            "hnsw_on_disk": settings.hnsw_on_disk}


def check_storage(settings: IngestSettings, stored: CollectionMeta, name: str) -> None:
    """Raise UsageError when an explicit storage flag differs from an existing collection's."""
    asked = {"quantization": None if settings.quantization == "auto" else settings.quantization,
             "vectors_on_disk": settings.vectors_on_disk,
             "hnsw_on_disk": settings.hnsw_on_disk or None}
    have = stored.storage()
    differ = {k: v for k, v in asked.items() if v is not None and v != have[k]}
    if differ:
        wanted = ", ".join(f"{k}={v}" for k, v in differ.items())
        raise UsageError(
            f"collection {name!r} is stored as {stored.storage_text()}; {wanted} applies when a "
            "collection is created: add --recreate to rebuild it so, or leave the flag out to "
            "add to it as it is."
        )
