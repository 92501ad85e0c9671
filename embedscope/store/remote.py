"""Server backend: qdrant-client against a Qdrant server or cluster (or its in-memory mode for tests)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from embedscope.contract import INDEXED_FIELDS, CollectionMeta, Payload
from embedscope.errors import QdrantUnavailableError, UsageError
from embedscope.store.base import PayloadFields, Store, Where
from embedscope.store.facets import ordered
from embedscope.store.points import Hit, Record, as_matrix, to_hits, to_records

log = logging.getLogger(__name__)
T = TypeVar("T")
_META_KEY = "embedscope"
_BATCH = 256


def _is_connection_error(exc: BaseException) -> bool:
    """Errors worth retrying: the server is down, restarting or overloaded."""
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    retryable = {
        "ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "RemoteProtocolError",
        "ReadError", "PoolTimeout", "ConnectionRefusedError", "ConnectionResetError",
        "ResponseHandlingException", "_InactiveRpcError",
    }
    if names & retryable:
        return True
    status = getattr(exc, "status_code", None)
    return status in (502, 503, 504)


def _is_missing_collection(exc: BaseException) -> bool:
    """The server (404) or the in-memory client says the collection does not exist."""
    text = str(exc).lower()
    return getattr(exc, "status_code", None) == 404 or ("collection" in text and "not found" in text)


def server_quantization(m: Any, quantization: str) -> Any:
    """qdrant-client's quantization config for a contract name (None for "none"); quantized
    vectors stay in RAM (``always_ram``), the originals wherever ``on_disk`` puts them."""
    if quantization == "int8":
        return m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(
            type=m.ScalarType.INT8, quantile=0.99, always_ram=True))
    if quantization == "binary":
        return m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True))
    if quantization == "turbo4":
        return m.TurboQuantization(turbo=m.TurboQuantQuantizationConfig(
            bits=m.TurboQuantBitSize.BITS4, always_ram=True))
    return None


class RemoteStore(Store):
    """Collections on a Qdrant server; metadata in the collection's own metadata."""

    backend = "server"

    def __init__(
        self, url: str, api_key: str | None = None, timeout: int = 60, retry_seconds: float = 120.0,
        interactive: bool = False, grpc: bool = False, grpc_port: int = 6334,
        upload_parallel: int = 1,
    ) -> None:
        """Connect lazily to ``url``.

        Args:
            url: http(s) URL of the REST port, or ':memory:' (qdrant-client's local mode).
            api_key: The server's API key, if any.
            timeout: Seconds one request may take.
            retry_seconds: How long an unreachable server is retried before failing.
            interactive: An interactive command: the server's port is tried once (within
                ``retry_seconds``) before the first request, so a host that drops packets
                fails as fast as one that refuses them, and the message names the setting.
            grpc: Talk to the server over gRPC (on ``grpc_port``) instead of REST.
            grpc_port: The server's gRPC port.
            upload_parallel: Upserts a batch writer may have in flight at once (a server only).
        """
        from qdrant_client import QdrantClient, models

        self._m = models
        self.url = url
        self.api_key = api_key
        self.retry_seconds = retry_seconds
        self.interactive = interactive
        self._reached = not interactive
        self.grpc = False
        if url == ":memory:":
            self.backend = "memory"
            self.location = "qdrant-client in-memory mode"
            self.client = QdrantClient(location=":memory:")
            self.retry_seconds = 0.0
            self._reached = True
        else:
            if not url.startswith(("http://", "https://")):
                raise UsageError(
                    f"Qdrant URL {url!r} has no http:// or https:// scheme; "
                    "e.g. http://localhost:6333 (REST port)"
                )
            self.location = f"Qdrant server at {url}" + (f" (gRPC port {grpc_port})" if grpc else "")
            self.upload_parallel = max(1, int(upload_parallel))
            self.grpc = grpc
            self.client = QdrantClient(
                url=url, api_key=api_key, timeout=timeout, check_compatibility=False,
                prefer_grpc=grpc, grpc_port=grpc_port,
            )

    # --- retries ---------------------------------------------------------------------------
    def _unreachable(self, exc: BaseException) -> QdrantUnavailableError:
        if self.interactive:
            return QdrantUnavailableError(
                f"cannot reach the {self.location} (tried for {self.retry_seconds:.0f} s): {exc}. "
                "Start the server or fix EMBEDSCOPE_QDRANT_URL (unset it to use the embedded "
                "store); interactive commands wait EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS "
                "(--qdrant-interactive-seconds), batch ones EMBEDSCOPE_QDRANT_RETRY_SECONDS."
            )
        return QdrantUnavailableError(
            f"cannot reach the {self.location} (tried for {self.retry_seconds:.0f} s): "
            f"{exc}. Check that the server is running and EMBEDSCOPE_QDRANT_URL is "
            "right; raise EMBEDSCOPE_QDRANT_RETRY_SECONDS to wait longer. "
            "An interrupted ingest resumes when run again."
        )

    def _reach(self) -> None:
        """Interactive: one TCP connection to the server's port, bounded by ``retry_seconds``."""
        import socket
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname or "localhost", port),
                                     timeout=max(self.retry_seconds, 0.5)).close()
        except OSError as exc:
            raise self._unreachable(exc) from exc
        self._reached = True

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a client call, retrying with exponential backoff while the server is unreachable."""
        if not self._reached:
            self._reach()
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.5
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not _is_connection_error(exc):
                    if args and isinstance(args[0], str) and _is_missing_collection(exc):
                        self.require(args[0])  # the same CollectionNotFoundError as every backend
                    raise
                if time.monotonic() + delay > deadline:
                    raise self._unreachable(exc) from exc
                log.warning("Qdrant unreachable (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _filter(self, where: Where | None, exclude: str | None = None) -> Any:
        m = self._m
        must: list[Any] = []
        must_not: list[Any] = []
        if where is not None:
            if where.split is not None:
                must.append(m.FieldCondition(key=Payload.SPLIT, match=m.MatchValue(value=where.split)))
            if where.label is not None:
                must.append(m.FieldCondition(key=Payload.LABEL, match=m.MatchValue(value=int(where.label))))
            if where.tag is not None:  # matches when the ``tags`` list holds the tag
                must.append(m.FieldCondition(key=Payload.TAGS, match=m.MatchValue(value=str(where.tag))))
            if where.has_label:
                must_not.append(m.IsEmptyCondition(is_empty=m.PayloadField(key=Payload.LABEL)))
            if where.exclude_ids:
                must_not.append(m.HasIdCondition(has_id=list(where.exclude_ids)))
        if exclude is not None:
            must_not.append(m.HasIdCondition(has_id=[exclude]))
        if not must and not must_not:
            return None
        return m.Filter(must=must or None, must_not=must_not or None)

    @staticmethod
    def _payload_sel(with_payload: PayloadFields) -> Any:
        return with_payload if isinstance(with_payload, bool) else list(with_payload)

    # --- Store primitives ------------------------------------------------------------------
    def list_collections(self) -> list[str]:
        res = self._call(self.client.get_collections)
        return sorted(c.name for c in res.collections)

    def collection_exists(self, name: str) -> bool:
        return bool(self._call(self.client.collection_exists, name))

    def _create(
        self, name: str, meta: CollectionMeta, shard_number: int | None,
        replication_factor: int | None,
    ) -> None:
        m = self._m
        try:
            self._call(
                self.client.create_collection,
                collection_name=name,
                vectors_config=m.VectorParams(
                    size=meta.dimension, distance=m.Distance.COSINE,
                    on_disk=True if meta.vectors_on_disk else None,
                    hnsw_config=m.HnswConfigDiff(on_disk=True) if meta.hnsw_on_disk else None,
                ),
                quantization_config=server_quantization(m, meta.quantization),
                shard_number=shard_number,
                replication_factor=replication_factor,
                metadata={_META_KEY: meta.model_dump()},
            )
        except QdrantUnavailableError:
            raise
        except Exception as exc:
            if meta.quantization == "turbo4" and "turbo" in str(exc).lower():
                raise UsageError(
                    f"the Qdrant server at {self.url} ({self._server_version()}) has no TurboQuant "
                    "quantization: it offers int8 (scalar) and binary here. Use --quantization "
                    "int8 or binary, or a server version with TurboQuant."
                ) from exc
            raise
        if self.backend != "memory":  # local mode has no payload indexes
            schema = {"keyword": m.PayloadSchemaType.KEYWORD, "integer": m.PayloadSchemaType.INTEGER}
            for field, kind in INDEXED_FIELDS.items():
                self._call(
                    self.client.create_payload_index, name, field, field_schema=schema[kind], wait=True
                )

    def _server_version(self) -> str:
        try:
            return f"version {self.client.info().version}"
        except Exception:  # the version is only for the message
            return "version unknown"

    def delete_collection(self, name: str) -> None:
        self._forget(name)
        self._call(self.client.delete_collection, name)

    def optimize(self, name: str) -> None:
        """The server builds its indexes itself; only the collection's existence is checked."""
        self.require(name)

    def _read_meta(self, name: str) -> CollectionMeta | None:
        info = self._call(self.client.get_collection, name)
        raw = (info.config.metadata or {}).get(_META_KEY)
        return CollectionMeta.model_validate(raw) if raw else None

    def _write_meta(self, name: str, meta: CollectionMeta) -> None:
        self._call(self.client.update_collection, name, metadata={_META_KEY: meta.model_dump()})

    def _upsert(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict[str, Any]]
    ) -> None:
        mat = as_matrix(vectors)
        for start in range(0, len(ids), _BATCH):
            end = start + _BATCH
            # One columnar Batch, not a PointStruct per point: cheaper to build and encode, over
            # REST and over gRPC (qdrant-client converts it; benchmarks/bench_writer.py
            # --server-encoding).
            batch = self._m.Batch(ids=list(ids[start:end]), vectors=mat[start:end].tolist(),
                                  payloads=list(payloads[start:end]))
            self._call(self.client.upsert, name, points=batch, wait=True)

    def count(self, name: str, where: Where | None = None) -> int:
        self.require(name)
        res = self._call(self.client.count, name, count_filter=self._filter(where), exact=True)
        return int(res.count)

    def _facet(self, name: str, key: str, limit: int) -> list[tuple[Any, int]]:
        res = self._call(self.client.facet, name, key=key, limit=limit, exact=True)
        return ordered([(h.value, int(h.count)) for h in res.hits])

    def indexed_fields(self, name: str) -> set[str]:
        if self.backend == "memory":  # local mode has no payload indexes and facets any field
            return set(INDEXED_FIELDS)
        return set(self._call(self.client.get_collection, name).payload_schema or {})

    def _create_index(self, name: str, key: str, kind: str) -> None:
        if self.backend == "memory":
            return
        m = self._m
        schema = {"keyword": m.PayloadSchemaType.KEYWORD, "integer": m.PayloadSchemaType.INTEGER}
        self._call(self.client.create_payload_index, name, key, field_schema=schema[kind], wait=True)

    def points(self, name: str) -> int:
        """The server's point count from the collection's info (no pass over the points; on a
        server it may lag the last writes by moments, as Qdrant documents)."""
        info = self._call(self.client.get_collection, name)
        return int(info.points_count or 0)

    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 1024):
            recs = self._call(
                self.client.retrieve, name, list(ids[start:start + 1024]),
                with_payload=False, with_vectors=False,
            )
            found.update(str(r.id) for r in recs)
        return found

    def _query_batch(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None = None,
        exact: bool = False, with_payload: PayloadFields = True, with_vectors: bool = False,
        exclude_per_query: Sequence[str | None] | None = None, ef: int | None = None,
    ) -> list[list[Hit]]:
        m = self._m
        mat = as_matrix(vectors)
        excludes = exclude_per_query or [None] * len(mat)
        # local (in-memory) mode always searches exactly and warns about any params
        oversampling = self.oversampling_for(name)
        quantized = (m.QuantizationSearchParams(rescore=True, oversampling=oversampling)
                     if oversampling is not None and not exact else None)
        params = None if self.backend == "memory" else m.SearchParams(
            exact=exact, quantization=quantized, hnsw_ef=None if exact else ef)
        payload = self._payload_sel(with_payload)
        out: list[list[Hit]] = []
        for start in range(0, len(mat), _BATCH):
            requests = [
                m.QueryRequest(
                    query=vec, limit=k, filter=self._filter(where, ex), params=params,
                    with_payload=payload, with_vector=with_vectors,
                )
                for vec, ex in zip(mat[start:start + _BATCH].tolist(), excludes[start:start + _BATCH])
            ]
            responses = self._call(self.client.query_batch_points, name, requests)
            out.extend(to_hits(resp.points, with_vectors) for resp in responses)
        return out

    def _sample(self, name: str, k: int, where: Where | None) -> list[str]:
        m = self._m
        found = self._call(self.client.query_points, name,
                           query=m.SampleQuery(sample=m.Sample.RANDOM), limit=k,
                           query_filter=self._filter(where, None), with_payload=False)
        return [str(p.id) for p in found.points]

    def scroll_page(
        self, name: str, offset: str | None, limit: int, where: Where | None = None,
        with_payload: PayloadFields = True, with_vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        records, nxt = self._call(
            self.client.scroll, name, scroll_filter=self._filter(where), limit=limit,
            offset=offset, with_payload=self._payload_sel(with_payload), with_vectors=with_vectors,
        )
        return to_records(records, with_vectors), (str(nxt) if nxt is not None else None)

    def _retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadFields = True,
        with_vectors: bool = False,
    ) -> list[Record]:
        if not ids:
            return []
        recs = self._call(
            self.client.retrieve, name, list(ids),
            with_payload=self._payload_sel(with_payload), with_vectors=with_vectors,
        )
        return to_records(recs, with_vectors)

    def _set_payloads(self, name: str, updates: dict[str, dict[str, Any]]) -> None:
        m = self._m
        items = list(updates.items())
        for start in range(0, len(items), _BATCH):
            ops = [
                m.SetPayloadOperation(set_payload=m.SetPayload(payload=payload, points=[pid]))
                for pid, payload in items[start:start + _BATCH]
            ]
            self._call(self.client.batch_update_points, name, ops, wait=True)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception as exc:  # closing must never mask the real outcome
            log.debug("closing the Qdrant client failed: %s", exc)


__all__ = ["RemoteStore"]
