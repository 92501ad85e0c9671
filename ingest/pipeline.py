"""The ingestion runner: source → skip stored → decode (workers) → embed → upsert (overlapped)."""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.ingest.config import IngestSettings
from embedscope.ingest.decode import Decoded, decode
from embedscope.ingest.errors import BadImageError
from embedscope.ingest.models import Embedder, load_embedder
from embedscope.ingest.sources import Dataset, Item, load_dataset, select
from embedscope.search.config import QdrantSettings
from embedscope.search.contract import collection_name, now_iso
from embedscope.search.errors import UsageError
from embedscope.search.store import Store, open_store

log = logging.getLogger(__name__)


@dataclass
class Reject:
    """An image that could not be embedded, and why."""

    point_id: str
    split: str
    index: int
    source: str | None
    reason: str


@dataclass
class IngestSummary:
    """What one ingest run did."""

    collection: str
    selected: int = 0
    ingested: int = 0
    skipped: int = 0
    rejected: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    rejects_file: str | None = None
    points_in_collection: int = 0

    @property
    def images_per_second(self) -> float:
        """Throughput of the images embedded in this run."""
        return self.ingested / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The closing summary, one line per figure."""
        out = [
            f"collection        {self.collection} ({self.points_in_collection} points)",
            f"ingested          {self.ingested}",
            f"skipped (stored)  {self.skipped}",
            f"rejected          {len(self.rejected)}",
            f"time              {self.seconds:.1f} s",
            f"images/s          {self.images_per_second:.1f}",
        ]
        for r in self.rejected[:20]:
            out.append(f"  rejected {r.source or f'{r.split}[{r.index}]'}: {r.reason}")
        if len(self.rejected) > 20:
            out.append(f"  … and {len(self.rejected) - 20} more")
        if self.rejected and self.rejects_file:
            out.append(f"rejects listed in {self.rejects_file}")
        return out


def decode_item(item: Item, mode: str, size: int | None, settings: IngestSettings) -> Decoded | str:
    """Decode one item, or return the reason it is rejected."""
    try:
        return decode(item.data if item.source is None else item.source, mode, size,
                      max_pixels=settings.max_pixels, min_side=settings.min_side,
                      thumbnail_size=settings.thumbnail_size)
    except BadImageError as exc:
        return str(exc)
    except MemoryError:
        return "image too large to decode in memory"


class _DecodeSet:
    """Map-style dataset for torch's DataLoader: item i → (i, Decoded | reason)."""

    def __init__(self, items: list[Item], mode: str, size: int | None, settings: IngestSettings):
        self.items, self.mode, self.size, self.settings = items, mode, size, settings

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, Decoded | str]:
        return i, decode_item(self.items[i], self.mode, self.size, self.settings)


def _collate(batch: list[tuple[int, Decoded | str]]) -> list[tuple[int, Decoded | str]]:
    return batch


