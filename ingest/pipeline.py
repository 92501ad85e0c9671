"""The ingestion runner: source → skip stored → read (workers) → embed → write (overlapped) → index.

The stages live in their own modules: `reader` (decoding, worker processes), the embedder
(`models`, `families`), `writer` (payloads and upserts on a thread), `index` (the HNSW build).
This module wires them, times them and reports.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

from embedscope.contract import collection_name, now_iso
from embedscope.errors import UsageError
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.decode import Decoded
from embedscope.ingest.items import Item
from embedscope.ingest.models import Embedder
from embedscope.ingest.reader import DecodeOptions, Encoded, Result, batches, decode_item, prestart, worker_count
from embedscope.ingest.selection import Selection, select
from embedscope.ingest.sources import Dataset, open_source
from embedscope.ingest.steps import (
    decode_options,
    finish,
    load_model,
    make_embedder,
    number_labels,
    open_collection,
    speed_hint,
)
from embedscope.ingest.streams import prefetch
from embedscope.ingest.summary import IngestSummary, Reject
from embedscope.ingest.writer import Job, Writer
from embedscope.settings import QdrantSettings
from embedscope.store import Store, open_store
from embedscope.store.edge import EdgeStore

log = logging.getLogger(__name__)

__all__ = ["IngestSummary", "Reject", "make_embedder", "run_ingest"]


def _read(settings: IngestSettings) -> tuple[Dataset, Selection]:
    from embedscope.ingest.sharding import parse_shard

    shard = parse_shard(settings.shard) if settings.shard else None
    dataset = open_source(settings.dataset or "", settings.splits, settings.image_column,
                          settings.label_column, settings.labels_from_folders, settings.dataset_config,
                          settings.vector_column)
    return dataset, select(dataset, settings.limit, settings.sample, settings.seed, shard)


def _read_and_load(settings: IngestSettings) -> tuple[Dataset, Selection, Embedder | None]:
    """Open the dataset on a thread while the model loads here (pixels waits for the data)."""
    if settings.model == "pixels" or settings.vector_column:
        return (*_read(settings), None)
    # transformers is imported whole before the reading thread starts: 🤗 datasets' hashing
    # inspects transformers classes whenever the module is loaded, and a half-imported module
    # (the model loading on this thread) would fail there.
    import transformers  # noqa: F401

    with ThreadPoolExecutor(1, thread_name_prefix="embedscope-read") as pool:
        reading = pool.submit(_read, settings)
        try:
            embedder = load_model(settings)
        except BaseException:
            if reading.exception() is not None:  # the dataset's error comes first, as before
                raise reading.exception() from None  # type: ignore[misc]
            raise
        return (*reading.result(), embedder)


def run_ingest(settings: IngestSettings, qdrant: QdrantSettings | None = None, store: Store | None = None,
               on_searchable: Callable[[IngestSummary], None] | None = None) -> IngestSummary:
    """Embed ``settings.dataset`` into its collection; resumable and idempotent.

    Args:
        settings: what to ingest and how.
        qdrant: where the store is (ignored when ``store`` is given).
        store: an open store to use (the caller closes it).
        on_searchable: called with the summary once the collection is complete and searchable,
            before the index is built (``--index after``): the CLI prints the summary there.
    """
    if not settings.dataset:
        raise UsageError("no dataset: pass --dataset (a hub name, a parquet/arrow/json file or folder, "
                         "an image folder or WebDataset .tar shards)")
    if settings.space and not settings.vector_column:
        raise UsageError("--space names the space of --vector-column (precomputed vectors); give "
                         "--vector-column COLUMN too, or leave --space out and choose a --model")
    qdrant = qdrant or QdrantSettings()
    if settings.engine == "ray":
        from embedscope.ingest.ray_engine import run_ray

        return run_ray(settings, qdrant, store, on_searchable)
    started = time.perf_counter()
    workers = worker_count(settings.num_workers)
    prestart(workers)  # the workers' forkserver imports numpy and PIL while we read and load
    dataset, selection, embedder = _read_and_load(settings)
    chunks = prefetch(selection.chunks, depth=2)  # rows are read on a thread, a few chunks ahead
    first: list[Item] = next(chunks, [])  # the first rows: the pixels baseline's size, the speed hint
    space = (settings.space or settings.vector_column) if settings.vector_column else settings.model
    name = settings.collection or collection_name(dataset.name, str(space))
    own_store = store is None
    try:
        store = store or open_store(qdrant, batch=True)
        embedder = embedder or make_embedder(settings, store, name, first)
        created = open_collection(store, name, settings, embedder.meta(settings.dataset, dataset.labels),
                                  selection.total)
        speed_hint(embedder, first, settings)
        summary = IngestSummary(collection=name, selected=0, device=embedder.device)
        stored_before = 0 if created else store.count(name)
        if selection.total:
            store.check_space(name, max(0, selection.total - stored_before))
        try:
            rows = chain([first], chunks) if first else iter(())
            del first  # the chain holds the first rows until they are read, not for the whole run
            _embed_all(rows, selection.total, embedder, dataset, store, name, settings, summary, workers,
                       started, resuming=stored_before > 0)
        except BaseException:
            if created and store.count(name) == 0:  # leave no empty collection of a failed space
                store.delete_collection(name)
            raise
        number_labels(store, name, dataset, summary)
        summary.points_in_collection = store.count(name)
        finish(store, name, settings, qdrant, summary, started, on_searchable)
    finally:
        chunks.close()
        if own_store and store is not None:
            store.close()
    return summary


def _split(items: list[Item], results: list[Result], summary: IngestSummary
           ) -> tuple[list[tuple[Item, Decoded]], list[tuple[Item, Encoded]]]:
    """A batch's decoded and still-encoded images; rejects go to the summary."""
    decoded: list[tuple[Item, Decoded]] = []
    encoded: list[tuple[Item, Encoded]] = []
    for item, res in zip(items, results):
        if isinstance(res, str):
            summary.rejected.append(Reject(item.point_id, item.split, item.index, item.source, res))
        elif isinstance(res, Encoded):
            encoded.append((item, res))
        else:
            decoded.append((item, res))
    return decoded, encoded


