"""``ingest --engine ray``: the same ingest with Ray Data reading, decoding and embedding in parallel.

The driver plans the selection as the single process does (`selection.plan_splits`): every
whole input unit (a parquet row group, a tar) becomes one read task, so the units are read in
parallel and once. Rows flow as plain columns through three stages — decode on CPU tasks
(`reader.decode_item`, retried by Ray when a worker dies), embed on an actor pool (one actor
a GPU, ``num_gpus=1``; CPU actors where there are none), write — and the write stage is the
same payload builder and store: the driver's `Writer` into the embedded store, or writer
actors upserting into a Qdrant server or cluster. Point ids, payloads, rejects, resume and
``--index`` are the single-process ingest's; the progress bar is the driver's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import numpy as np

from embedscope.contract import collection_name, now_iso
from embedscope.errors import UsageError
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.items import Item
from embedscope.ingest.reader import DecodeOptions, decode_item
from embedscope.ingest.sources import Dataset
from embedscope.ingest.summary import IngestSummary, Reject
from embedscope.ingest.writer import Job, Writer, payload
from embedscope.settings import QdrantSettings
from embedscope.store import Store, open_store

EXTRA = "--engine ray needs Ray Data: pip install 'embedscope[ray]'"
_DATASETS: dict[str, Dataset] = {}  # each worker opens the dataset once


def import_ray() -> Any:
    """The ``ray`` module, or a UsageError naming the extra that installs it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(EXTRA) from None
    return ray


def _dataset(settings: IngestSettings) -> Dataset:
    from embedscope.ingest.sources import open_source

    key = settings.model_dump_json()
    if key not in _DATASETS:
        _DATASETS[key] = open_source(settings.dataset or "", settings.splits, settings.image_column,
                                     settings.label_column, settings.labels_from_folders,
                                     settings.dataset_config, settings.vector_column)
    return _DATASETS[key]


def _rows(items: list[Item], stored: Collection[str]) -> dict[str, np.ndarray]:
    return {"point_id": np.array([i.point_id for i in items], dtype=object),
            "split": np.array([i.split for i in items], dtype=object),
            "index": np.array([i.index for i in items], dtype=np.int64),
            "label": np.array([-1 if i.label is None else i.label for i in items], dtype=np.int64),
            "source": np.array([i.source or "" for i in items], dtype=object),
            "data": np.array([i.data or b"" for i in items], dtype=object),
            "error": np.array([i.error or "" for i in items], dtype=object),
            "stored": np.array([i.point_id in stored for i in items], dtype=bool)}


def _item(batch: dict[str, np.ndarray], k: int) -> Item:
    label = int(batch["label"][k])
    return Item(str(batch["point_id"][k]), str(batch["split"][k]), int(batch["index"][k]),
                None if label < 0 else label, str(batch["source"][k]) or None,
                bytes(batch["data"][k]) or None if "data" in batch else None,
                str(batch["error"][k]) or None if "error" in batch else None)


def read_units(batch: dict[str, np.ndarray], tasks: list[dict[str, Any]], settings: IngestSettings,
               stored: frozenset[str], qdrant: QdrantSettings | None, name: str
               ) -> Iterator[dict[str, np.ndarray]]:
    """The read stage: the items of each task's unit (or split), a chunk at a time, stored ones marked.

    On a Qdrant server the stored ids are asked chunk by chunk; the embedded store's come with
    the task (``stored``).
    """
    from embedscope.ingest.selection import stream

    server = open_store(qdrant, batch=True) if qdrant is not None else None
    try:
        for number in batch["task"]:
            task = tasks[int(number)]
            for chunk in stream(_dataset(settings), [task["plan"]], task["row_filter"]):
                known: Collection[str] = stored
                if server is not None:
                    known = server.existing_ids(name, [i.point_id for i in chunk])
                yield _rows(chunk, known)
    finally:
        if server is not None:
            server.close()


def decode_rows(batch: dict[str, np.ndarray], opts: DecodeOptions) -> dict[str, np.ndarray]:
    """The decode stage: each new row's pixels (bytes + shape) or the reason it is rejected."""
    n = len(batch["point_id"])
    reason, pixels, shape = [""] * n, [b""] * n, [""] * n
    width, height, thumb = np.zeros(n, np.int64), np.zeros(n, np.int64), [""] * n
    for k in range(n):
        if batch["stored"][k]:
            continue
        res = decode_item(_item(batch, k), opts)
        if isinstance(res, str):
            reason[k] = res
            continue
        pixels[k], shape[k] = res.pixels.tobytes(), ",".join(map(str, res.pixels.shape))
        width[k], height[k], thumb[k] = res.width, res.height, res.thumbnail
    out = {k: v for k, v in batch.items() if k not in ("data", "error")}
    out.update(reason=np.array(reason, dtype=object), pixels=np.array(pixels, dtype=object),
               shape=np.array(shape, dtype=object), width=width, height=height,
               thumbnail=np.array(thumb, dtype=object))
    return out


