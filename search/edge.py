"""Embedded backend: Qdrant Edge in-process, one shard directory per collection."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.search.base import PayloadFields, Store, Where
from embedscope.search.contract import INDEXED_FIELDS, CollectionMeta
from embedscope.search.errors import CollectionBusyError, EmbedscopeError
from embedscope.search.points import Hit, Record, as_matrix, check_name, to_hits, to_records

_UPSERT_CHUNK = 1024


class EdgeStore(Store):
    """Collections under ``root/<name>/`` (``shard/`` for Qdrant Edge, ``meta.json`` beside it).

    One process owns a shard at a time; a second process gets CollectionBusyError.
    """

    backend = "embedded"

    def __init__(self, root: Path | str) -> None:
        import qdrant_edge

        self._q = qdrant_edge
        self.root = Path(root)
        self.location = f"embedded Qdrant at {self.root}"
        self._shards: dict[str, Any] = {}

    # --- paths and shards ----------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        """The collection's directory; a name that is not one path component is refused."""
        check_name(name)
        return self.root / name

    def _shard(self, name: str) -> Any:
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        self.require(name)
        try:
            shard = self._q.EdgeShard.load(str(self._dir(name) / "shard"))
        except Exception as exc:  # qdrant_edge raises plain Exception
            if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
                raise CollectionBusyError(
                    f"collection {name!r} is open in another process (embedded Qdrant allows one "
                    "process per collection). Wait for that process (ingest, analyze or ui) to "
                    "finish, or run a Qdrant server and set EMBEDSCOPE_QDRANT_URL to share it."
                ) from exc
            raise EmbedscopeError(f"cannot open collection {name!r}: {exc}") from exc
        self._shards[name] = shard
        return shard

    def _filter(self, where: Where | None, exclude: str | None = None) -> Any:
        q = self._q
        must: list[Any] = []
        must_not: list[Any] = []
        if where is not None:
            if where.split is not None:
                must.append(q.FieldCondition(key="split", match=q.MatchValue(where.split)))
            if where.label is not None:
                must.append(q.FieldCondition(key="label", match=q.MatchValue(int(where.label))))
            if where.has_label:
                must_not.append(q.IsEmptyCondition("label"))
            if where.exclude_ids:
                must_not.append(q.HasIdCondition(set(where.exclude_ids)))
        if exclude is not None:
            must_not.append(q.HasIdCondition({exclude}))
        if not must and not must_not:
            return None
        return q.Filter(must=must or None, must_not=must_not or None)

    def _payload_sel(self, with_payload: PayloadFields) -> Any:
        if isinstance(with_payload, bool):
            return with_payload
        return self._q.PayloadSelector.Include(list(with_payload))

    # --- Store primitives ------------------------------------------------------------------
    def list_collections(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "shard").is_dir())

    def collection_exists(self, name: str) -> bool:
        return (self._dir(name) / "shard").is_dir()

    def _create(
        self, name: str, meta: CollectionMeta, shard_number: int | None,
        replication_factor: int | None,
    ) -> None:
        q = self._q
        self._dir(name).mkdir(parents=True, exist_ok=True)
        config = q.EdgeConfig(vectors=q.EdgeVectorParams(size=meta.dimension, distance=q.Distance.Cosine))
        shard = q.EdgeShard.create(str(self._dir(name) / "shard"), config)
        schema = {"keyword": q.PayloadSchemaType.Keyword, "integer": q.PayloadSchemaType.Integer}
        for field, kind in INDEXED_FIELDS.items():
            shard.update(q.UpdateOperation.create_field_index(field, schema[kind]))
        self._shards[name] = shard

    def delete_collection(self, name: str) -> None:
        self._forget(name)
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        shutil.rmtree(self._dir(name), ignore_errors=True)

    def _read_meta(self, name: str) -> CollectionMeta | None:
        path = self._dir(name) / "meta.json"
        if not path.exists():
            return None
        return CollectionMeta.model_validate_json(path.read_text())

    def _write_meta(self, name: str, meta: CollectionMeta) -> None:
        path = self._dir(name) / "meta.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta.model_dump(), indent=2))
        os.replace(tmp, path)

    def _upsert(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict[str, Any]]
    ) -> None:
        q = self._q
        shard = self._shard(name)
        mat = as_matrix(vectors)
        for start in range(0, len(ids), _UPSERT_CHUNK):
            end = start + _UPSERT_CHUNK
            points = [
                q.Point(pid, vec, payload)
                for pid, vec, payload in zip(ids[start:end], mat[start:end].tolist(), payloads[start:end])
            ]
            shard.update(q.UpdateOperation.upsert_points(points))

    def count(self, name: str, where: Where | None = None) -> int:
        return int(self._shard(name).count(self._q.CountRequest(exact=True, filter=self._filter(where))))

    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        found = self._shard(name).retrieve(list(ids), False, False)
        return {str(r.id) for r in found}

    def _query_batch(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None = None,
        exact: bool = False, with_payload: PayloadFields = True, with_vectors: bool = False,
        exclude_per_query: Sequence[str | None] | None = None,
    ) -> list[list[Hit]]:
        q = self._q
        mat = as_matrix(vectors)
        if len(mat) == 0:
            return []
        params = q.SearchParams(exact=exact)
        payload = self._payload_sel(with_payload)
        excludes = exclude_per_query or [None] * len(mat)
        requests = [
            q.QueryRequest(
                limit=k, query=q.Query.Nearest(vec), filter=self._filter(where, ex),
                params=params, with_payload=payload, with_vector=with_vectors,
            )
            for vec, ex in zip(mat.tolist(), excludes)
        ]
        results = self._shard(name).query_batch(q.QueryBatchRequest(requests))
        return [to_hits(points, with_vectors) for points in results]

    def scroll_page(
        self, name: str, offset: str | None, limit: int, where: Where | None = None,
        with_payload: PayloadFields = True, with_vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        records, nxt = self._shard(name).scroll(
            self._q.ScrollRequest(
                offset=offset, limit=limit, filter=self._filter(where),
                with_payload=self._payload_sel(with_payload), with_vector=with_vectors,
            )
        )
        return to_records(records, with_vectors), (str(nxt) if nxt is not None else None)

    def _retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadFields = True,
        with_vectors: bool = False,
    ) -> list[Record]:
        if not ids:
            return []
        found = self._shard(name).retrieve(list(ids), self._payload_sel(with_payload), with_vectors)
        return to_records(found, with_vectors)

    def _set_payloads(self, name: str, updates: dict[str, dict[str, Any]]) -> None:
        shard = self._shard(name)
        for pid, payload in updates.items():
            shard.update(self._q.UpdateOperation.set_payload([pid], payload))

    def optimize(self, name: str) -> None:
        self._shard(name).optimize()

    def flush(self, name: str) -> None:
        """Persist pending writes of one collection."""
        self._shard(name).flush()

    def close(self) -> None:
        for shard in self._shards.values():
            try:
                shard.flush()
            finally:
                shard.close()
        self._shards.clear()