def _gpu_decode(encoded: list[tuple[Item, Encoded]], embedder: Embedder, opts: DecodeOptions,
                summary: IngestSummary) -> tuple[list[Item], list[Any], list[tuple[int, int]], list[str]]:
    """nvJPEG-decode the batch's plain JPEGs; any the GPU refuses takes the PIL path (or is rejected)."""
    from embedscope.ingest.accel import decode_jpegs

    tensors = decode_jpegs([e.data for _, e in encoded], opts.mode, opts.size, embedder.device)
    items: list[Item] = []
    images: list[Any] = []
    sizes: list[tuple[int, int]] = []
    thumbs: list[str] = []
    for (item, enc), tensor in zip(encoded, tensors):
        if tensor is None:
            res = decode_item(Item(item.point_id, item.split, item.index, item.label, None, enc.data), opts)
            if isinstance(res, str):
                summary.rejected.append(Reject(item.point_id, item.split, item.index, item.source, res))
                continue
            tensor = res.pixels
        items.append(item)
        images.append(tensor)
        sizes.append((enc.width, enc.height))
        thumbs.append(enc.thumbnail)
    return items, images, sizes, thumbs


def _pending(chunks: Iterator[list[Item]], store: Store, name: str, batch_size: int,
             summary: IngestSummary, bar: Any, resuming: bool = True) -> Iterator[list[Item]]:
    """Batches of the items not stored yet: the "already stored" check runs chunk by chunk.

    A collection that was empty when the run started holds only what this run (or a sibling
    shard of it, with other items) writes, so the check is skipped there (``resuming`` False):
    on a fresh 60k-image pixels run it was 15 % of the time.
    """
    buf: list[Item] = []
    for chunk in chunks:
        summary.selected += len(chunk)
        summary.max_label = max([summary.max_label, *(i.label for i in chunk if i.label is not None)])
        stored = store.existing_ids(name, [i.point_id for i in chunk]) if resuming else set()
        fresh = [i for i in chunk if i.point_id not in stored]
        if len(fresh) < len(chunk):
            summary.skipped += len(chunk) - len(fresh)
            bar.update(len(chunk) - len(fresh))
        buf.extend(fresh)
        while len(buf) >= batch_size:
            yield buf[:batch_size]
            buf = buf[batch_size:]
    if buf:
        yield buf