def _ok(batch: dict[str, np.ndarray]) -> list[int]:
    return [k for k in range(len(batch["point_id"])) if not batch["stored"][k] and not batch["reason"][k]]


class EmbedActor:
    """The embed stage: one model per actor (on its GPU, or the CPU), vectors as float32 bytes."""

    def __init__(self, settings: IngestSettings, native: int | None) -> None:
        from embedscope.ingest.steps import load_model

        self.embedder = load_model(settings, native)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = _ok(batch)
        images = [np.frombuffer(batch["pixels"][k], np.uint8).reshape(
            [int(x) for x in str(batch["shape"][k]).split(",")]) for k in ok]
        vectors = self.embedder.submit_batch(images)()
        out = [b""] * len(batch["point_id"])
        for k, vec in zip(ok, vectors):
            out[k] = vec.astype(np.float32).tobytes()
        result = {k: v for k, v in batch.items() if k not in ("pixels", "shape")}
        result["vector"] = np.array(out, dtype=object)
        return result


def job(batch: dict[str, np.ndarray]) -> Job | None:
    """The writer's job for a batch's embedded rows (None when it has none)."""
    ok = _ok(batch)
    if not ok:
        return None
    vectors = np.stack([np.frombuffer(batch["vector"][k], np.float32) for k in ok])
    return Job([_item(batch, k) for k in ok], [(int(batch["width"][k]), int(batch["height"][k])) for k in ok],
               [str(batch["thumbnail"][k]) for k in ok], lambda: vectors)


class WriteActor:
    """The write stage on a Qdrant server or cluster: payloads and upserts, as the `Writer` builds them."""

    def __init__(self, qdrant: QdrantSettings, name: str, dataset: str, labels: list[str], model: str,
                 when: str) -> None:
        self.store = open_store(qdrant, batch=True)
        self.name, self.model, self.when = name, model, when
        self.dataset = Dataset(dataset, labels, [], "rows", lambda split: iter(()), None)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        work = job(batch)
        written = np.zeros(len(batch["point_id"]), dtype=bool)
        if work is not None:
            vectors = work.vectors()
            payloads = [payload(it, w, h, t, self.dataset, self.model, self.when)
                        for it, (w, h), t in zip(work.items, work.sizes, work.thumbnails)]
            self.store.upsert(self.name, [it.point_id for it in work.items], vectors, payloads)
            written[_ok(batch)] = True
        keep = ("point_id", "split", "index", "label", "source", "stored", "reason")
        return {**{k: batch[k] for k in keep}, "written": written}


def _init(ray: Any, settings: IngestSettings) -> None:
    if not ray.is_initialized():
        ray.init(address=settings.ray_address, logging_level="WARNING", log_to_driver=True)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver's bar counts images
    ctx.verbose_progress = False


