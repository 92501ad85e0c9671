"""`embedscope export`: a collection as parquet files and a dataset card, streamed in bounded memory.

Two passes over the store, each one page (``batch_size`` points) at a time: the first reads ids
and splits only (embedscope.analysis.export_rows: each id's row, kept on disk), the second reads
payloads and vectors split by split, asks the store for each page's nearest neighbours, and
appends the page to the current parquet file, starting a new one every ``rows_per_file`` rows.
Memory holds one page and one parquet row group, whatever the collection's size; only a
collection of at most ``exact_neighbors_up_to`` points gets exact neighbours from the shared
k-NN graph, which holds its vectors once (50k × 384-d: 77 MB).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.analysis.export_card import Exported
from embedscope.analysis.export_columns import Plan, hf_features, hf_schema_metadata, page_columns, record_batch
from embedscope.analysis.export_columns import plan as make_plan
from embedscope.analysis.export_config import ExportSettings
from embedscope.analysis.export_rows import RowIndex
from embedscope.contract import slug
from embedscope.errors import EmbedscopeError, UsageError
from embedscope.store import Store, Where
from embedscope.store.keys import id_bytes

DATA = "data"


def file_name(split: str, i: int, n: int) -> str:
    """The 🤗 layout's name of file ``i`` of ``n`` of a split: ``train-00000-of-00003.parquet``."""
    return f"{slug(split)}-{i:05d}-of-{n:05d}.parquet"