def _workers(settings: IngestSettings) -> int:
    if settings.num_workers is not None:
        return max(0, settings.num_workers)
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 2 else min(8, cpus // 2)


def decoded_batches(items: list[Item], embedder: Embedder, settings: IngestSettings
                    ) -> Iterator[list[tuple[int, Decoded | str]]]:
    """Batches of decoded items, decoded by DataLoader workers when there are cores to spare."""
    from torch.utils.data import DataLoader

    workers = _workers(settings)
    loader: DataLoader[Any] = DataLoader(
        _DecodeSet(items, embedder.mode, embedder.decode_size, settings),  # type: ignore[arg-type]
        batch_size=settings.batch_size, num_workers=workers, collate_fn=_collate,
        prefetch_factor=4 if workers else None, persistent_workers=False,
    )
    yield from loader


class _Writer:
    """Upserts on a background thread so the next batch embeds while this one is written."""

    def __init__(self, store: Store, collection: str) -> None:
        self.store, self.collection = store, collection
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="embedscope-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.store.upsert(self.collection, *job)
                except BaseException as exc:  # re-raised on the main thread
                    self.error = exc

    def put(self, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((ids, vectors, payloads))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _payload(item: Item, dec: Decoded, dataset: Dataset, model: str, when: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"dataset": dataset.name, "split": item.split, "index": item.index}
    if item.label is not None:
        payload["label"] = item.label
        if 0 <= item.label < len(dataset.labels):
            payload["label_name"] = dataset.labels[item.label]
    if item.source is not None:
        payload["source"] = item.source
    payload.update(width=dec.width, height=dec.height, thumbnail=dec.thumbnail, model=model,
                   ingested_at=when)
    return payload


def _native_side(items: list[Item], settings: IngestSettings) -> int:
    """The pixels baseline's side: the first decodable image's (square-cropped) side."""
    for item in items[:1000]:
        dec = decode_item(item, "L", None, settings)
        if isinstance(dec, Decoded):
            return int(dec.pixels.shape[0])
    raise UsageError("pixels: none of the first images could be decoded to find the native size; "
                     "pass --image-size")


def _speed_hint(embedder: Embedder, items: list[Item], settings: IngestSettings) -> None:
    """On a CPU, say when small images are being upsampled to a large model input."""
    if embedder.device != "cpu" or embedder.name == "pixels" or settings.image_size or not settings.progress:
        return
    first = next((d for d in (decode_item(i, "L", None, settings) for i in items[:20])
                  if isinstance(d, Decoded)), None)
    if first is not None and first.pixels.shape[0] * 2 <= (embedder.image_size or 0) // 2:
        side = first.pixels.shape[0]
        print(f"tip: these images are {side}×{side} and run on the CPU at {embedder.image_size} px; "
              f"--image-size {(embedder.image_size or 224) // 2} is about 4× faster and loses little "
              "for small images (a new collection, or --recreate)", file=sys.stderr)


def make_embedder(settings: IngestSettings, store: Store, name: str, items: list[Item]) -> Embedder:
    """Load the model; for pixels, the side comes from --image-size, the collection, or the data."""
    native = None
    if settings.model == "pixels" and settings.image_size is None:
        if store.collection_exists(name) and not settings.recreate:
            existing = store.get_meta(name)
            native = existing.image_size if existing.model == "pixels" else None
        native = native or _native_side(items, settings)
    return load_embedder(settings.model, pooling=settings.pooling, image_size=settings.image_size,
                         device=settings.device, revision=settings.revision, native_side=native)


def run_ingest(settings: IngestSettings, qdrant: QdrantSettings | None = None,
               store: Store | None = None) -> IngestSummary:
    """Embed ``settings.dataset`` into its collection; resumable and idempotent.

    Args:
        settings: what to ingest and how.
        qdrant: where the store is (ignored when ``store`` is given).
        store: an open store to use (the caller closes it).
    """
    from embedscope.ingest.sharding import parse_shard

    if not settings.dataset:
        raise UsageError("no dataset: pass --dataset (hub name, parquet file/dir, or image folder)")
    qdrant = qdrant or QdrantSettings()
    started = time.perf_counter()
    dataset = load_dataset(settings.dataset, settings.splits, settings.image_column,
                           settings.label_column, settings.labels_from_folders)
    shard = parse_shard(settings.shard) if settings.shard else None
    items = select(dataset.items, settings.limit, settings.sample, settings.seed, shard)
    name = settings.collection or collection_name(dataset.name, settings.model)
    own_store = store is None
    store = store or open_store(qdrant)
    try:
        embedder = make_embedder(settings, store, name, items)
        created = settings.recreate or not store.collection_exists(name)
        store.ensure_collection(name, embedder.meta(settings.dataset, dataset.labels),
                                settings.recreate, settings.shard_number, settings.replication_factor)
        _speed_hint(embedder, items, settings)
        summary = IngestSummary(collection=name, selected=len(items))
        stored: set[str] = set()
        ids = [i.point_id for i in items]
        for start in range(0, len(ids), 4096):
            stored |= store.existing_ids(name, ids[start:start + 4096])
        pending = [i for i in items if i.point_id not in stored]
        summary.skipped = len(items) - len(pending)
        try:
            _embed_all(pending, embedder, dataset, store, name, settings, summary)
        except BaseException:
            if created and store.count(name) == 0:  # leave no empty collection of a failed space
                store.delete_collection(name)
            raise
        if summary.ingested:
            store.optimize(name)
        summary.points_in_collection = store.count(name)
    finally:
        if own_store:
            store.close()
    summary.seconds = time.perf_counter() - started
    summary.rejects_file = _write_rejects(summary, settings, qdrant)
    return summary


def _embed_all(pending: list[Item], embedder: Embedder, dataset: Dataset, store: Store, name: str,
               settings: IngestSettings, summary: IngestSummary) -> None:
    from tqdm.auto import tqdm

    when = now_iso()
    writer = _Writer(store, name)
    bar = tqdm(total=len(pending), unit="img", desc=f"embedding {name}", file=sys.stderr,
               disable=not settings.progress or not pending, smoothing=0.1, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        for batch in decoded_batches(pending, embedder, settings):
            good: list[tuple[Item, Decoded]] = []
            for i, dec in batch:
                item = pending[i]
                if isinstance(dec, str):
                    summary.rejected.append(Reject(item.point_id, item.split, item.index, item.source, dec))
                else:
                    good.append((item, dec))
            if good:
                vectors = embedder.embed_batch([d.pixels for _, d in good])
                writer.put([it.point_id for it, _ in good], vectors,
                           [_payload(it, d, dataset, embedder.name, when) for it, d in good])
                summary.ingested += len(good)
            bar.update(len(batch))
            bar.set_postfix(rejected=len(summary.rejected), refresh=False)
    finally:
        try:
            writer.close()
        finally:
            bar.close()
    log.info("embedded %d images in %.1f s", summary.ingested, time.perf_counter() - t0)


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