def _actors(ray: Any) -> tuple[int, dict[str, Any]]:
    """How many embed actors and what each holds: one a GPU, else a quarter of the CPUs."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, {"num_gpus": 1}
    return max(1, int(resources.get("CPU", 1)) // 4), {"num_cpus": 1}


def run_ray(settings: IngestSettings, qdrant: QdrantSettings, store: Store | None = None,
            on_searchable: Callable[[IngestSummary], None] | None = None,
            decode: Callable[..., dict[str, np.ndarray]] = decode_rows) -> IngestSummary:
    """`pipeline.run_ingest` on Ray Data (see the module doc); ``decode`` is the decode stage."""
    ray = import_ray()
    if settings.vector_column:
        raise UsageError("--vector-column runs on --engine local only (no model to spread out)")
    from embedscope.ingest.selection import plan_splits, stream
    from embedscope.ingest.sharding import parse_shard
    from embedscope.ingest.steps import decode_options, finish, make_embedder, number_labels, open_collection

    started = time.perf_counter()
    dataset = _dataset(settings)
    shard = parse_shard(settings.shard) if settings.shard else (0, 1)
    plans, total, row_filter = plan_splits(dataset, settings.limit, settings.sample, settings.seed, shard)
    first: list[Item] = next(stream(dataset, plans[:1], row_filter), [])
    name = settings.collection or collection_name(dataset.name, settings.model)
    own_store = store is None
    store = store or open_store(qdrant, batch=True)
    try:
        embedder = make_embedder(settings, store, name, first)
        created = open_collection(store, name, settings, embedder.meta(settings.dataset or "", dataset.labels),
                                  total)
        stored_before = 0 if created else store.count(name)
        if total:
            store.check_space(name, max(0, total - stored_before))
        server = store.backend != "embedded"
        stored: frozenset[str] = frozenset()
        if stored_before and not server:
            stored = frozenset(r.id for r in store.scroll(name, with_payload=False))
        _init(ray, settings)
        tasks: list[dict[str, Any]] = [{"plan": (split, stop, keep, [p]), "row_filter": row_filter}
                                       for split, stop, keep, pieces in plans for p in (pieces or [])]
        tasks += [{"plan": (split, stop, keep, None), "row_filter": row_filter}
                  for split, stop, keep, pieces in plans if pieces is None]
        opts = decode_options(settings, embedder.mode, embedder.decode_size)
        native = embedder.image_size if settings.model == "pixels" else None
        count, actor_resources = _actors(ray)
        ds = ray.data.from_items([{"task": k} for k in range(len(tasks))],
                                 override_num_blocks=max(1, len(tasks)))
        ds = ds.map_batches(read_units, batch_size=1, batch_format="numpy", fn_kwargs={
            "tasks": tasks, "settings": settings, "stored": stored, "qdrant": qdrant if server else None, "name": name})
        # a decode task whose worker dies is run again: Ray Data's tasks retry system failures
        ds = ds.map_batches(decode, fn_kwargs={"opts": opts}, batch_size=settings.batch_size,
                            batch_format="numpy")
        ds = ds.map_batches(EmbedActor, fn_constructor_kwargs={"settings": settings, "native": native},
                            batch_size=settings.batch_size, batch_format="numpy", concurrency=count,
                            **actor_resources)
        when = now_iso()
        if server:
            ds = ds.map_batches(WriteActor, fn_constructor_kwargs={
                "qdrant": qdrant, "name": name, "dataset": dataset.name, "labels": dataset.labels,
                "model": embedder.name, "when": when}, batch_size=settings.batch_size,
                batch_format="numpy", concurrency=2, num_cpus=0.25)
        summary = IngestSummary(collection=name, selected=0, device=f"ray: {count} × {embedder.device}")
        writer = None if server else Writer(store, name, dataset, embedder.name, when)
        _drain(ds, settings, summary, writer, total)
        summary.rejected.sort(key=lambda r: (r.split, r.index))
        summary.loop_seconds = time.perf_counter() - started
        number_labels(store, name, dataset, summary)
        summary.points_in_collection = store.count(name)
        finish(store, name, settings, qdrant, summary, started, on_searchable)
    finally:
        if own_store:
            store.close()
    return summary


def _drain(ds: Any, settings: IngestSettings, summary: IngestSummary, writer: Writer | None,
           total: int | None) -> None:
    """Take the pipeline's batches on the driver: count them, write them (``writer``: the embedded
    store) or add what the writer actors wrote, with the progress bar."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="img", desc=f"embedding {summary.collection} (ray)", file=sys.stderr,
               disable=not settings.progress, dynamic_ncols=True)
    try:
        for batch in ds.iter_batches(batch_size=settings.batch_size, batch_format="numpy",
                                     prefetch_batches=2):
            _account(batch, summary)
            if writer is not None:
                work = job(batch)
                if work is not None:
                    writer.put(work)
            else:
                summary.ingested += int(batch["written"].sum())
            bar.update(len(batch["point_id"]))
            bar.set_postfix(rejected=len(summary.rejected), refresh=False)
    finally:
        if writer is not None:
            writer.close()
            summary.ingested = writer.written
        bar.close()


def _account(batch: dict[str, np.ndarray], summary: IngestSummary) -> None:
    """Selected, skipped, labels and rejects of a batch that reached the driver."""
    n = len(batch["point_id"])
    summary.selected += n
    summary.skipped += int(batch["stored"].sum())
    if n:
        summary.max_label = max(summary.max_label, int(batch["label"].max()))
    for k in range(n):
        if not batch["stored"][k] and batch["reason"][k]:
            summary.rejected.append(Reject(str(batch["point_id"][k]), str(batch["split"][k]),
                                           int(batch["index"][k]), str(batch["source"][k]) or None,
                                           str(batch["reason"][k])))
