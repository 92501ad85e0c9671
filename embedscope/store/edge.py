"""Embedded backend: Qdrant Edge in-process, one shard directory per collection."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import embedscope.store.integrity as integrity
import embedscope.store.space as space
from embedscope.contract import INDEXED_FIELDS, CollectionMeta
from embedscope.errors import DamagedCollectionError, EmbedscopeError
from embedscope.store.base import CollectionSummary, PayloadFields, Where
from embedscope.store.edge_query import edge_config, edge_filter, payload_selector, search_params
from embedscope.store.edge_shards import EdgeShards
from embedscope.store.facets import FACET_LIMIT, Facet, ordered
from embedscope.store.keys import HitKeys
from embedscope.store.locks import StoreLocks
from embedscope.store.points import Hit, Record, as_matrix, to_hits, to_records

log = logging.getLogger(__name__)
_UPSERT_CHUNK = 1024


class CollectionExistsError(EmbedscopeError):
    """Raised by `_create` when another process created the collection first (handled in base)."""


class EdgeStore(EdgeShards):
    """Collections under ``root/<name>/``: ``shard/`` for Qdrant Edge, ``meta.json`` and
    ``integrity.json`` beside it; the lock files under ``root/.locks/``.

    A collection is locked from the moment this store opens, creates or deletes it until
    `close`: a second process gets CollectionBusyError, never a half-made or vanished
    collection. How serving processes, waiting jobs and lending share the locks:
    store/locks.py. Opening compares the shard with its integrity record (store/integrity.py).
    """

    backend = "embedded"

    def __init__(self, root: Path | str, disk_reserve_mb: float = 64.0, serving: bool = False,
                 lock_wait: float = 0.0, lent: Iterable[str] = ()) -> None:
        """Create a store over ``root``.

        Args:
            root: The directory of the embedded collections.
            disk_reserve_mb: Free space kept in reserve.
            serving: This store serves requests (ui, serve): it lets go of a collection when a
                job asks (see `wanted`) and never takes one a job waits for.
            lock_wait: Seconds to wait for a serving process to let go of a collection.
            lent: Collections whose lock the parent process holds for this one (the ingest
                writer process).
        """
        import qdrant_edge

        self._q = qdrant_edge
        self.root = Path(root)
        self.location = f"embedded Qdrant at {self.root}"
        self.reserve = int(disk_reserve_mb * space.MB)
        self._shards = {}
        self._open = {}
        self._metas: dict[str, tuple[tuple[Any, ...], CollectionMeta]] = {}
        self._locks = StoreLocks(self.root, serving, lock_wait, lent)
        self.serving = serving
        self.lock_wait = self._locks.wait  # a serving store never waits

    # --- Store primitives ------------------------------------------------------------------
    def list_collections(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith(".") and (p / "shard").is_dir())

    def collection_exists(self, name: str) -> bool:
        return (self._dir(name) / "shard").is_dir()

    def check_space(self, name: str, points: int) -> None:
        """Raise DiskFullError unless ``points`` more points fit and the reserve stays free."""
        per_point = space.point_bytes(self.dimension(name))
        space.require(self.root, name, points, per_point, self.reserve,
                      f"store {points} more points")

    def _create(
        self, name: str, meta: CollectionMeta, shard_number: int | None,
        replication_factor: int | None,
    ) -> None:
        """Build the collection in a temporary directory, then rename it into place.

        The lock is held from before the existence check until `close`, so a concurrent
        creator gets CollectionBusyError and no process ever sees a half-made collection.
        """
        q = self._q
        self.root.mkdir(parents=True, exist_ok=True)
        space.require(self.root, name, 0, 0, self.reserve, "create it")
        self._lock(name, "being created")
        if self.collection_exists(name):
            raise CollectionExistsError(f"collection {name!r} was created by another process")
        tmp = self.root / f".creating-{name}-{uuid.uuid4().hex[:8]}"
        try:
            shard = q.EdgeShard.create(str(tmp / "shard"), edge_config(q, meta))
            try:
                schema = {"keyword": q.PayloadSchemaType.Keyword,
                          "integer": q.PayloadSchemaType.Integer}
                for field, kind in INDEXED_FIELDS.items():
                    shard.update(q.UpdateOperation.create_field_index(field, schema[kind]))
                shard.flush()
            finally:
                shard.close()
            _write_json(tmp / integrity.META, meta.model_dump())
            files = integrity.fingerprint(tmp / "shard")
            integrity.write_record(tmp, integrity.IntegrityRecord(
                points=0, meta_sha256=integrity.meta_sha256(tmp), files=files))
            os.rename(tmp, self._dir(name))
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno == 28:  # ENOSPC
                raise space.space_error(name, self.root, space.free_bytes(self.root)) from exc
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def delete_collection(self, name: str) -> None:
        """Drop the collection; refused (CollectionBusyError) while another process has it."""
        self._forget(name)
        if not self.collection_exists(name):
            return
        self._lock(name, "open")
        shard = self._shards.pop(name, None)
        self._open.pop(name, None)
        if shard is not None:
            shard.close()
        trash = self.root / f".deleting-{name}-{uuid.uuid4().hex[:8]}"
        os.rename(self._dir(name), trash)
        shutil.rmtree(trash, ignore_errors=True)

    def _read_meta(self, name: str) -> CollectionMeta | None:
        """The metadata, checked against the integrity record read with it (no lock needed:
        a writer in another process changes the two together, see store/integrity.py).

        Kept while neither file changed (the same inode, size and mtime of both: a writer
        replaces each by a rename), so a query reads two stats, not both files (~0.2 ms)."""
        from pydantic import ValidationError

        cdir = self._dir(name)
        path = cdir / integrity.META
        files = integrity.stamp(cdir)
        known = self._metas.get(name)
        if files is not None and known is not None and known[0] == files:
            return known[1].model_copy(deep=True)
        raw, record = integrity.read_meta_and_record(cdir, name)
        if raw is None:
            return None
        try:
            meta = CollectionMeta.model_validate_json(raw)
        except (ValidationError, ValueError) as exc:
            if isinstance(exc, ValidationError) and exc.errors():
                err = exc.errors()[0]
                where = ".".join(str(x) for x in err.get("loc", ()))
                detail = f"{err.get('msg')}{' at ' + where if where else ''}"
            else:
                detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise integrity.damaged(
                name, f"its metadata file {path} cannot be read ({detail})") from exc
        problem = integrity.meta_problem(cdir, record, raw)
        if problem:
            raise integrity.damaged(name, problem)
        if files is not None and files == integrity.stamp(cdir):  # read between no two writes
            self._metas[name] = (files, meta.model_copy(deep=True))
        return meta

    def _write_meta(self, name: str, meta: CollectionMeta) -> None:
        self._lock(name)
        integrity.replace_meta(self._dir(name), name, _json_bytes(meta.model_dump()))

    def _upsert(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict[str, Any]]
    ) -> None:
        """Write checked points (`Store.upsert` validated ids and vectors for the whole batch)."""
        q = self._q
        started = time.perf_counter()
        shard = self._writing(name)
        per_point = space.point_bytes(vectors.shape[1], space.payload_bytes(payloads))
        for start in range(0, len(ids), _UPSERT_CHUNK):
            end = start + _UPSERT_CHUNK
            try:
                space.require(self.root, name, len(ids[start:end]), per_point, self.reserve,
                              f"store {len(ids[start:end])} more points")
            except EmbedscopeError:
                self.flush(name)  # what is stored stays stored
                raise
            points = list(map(q.Point, ids[start:end], vectors[start:end].tolist(), payloads[start:end]))
            shard.update(q.UpdateOperation.upsert_points(points))
        state = self._open[name]
        state.since_open += len(ids)
        state.write_s += time.perf_counter() - started
        if state.reopen_due():
            self._reopen(name)

    def count(self, name: str, where: Where | None = None) -> int:
        """Exact; without a filter, for a collection not loaded here whose files are as its last
        close left them, that close's exact count (checked against the shard at every opening)."""
        record = self._closed(name) if where is None else None
        if record is not None:
            return record.points
        with self._reading(name) as shard:
            return int(shard.count(self._q.CountRequest(exact=True, filter=edge_filter(self._q, where))))

    def points(self, name: str) -> int:
        """The shard's own point count (its segments' counters: no pass over the points); for a
        collection not loaded here whose files are as its last close left them, the count that
        close recorded (no loading: 2.2 s for a million points)."""
        record = self._closed(name)
        if record is not None:
            return record.points
        with self._reading(name) as shard:
            return int(shard.info().points_count)

    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        with self._reading(name) as shard:
            found = shard.retrieve(list(ids), False, False)
        return {str(r.id) for r in found}

    def _query_batch(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None = None,
        exact: bool = False, with_payload: PayloadFields = True, with_vectors: bool = False,
        exclude_per_query: Sequence[str | None] | None = None, ef: int | None = None,
    ) -> list[list[Hit]]:
        results = self._search(name, vectors, k, where, exact, with_payload, with_vectors,
                               exclude_per_query, ef)
        return [to_hits(points, with_vectors) for points in results]

    def _query_keys(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None,
        exclude_per_query: Sequence[str | None] | None, ef: int | None,
    ) -> HitKeys:
        return HitKeys.of(self._search(name, vectors, k, where, False, False, False,
                                       exclude_per_query, ef))

    def _search(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None, exact: bool,
        with_payload: PayloadFields, with_vectors: bool,
        exclude_per_query: Sequence[str | None] | None, ef: int | None,
    ) -> list[Any]:
        """The engine's scored points of each query (one batched call)."""
        q = self._q
        mat = as_matrix(vectors)
        if len(mat) == 0:
            return []
        params = search_params(q, exact, self.oversampling_for(name), ef)
        payload = payload_selector(self._q, with_payload)
        excludes = exclude_per_query or [None] * len(mat)
        requests = [
            q.QueryRequest(
                limit=k, query=q.Query.Nearest(vec), filter=edge_filter(q, where, ex),
                params=params, with_payload=payload, with_vector=with_vectors,
            )
            for vec, ex in zip(mat.tolist(), excludes)
        ]
        with self._reading(name) as shard:
            return list(shard.query_batch(q.QueryBatchRequest(requests)))

    def _sample(self, name: str, k: int, where: Where | None) -> list[str]:
        q = self._q
        request = q.QueryRequest(limit=k, query=q.Sample.Random, filter=edge_filter(q, where),
                                 with_payload=False, with_vector=False)
        with self._reading(name) as shard:
            return [str(p.id) for p in shard.query(request)]

    def scroll_page(
        self, name: str, offset: str | None, limit: int, where: Where | None = None,
        with_payload: PayloadFields = True, with_vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        with self._reading(name) as shard:
            records, nxt = shard.scroll(
                self._q.ScrollRequest(
                    offset=offset, limit=limit, filter=edge_filter(self._q, where),
                    with_payload=payload_selector(self._q, with_payload), with_vector=with_vectors,
                )
            )
        return to_records(records, with_vectors), (str(nxt) if nxt is not None else None)

    def _retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadFields = True,
        with_vectors: bool = False,
    ) -> list[Record]:
        if not ids:
            return []
        with self._reading(name) as shard:
            found = shard.retrieve(list(ids), payload_selector(self._q, with_payload), with_vectors)
        return to_records(found, with_vectors)

    def _set_payloads(self, name: str, updates: dict[str, dict[str, Any]]) -> None:
        shard = self._writing(name)
        for pid, payload in updates.items():
            shard.update(self._q.UpdateOperation.set_payload([pid], payload))
        state = self._open[name]
        state.moved += len(updates)
        if state.moved_reopen_due():
            self._reopen(name)

    def summary(self, name: str) -> CollectionSummary:
        """As the base, but read from the integrity record when the disk is too full to open it."""
        if name not in self._shards and space.free_bytes(self.root) < space.OPEN_MIN:
            record = integrity.read_record(self._dir(name), name)
            if record is not None:
                return CollectionSummary(name=name, points=record.points, meta=self._read_meta(name))
        return super().summary(name)

    def optimize(self, name: str) -> None:
        self._shard(name).optimize()

    def facet(self, name: str, key: str, limit: int = FACET_LIMIT) -> Facet:
        """As the base; for a collection not loaded here whose files are as its last close left
        them, the facet that close recorded (the page's split and tag lists without loading)."""
        record = self._closed(name)
        if record is not None and key in record.facets and limit <= FACET_LIMIT:
            return Facet(key, ordered([(v, int(c)) for v, c in record.facets[key]])[:limit])
        return super().facet(name, key, limit)

    def _facet(self, name: str, key: str, limit: int) -> list[tuple[Any, int]]:
        with self._reading(name) as shard:
            res = shard.facet(self._q.FacetRequest(key=key, limit=limit, exact=True))
        return ordered([(h.value, int(h.count)) for h in res.hits])

    def indexed_fields(self, name: str) -> set[str]:
        with self._reading(name) as shard:
            return set(shard.info().payload_schema)

    def _create_index(self, name: str, key: str, kind: str) -> None:
        q = self._q
        schema = {"keyword": q.PayloadSchemaType.Keyword, "integer": q.PayloadSchemaType.Integer}
        self._writing(name).update(q.UpdateOperation.create_field_index(key, schema[kind]))

    def footprint(self, name: str) -> dict[str, dict[str, Any]] | None:
        """Bytes of each structure from the shard's files (store/footprint.py); flushed first
        when this store has it open, so that the files hold what was written."""
        from embedscope.store.footprint import shard_footprint

        self.require(name)
        if name in self._shards:
            self._shards[name].flush()
        return shard_footprint(self._dir(name) / "shard", self._read_meta(name))

    def indexed_vectors(self, name: str) -> int | None:
        """Vectors of ``name`` in HNSW-indexed segments (the rest is searched by brute force)."""
        return int(self._shard(name).info().indexed_vectors_count)

    def scanned_vectors(self, name: str) -> int | None:
        """About how many vectors lie in segments without an HNSW index (store/footprint.py),
        from the shard's files; flushed first when this store has it open."""
        from embedscope.store.footprint import scanned_vectors

        self.require(name)
        if name in self._shards:
            self._shards[name].flush()
        return scanned_vectors(self._dir(name) / "shard", self.dimension(name))


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, indent=2).encode()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(_json_bytes(data))
    os.replace(tmp, path)


__all__ = ["CollectionExistsError", "DamagedCollectionError", "EdgeStore"]
