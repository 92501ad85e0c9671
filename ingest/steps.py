"""The steps both ingest engines share (the single process in pipeline.py, Ray Data in
ray_engine.py): the model, the decode options, label names and the run's finish (rejects file,
timings, the index)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from embedscope.contract import CollectionMeta
from embedscope.errors import UsageError
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.decode import Decoded
from embedscope.ingest.index import build_index
from embedscope.ingest.items import Item
from embedscope.ingest.models import Embedder, load_embedder
from embedscope.ingest.reader import DecodeOptions, decode_item
from embedscope.ingest.sources import Dataset
from embedscope.ingest.storage import check_storage, storage_for
from embedscope.ingest.summary import IngestSummary
from embedscope.settings import QdrantSettings
from embedscope.store import Store


def decode_options(settings: IngestSettings, mode: str, size: int | None, gpu_jpeg: bool = False) -> DecodeOptions:
    """How the run decodes its images (mode, size, limits, thumbnails), from its settings."""
    return DecodeOptions(mode=mode, size=size, max_pixels=settings.max_pixels, min_side=settings.min_side,
                         thumbnail_size=settings.thumbnail_size, gpu_jpeg=gpu_jpeg)


def _native_side(items: list[Item], settings: IngestSettings) -> int:
    """The pixels baseline's side: the first decodable image's (square-cropped) side."""
    for item in items[:1000]:
        dec = decode_item(item, decode_options(settings, "L", None))
        if isinstance(dec, Decoded):
            return int(dec.pixels.shape[0])
    raise UsageError("pixels: none of the first images could be decoded to find the native size; "
                     "pass --image-size")


def speed_hint(embedder: Embedder, items: list[Item], settings: IngestSettings) -> None:
    """On a CPU, say when small images are being upsampled to a large model input."""
    if embedder.device != "cpu" or embedder.name == "pixels" or settings.image_size or not settings.progress:
        return
    opts = decode_options(settings, "L", None)
    first = next((d for d in (decode_item(i, opts) for i in items[:20]) if isinstance(d, Decoded)), None)
    if first is not None and first.pixels.shape[0] * 2 <= (embedder.image_size or 0) // 2:
        side = first.pixels.shape[0]
        print(f"tip: these images are {side}×{side} and run on the CPU at {embedder.image_size} px; "
              f"--image-size {(embedder.image_size or 224) // 2} is about 4× faster and loses little "
              "for small images (a new collection, or --recreate)", file=sys.stderr)


def load_model(settings: IngestSettings, native_side: int | None = None) -> Embedder:
    return load_embedder(settings.model, pooling=settings.pooling, image_size=settings.image_size,
                         device=settings.device, revision=settings.revision, native_side=native_side)


def make_embedder(settings: IngestSettings, store: Store, name: str, items: list[Item]) -> Embedder:
    """Load the model; for pixels, the side comes from --image-size, the collection, or the data."""
    if settings.vector_column:
        from embedscope.ingest.vectors import PrecomputedVectors, first_dimension

        space = settings.space or settings.vector_column
        return PrecomputedVectors(space, first_dimension(items, settings.vector_column))
    native = None
    if settings.model == "pixels" and settings.image_size is None:
        if store.collection_exists(name) and not settings.recreate:
            existing = store.get_meta(name)
            native = existing.image_size if existing.model == "pixels" else None
        native = native or _native_side(items, settings)
    return load_model(settings, native)


def number_labels(store: Store, name: str, dataset: Dataset, summary: IngestSummary) -> None:
    """Integer labels without class names (no ClassLabel): the collection names them "0" … "K"."""
    if dataset.labels or summary.max_label < 0:
        return
    known = store.get_meta(name).labels
    if len(known) <= summary.max_label and all(n == str(i) for i, n in enumerate(known)):
        store.update_meta(name, labels=[str(i) for i in range(summary.max_label + 1)])


def finish(store: Store, name: str, settings: IngestSettings, qdrant: QdrantSettings,
            summary: IngestSummary, started: float,
            on_searchable: Callable[[IngestSummary], None] | None) -> None:
    """Rejects file, timings and the index, in the order ``--index`` asks."""
    summary.rejects_file = _write_rejects(summary, settings, qdrant)
    if settings.index == "wait":
        build_index(store, name, summary)
    elif store.backend != "embedded":
        summary.index = "server"
    else:
        summary.index = "pending" if settings.index == "after" else "skipped"
    summary.seconds = time.perf_counter() - started
    if settings.index == "after" and summary.index == "pending":
        if on_searchable is not None:
            on_searchable(summary)
        build_index(store, name, summary)


def _write_rejects(summary: IngestSummary, settings: IngestSettings, qdrant: QdrantSettings) -> str | None:
    suffix = ""
    if settings.shard:  # shards sharing a data directory keep separate lists
        index, count = (int(x) for x in settings.shard.split("/"))
        suffix = f".shard-{index}-of-{count}"
    path = Path(settings.rejects_file) if settings.rejects_file else (
        qdrant.data_dir / "rejects" / f"{summary.collection}{suffix}.jsonl")
    if not summary.rejected:
        if path.exists() and not settings.rejects_file:
            path.unlink()
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for r in summary.rejected:
            fh.write(json.dumps(r.__dict__) + "\n")
    return str(path)


def open_collection(store: Store, name: str, settings: IngestSettings, meta: CollectionMeta,
                    points: int | None) -> bool:
    """Create ``name`` for this run (with the storage ``--quantization`` and the on-disk flags
    choose for ``points`` points), or check that an existing one matches; True when the run
    creates it.

    Raises:
        MixedSpaceError: the collection holds another model's space.
        UsageError: an explicit storage flag differs from the existing collection's.
    """
    created = settings.recreate or not store.collection_exists(name)
    meta = meta.model_copy(update=storage_for(settings, points))
    stored = store.ensure_collection(name, meta, settings.recreate, settings.shard_number,
                                     settings.replication_factor)
    if not created:
        check_storage(settings, stored, name)
    return created