class _Files:
    """Parquet files of one split, a new one every ``rows_per_file`` rows."""

    def __init__(self, folder: Path, split: str, total: int, per_file: int, schema: Any) -> None:
        self.folder, self.split, self.per_file, self.schema = folder, split, per_file, schema
        self.n = max(1, -(-total // per_file))
        self.written: list[Path] = []
        self._writer: Any = None
        self._left = 0

    def write(self, batch: Any) -> None:
        import pyarrow.parquet as pq

        while batch.num_rows:
            if self._left == 0:
                self.close()
                path = self.folder / file_name(self.split, len(self.written), self.n)
                self._writer = pq.ParquetWriter(path, self.schema)
                self.written.append(path)
                self._left = self.per_file
            part = batch.slice(0, self._left)
            self._writer.write_batch(part)
            self._left -= part.num_rows
            batch = batch.slice(part.num_rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _neighbours(store: Store, collection: str, vectors: np.ndarray, ids: list[str], k: int,
                index: RowIndex) -> tuple[np.ndarray, np.ndarray]:
    """Rows and cosine distances of each vector's ``k`` nearest other points by the
    collection's HNSW index (-1: none)."""
    found = store.query_keys(collection, vectors, k, exclude_per_query=ids)
    rows = np.full((len(ids), k), -1, np.int64)
    dist = np.zeros((len(ids), k), np.float32)
    query, rank = found.query, found.rank
    rows[query, rank] = index.rows_of(found.keys)
    dist[query, rank] = np.maximum(0.0, 1.0 - found.scores)
    return rows, dist


def exact_neighbours(store: Store, collection: str, k: int, index: RowIndex,
                     batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours of every point by the shared k-NN graph's blocked products (a collection
    at most ``exact_neighbors_up_to`` points: its vectors are held once), indexed by export row."""
    from embedscope.analysis.graph import knn_graph

    ids, X, _ = store.fetch_all(collection, payload_fields=(), page_size=batch)
    graph = knn_graph(X, k)
    del X
    rows = index.rows_of(id_bytes(ids))
    if len(rows) != index.total or (rows < 0).any():
        raise UsageError(f"collection {collection!r} changed during the export (points were "
                         "added or removed): re-run the export when no job writes to it.")
    by_row_rows = np.full((index.total, k), -1, np.int64)
    by_row_dist = np.zeros((index.total, k), np.float32)
    by_row_rows[rows] = rows[graph.index]
    by_row_dist[rows] = np.clip(1.0 - graph.sim, 0.0, 2.0)
    return by_row_rows, by_row_dist


def _prepare(out: Path) -> Path:
    """``out/data`` emptied of an earlier export's parquet files."""
    data = out / DATA
    if data.exists():
        for old in data.glob("*.parquet"):
            old.unlink()
    data.mkdir(parents=True, exist_ok=True)
    return data


def export(store: Store, s: ExportSettings) -> Exported:
    """Write the collection ``s.collection`` to ``s.out`` (see the module docstring).

    Raises:
        CollectionNotFoundError: No such collection.
        UsageError: Points without a split; the collection changed during the export.
    """
    from tqdm import tqdm

    from embedscope.analysis.export_card import write_card

    s.check()
    began = time.perf_counter()
    name, out = str(s.collection), Path(str(s.out))
    meta = store.get_meta(name)
    total = store.count(name)
    k = min(s.neighbors, max(0, total - 1))
    plan = make_plan(meta, s.vectors, s.thumbnails, k)
    exact = total <= s.exact_neighbors_up_to
    bar = tqdm(total=2 * total, desc=f"export {name}", unit="point", file=sys.stderr,
               disable=not s.progress, leave=False)
    index = RowIndex(store, name, s.batch_size, bar.update)
    try:
        if index.total != total:
            total = index.total  # a server's count can be approximate while it indexes
            bar.total = 2 * total
        data = _prepare(out)
        features = hf_features(plan, plan.schema())
        schema = plan.schema().with_metadata(hf_schema_metadata(features))
        graph = None
        if plan.neighbors and exact:
            bar.set_postfix_str("exact neighbours")
            graph = exact_neighbours(store, name, plan.neighbors, index, s.batch_size)
            bar.set_postfix_str("")
        files: list[Path] = []
        for split in index.splits:
            files += _write_split(store, name, split, s, plan, schema, index, data, graph, bar)
    finally:
        bar.close()
        index.close()
    how = ""
    if plan.neighbors:
        how = ("exact (blocked products of every vector: the shared k-NN graph)" if exact
               else "approximate (the collection's HNSW index, one page of queries at a time)")
    done = Exported(out, name, total, dict(index.counts), files, plan, how,
                    time.perf_counter() - began)
    write_card(done, meta, features)
    done.bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return done


def _write_split(store: Store, name: str, split: str, s: ExportSettings, plan: Plan, schema: Any,
                 index: RowIndex, data: Path, graph: tuple[np.ndarray, np.ndarray] | None,
                 bar: Any) -> list[Path]:
    """The files of one split, page by page; neighbours from ``graph`` (rows, distances by
    export row) or, without it, from the collection's HNSW index a page at a time."""
    files = _Files(data, split, index.counts[split], s.rows_per_file, schema)
    fields = plan.payload_fields()
    with_vectors = plan.vectors or (plan.neighbors > 0 and graph is None)
    offset: str | None = None
    position = 0
    try:
        while True:
            records, offset = store.scroll_page(name, offset, s.batch_size, Where(split=split),
                                                fields, with_vectors)
            ids = [r.id for r in records]
            if records and not np.array_equal(
                    id_bytes(ids), index.ids_at(split, position, position + len(records))):
                raise UsageError(
                    f"collection {name!r} changed during the export (points of split {split!r} "
                    "were added or removed): re-run the export when no job writes to it.")
            first = index.offsets[split] + position
            neighbours = None
            if plan.neighbors and graph is not None:
                neighbours = (graph[0][first:first + len(records)],
                              graph[1][first:first + len(records)])
            elif plan.neighbors and records:
                vectors = np.vstack([np.asarray(r.vector, np.float32) for r in records])
                neighbours = _neighbours(store, name, vectors, ids, plan.neighbors, index)
            cols = page_columns(plan, records, first,
                                lambda pids: index.rows_of(id_bytes(pids)), neighbours)
            files.write(record_batch(plan, schema, cols))
            position += len(records)
            bar.update(len(records))
            if offset is None:
                break
    finally:
        files.close()
    if position != index.counts[split]:
        raise UsageError(f"collection {name!r} changed during the export (split {split!r} had "
                         f"{index.counts[split]} points, then {position}): re-run the export.")
    return files.written


def push(folder: Path, repo: str, private: bool = False) -> str:
    """Upload ``folder`` to the 🤗 Hub dataset repository ``repo``; returns its URL.

    Raises:
        UsageError: The hub is switched off (HF_HUB_OFFLINE) or unreachable, or refused.
    """
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        raise UsageError(offline_message(repo, folder))
    api = HfApi()
    try:
        url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset",
                          commit_message="embedscope export")
    except _hub_errors() as exc:
        raise EmbedscopeError(
            f"--push-to-hub {repo}: the upload failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no message'}). The export is complete "
            f"in {folder}; upload it later with `hf upload {repo} {folder} --repo-type dataset`."
        ) from exc
    return str(url)


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What a failed upload raises: the hub's refusals, and its HTTP client's transport errors
    (httpx, or httpx2 in huggingface_hub 2), which are not OSErrors."""
    import importlib

    from huggingface_hub.errors import HfHubHTTPError

    errors: list[type[BaseException]] = [HfHubHTTPError, OSError, ValueError]
    for name in ("httpx2", "httpx", "requests"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        base = getattr(module, "HTTPError", None) or getattr(module, "RequestException", None)
        if isinstance(base, type) and issubclass(base, BaseException):
            errors.append(base)
    return tuple(errors)


def offline_message(repo: str, folder: Path) -> str:
    """The one line said when --push-to-hub meets HF_HUB_OFFLINE (checked before any export)."""
    return (f"--push-to-hub {repo}: the Hugging Face Hub is switched off here (HF_HUB_OFFLINE=1): "
            f"unset HF_HUB_OFFLINE where the hub is reachable, or export without --push-to-hub "
            f"and upload later with `hf upload {repo} {folder} --repo-type dataset`.")