def _embed_all(chunks: Iterator[list[Item]], total: int | None, embedder: Embedder, dataset: Dataset,
               store: Store, name: str, settings: IngestSettings, summary: IngestSummary, workers: int,
               started: float, resuming: bool = True) -> None:
    from tqdm.auto import tqdm

    from embedscope.ingest.accel import gpu_jpeg_available, want_compile

    if want_compile(settings.compile, embedder.device, total or 0):
        summary.compiled = embedder.compile(batch_size=settings.batch_size)
    opts = decode_options(settings, embedder.mode, embedder.decode_size,
                    gpu_jpeg=settings.gpu_decode and gpu_jpeg_available(embedder.device))
    process = None
    if settings.writer == "process" and not resuming and isinstance(store, EdgeStore):
        from embedscope.ingest.store_process import StoreProcess

        process = StoreProcess(store, name, embedder.dimension, settings.batch_size)
    writer = Writer(store, name, dataset, embedder.name, now_iso(), process=process)
    bar = tqdm(total=total, unit="img", desc=f"embedding {name}", file=sys.stderr,
               disable=not settings.progress, smoothing=0.1, dynamic_ncols=True)
    first = 0.0
    try:
        for group, results in batches(_pending(chunks, store, name, settings.batch_size, summary, bar, resuming),
                                      opts, workers):
            if not first:
                first = time.perf_counter()
            if settings.vector_column:
                writer.put(_precomputed(group, results, embedder.dimension, summary))
                bar.update(len(group))
                continue
            decoded, encoded = _split(group, results, summary)
            items = [it for it, _ in decoded]
            images: list[Any] = [d.pixels for _, d in decoded]
            sizes = [(d.width, d.height) for _, d in decoded]
            thumbs = [d.thumbnail for _, d in decoded]
            if encoded:
                more_items, more_images, more_sizes, more_thumbs = _gpu_decode(encoded, embedder, opts, summary)
                items, images = items + more_items, images + more_images
                sizes, thumbs = sizes + more_sizes, thumbs + more_thumbs
            if items:
                writer.put(Job(items, sizes, thumbs, embedder.submit_batch(images)))
            bar.update(len(group))
            bar.set_postfix(rejected=len(summary.rejected), refresh=False)
    finally:
        try:
            writer.close()
        finally:
            summary.ingested = writer.written
            if writer.first_written_at:
                summary.first_batch_seconds = writer.first_written_at - started
            if bar.total is not None and bar.n != bar.total:
                bar.total = bar.n  # an estimate (a shard, a limit on a stream of unknown length)
                bar.refresh()
            bar.close()
    summary.loop_seconds = time.perf_counter() - first if first else 0.0
    log.info("embedded %d images in %.1f s", summary.ingested, summary.loop_seconds)


def _precomputed(items: list[Item], results: list[Result], dimension: int,
                 summary: IngestSummary) -> Job:
    """A batch of rows with their own vectors: bad vectors rejected by row, thumbnails from the
    images where there are any (a row without an image is stored without one)."""
    from embedscope.ingest.vectors import check_rows

    kept, vectors, bad = check_rows(items, dimension)
    for pos, reason in bad:
        it = items[pos]
        summary.rejected.append(Reject(it.point_id, it.split, it.index, it.source, reason))
    rows: list[Item] = []
    sizes: list[tuple[int, int]] = []
    thumbs: list[str] = []
    keep = []
    for k, pos in enumerate(kept):
        it, res = items[pos], results[pos]
        if isinstance(res, (Decoded, Encoded)):
            sizes.append((res.width, res.height))
            thumbs.append(res.thumbnail)
        elif it.data is None and it.source is None:  # no image in this row: the vector alone
            sizes.append((0, 0))
            thumbs.append("")
        else:  # an image that does not decode is a reject, as in any ingest
            reason = res if isinstance(res, str) else "the image could not be decoded"
            summary.rejected.append(Reject(it.point_id, it.split, it.index, it.source, reason))
            continue
        rows.append(it)
        keep.append(k)
    chosen = vectors[keep]
    return Job(rows, sizes, thumbs, lambda: chosen)

