"""The store interface every backend implements: collections, points, queries, metadata."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from embedscope.contract import DEFAULT_OVERSAMPLING, INDEXED_FIELDS, CollectionMeta
from embedscope.errors import CollectionNotFoundError, UsageError
from embedscope.store.ensure import ensure
from embedscope.store.facets import FACET_LIMIT, Facet, scan
from embedscope.store.keys import HitKeys
from embedscope.store.points import Hit, Record, as_matrix, check_ids, checked_queries
from embedscope.store.values import CollectionSummary, PayloadFields, Where


class Store(ABC):
    """Qdrant access for the rest of embedscope. Vectors are float32, ids are UUID strings."""

    backend: str = "abstract"
    #: Human-readable location (data dir or URL), for messages.
    location: str = ""
    #: Upserts a batch writer may have in flight at once (a server applies them in parallel;
    #: the embedded engine writes one at a time).
    upload_parallel: int = 1
    #: Candidates a search of a quantized collection draws, as a multiple of k, before
    #: rescoring them with the original vectors (None: the collection's quantization's default,
    #: contract.DEFAULT_OVERSAMPLING). Set by the search commands, the page and the API.
    oversampling: float | None = None

    # --- backend primitives -------------------------------------------------------------
    @abstractmethod
    def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""

    @abstractmethod
    def collection_exists(self, name: str) -> bool:
        """Whether the collection exists."""

    @abstractmethod
    def _create(
        self, name: str, meta: CollectionMeta, shard_number: int | None,
        replication_factor: int | None,
    ) -> None:
        """Create an empty collection with cosine distance and payload indexes."""

    @abstractmethod
    def delete_collection(self, name: str) -> None:
        """Drop the collection and everything in it (no error if absent)."""

    @abstractmethod
    def _read_meta(self, name: str) -> CollectionMeta | None:
        """Stored metadata, or None when the collection was not made by embedscope."""

    @abstractmethod
    def _write_meta(self, name: str, meta: CollectionMeta) -> None:
        """Replace the stored metadata."""

    @abstractmethod
    def _upsert(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict[str, Any]]
    ) -> None:
        """Insert or overwrite points (already checked by `upsert`)."""

    @abstractmethod
    def count(self, name: str, where: Where | None = None) -> int:
        """Exact number of points matching ``where``."""

    def points(self, name: str) -> int:
        """The engine's own point count of the whole collection: no pass over the points
        (collection info), for listings. `count` is the exact count, with or without a filter."""
        return self.count(name)

    @abstractmethod
    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already stored."""

    @abstractmethod
    def _query_batch(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None = None,
        exact: bool = False, with_payload: PayloadFields = True, with_vectors: bool = False,
        exclude_per_query: Sequence[str | None] | None = None, ef: int | None = None,
    ) -> list[list[Hit]]:
        """Top-k cosine neighbours for each row of ``vectors``.

        ``exclude_per_query[i]``, when given, is an id left out of query i's results only
        (leave-one-out and query-by-stored-point).
        """

    @abstractmethod
    def scroll_page(
        self, name: str, offset: str | None, limit: int, where: Where | None = None,
        with_payload: PayloadFields = True, with_vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        """One page of points and the offset of the next page (None at the end)."""

    @abstractmethod
    def _retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadFields = True,
        with_vectors: bool = False,
    ) -> list[Record]:
        """The stored points among ``ids`` (distinct; missing ids are left out)."""

    @abstractmethod
    def _set_payloads(self, name: str, updates: dict[str, dict[str, Any]]) -> None:
        """Merge payload updates into stored points (all of which exist)."""

    @abstractmethod
    def _sample(self, name: str, k: int, where: Where | None) -> list[str]:
        """Ids of up to ``k`` points drawn at random by the engine (among ``where``)."""

    @abstractmethod
    def _facet(self, name: str, key: str, limit: int) -> list[tuple[Any, int]]:
        """Distinct values of an indexed payload field and their point counts, from the index."""

    @abstractmethod
    def indexed_fields(self, name: str) -> set[str]:
        """The payload fields of ``name`` that have a payload index (facets need one)."""

    @abstractmethod
    def _create_index(self, name: str, key: str, kind: str) -> None:
        """Create the payload index ``kind`` ("keyword", "integer") of ``key``."""

    def check_space(self, name: str, points: int) -> None:  # noqa: B027 - the server manages its disk
        """Raise DiskFullError when ``points`` more points of ``name`` would not fit on disk."""

    def integrity_record(self, name: str) -> Any | None:
        """The point count etc. recorded at the last clean close (embedded only; else None)."""
        return None

    def optimize(self, name: str) -> None:  # noqa: B027 - a no-op where the server optimises itself
        """Build indexes after a bulk load (embedded: synchronous; server: automatic)."""

    def footprint(self, name: str) -> dict[str, dict[str, Any]] | None:
        """Bytes of each structure (vectors, quantized vectors, HNSW graph, payload …) and
        whether it lives in RAM or on disk (store/footprint.py); None where the backend does
        not say (a server: see its telemetry)."""
        return None

    def indexed_vectors(self, name: str) -> int | None:
        """Vectors of ``name`` in its HNSW index (embedded); None where the backend does not say."""
        return None

    def scanned_vectors(self, name: str) -> int | None:
        """About how many vectors of ``name`` lie outside its HNSW index, compared one by one by
        every search (embedded; store/footprint.py); None where the backend does not say."""
        return None

    def rest(self, name: str) -> None:  # noqa: B027 - a server holds its own memory
        """Let go of what an open collection holds in this process's memory until it is next
        used (embedded: its shard is closed and reopened on the next call, its lock kept)."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release files and connections."""

    # --- shared logic -------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- checked entry points: the same checks and error types on every backend ---------
    def dimension(self, name: str) -> int:
        """The collection's vector dimension (from its metadata; remembered per store)."""
        dims: dict[str, int] = self.__dict__.setdefault("_dimensions", {})
        if name not in dims:
            dims[name] = self.get_meta(name).dimension
        return dims[name]

    def _forget(self, name: str) -> None:
        self.__dict__.get("_dimensions", {}).pop(name, None)
        self.__dict__.get("_quantization", {}).pop(name, None)

    def quantization(self, name: str) -> str:
        """The collection's quantization (from its metadata; remembered per store)."""
        known: dict[str, str] = self.__dict__.setdefault("_quantization", {})
        if name not in known:
            meta = self._read_meta(name)
            known[name] = meta.quantization if meta is not None else "none"
        return known[name]

    def oversampling_for(self, name: str) -> float | None:
        """The oversampling a search of ``name`` uses: None for an unquantized collection."""
        quantization = self.quantization(name)
        if quantization == "none":
            return None
        if self.oversampling is None:
            return DEFAULT_OVERSAMPLING[quantization]
        return max(1.0, float(self.oversampling))

    def upsert(
        self, name: str, ids: Sequence[str], vectors: np.ndarray | Sequence[Sequence[float]],
        payloads: Sequence[dict[str, Any]],
    ) -> None:
        """Insert or overwrite points.

        Raises:
            CollectionNotFoundError: no such collection.
            UsageError: ids, vectors and payloads differ in number, an id is not a UUID, or a
                vector has the wrong dimension or a NaN / infinite value.
        """
        mat = as_matrix(vectors, self.dimension(name))
        if not len(ids) == len(mat) == len(payloads):
            raise UsageError(f"{len(ids)} ids, {len(mat)} vectors and {len(payloads)} payloads: "
                             "upsert needs one of each per point")
        check_ids(ids)
        self._upsert(name, ids, mat, payloads)

    def query_batch(
        self, name: str, vectors: np.ndarray | Sequence[Sequence[float]], k: int,
        where: Where | None = None, exact: bool = False, with_payload: PayloadFields = True,
        with_vectors: bool = False, exclude_per_query: Sequence[str | None] | None = None,
        ef: int | None = None,
    ) -> list[list[Hit]]:
        """Top-k cosine neighbours for each row of ``vectors``.

        ``exclude_per_query[i]``, when given, is an id left out of query i's results only
        (leave-one-out and query-by-stored-point). ``ef`` is the HNSW search's beam width
        (None: the engine's default, the index's ef_construct); exact searches ignore it.

        Raises:
            CollectionNotFoundError: no such collection.
            UsageError: k < 1, vectors of the wrong dimension or not finite, or an exclusion
                list of another length than the queries.
        """
        mat, k, ef = checked_queries(vectors, self.dimension(name), k, exclude_per_query, ef)
        return self._query_batch(name, mat, k, where, exact, with_payload, with_vectors,
                                 exclude_per_query, ef)

    def query_keys(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None = None,
        exclude_per_query: Sequence[str | None] | None = None, ef: int | None = None,
    ) -> HitKeys:
        """:meth:`query_batch`'s approximate top-k as arrays (ids as 16-byte keys, scores,
        hits per query), without payloads: what a pass over every point reads (the k-NN
        graph, the leak search, the export), with no Python object per hit.

        Raises:
            The errors of :meth:`query_batch`.
        """
        mat, k, ef = checked_queries(vectors, self.dimension(name), k, exclude_per_query, ef)
        return self._query_keys(name, mat, k, where, exclude_per_query, ef)

    def _query_keys(
        self, name: str, vectors: np.ndarray, k: int, where: Where | None,
        exclude_per_query: Sequence[str | None] | None, ef: int | None,
    ) -> HitKeys:
        """The backend's :meth:`query_keys` (by default its Hits, turned into arrays)."""
        return HitKeys.of(self._query_batch(name, vectors, k, where, False, False, False,
                                            exclude_per_query, ef))

    def sample(self, name: str, k: int = 1, where: Where | None = None) -> list[str]:
        """Ids of up to ``k`` points drawn at random (among ``where``), by the engine's random
        sampling: no pass over the collection, whatever its size.

        Raises:
            CollectionNotFoundError: no such collection.
            UsageError: k < 1.
        """
        if int(k) < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        self.require(name)
        return self._sample(name, int(k), where)

    def retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadFields = True,
        with_vectors: bool = False,
    ) -> list[Record]:
        """The stored points among ``ids``, each once (missing ids are left out)."""
        return self._retrieve(name, list(dict.fromkeys(ids)), with_payload, with_vectors)

    def set_payloads(self, name: str, updates: dict[str, dict[str, Any]]) -> None:
        """Merge per-point payload updates ``{id: {field: value}}`` into stored payloads.

        Raises:
            CollectionNotFoundError: no such collection.
            UsageError: an id is not stored (nothing is written then).
        """
        missing = set(updates) - self.existing_ids(name, list(updates))
        if missing:
            raise UsageError(f"{len(missing)} of the points to update are not in {name!r}, "
                             f"e.g. {sorted(missing)[0]}")
        self._set_payloads(name, updates)

    def require(self, name: str) -> None:
        """Raise CollectionNotFoundError with the list of existing collections."""
        if not self.collection_exists(name):
            names = self.list_collections()
            hint = ", ".join(names) if names else "none yet: run `embedscope ingest` first"
            raise CollectionNotFoundError(
                f"no collection named {name!r} in {self.location}. Existing collections: {hint}."
            )

    def get_meta(self, name: str) -> CollectionMeta:
        """Metadata of an existing collection (raises if it is missing or foreign)."""
        self.require(name)
        meta = self._read_meta(name)
        if meta is None:
            raise UsageError(
                f"collection {name!r} has no embedscope metadata (model, dimension): it was not "
                "created by embedscope. Ingest into a new collection with --collection."
            )
        return meta

    def stored_meta(self, name: str) -> CollectionMeta | None:
        """The collection's embedscope metadata, None when it has none (a foreign collection).

        Reads no points: an embedded collection another process holds can be described.
        """
        self.require(name)
        return self._read_meta(name)

    def update_meta(self, name: str, **changes: Any) -> CollectionMeta:
        """Change metadata fields (e.g. labels, analysis) and store the result."""
        meta = self.get_meta(name).model_copy(update=changes)
        self._write_meta(name, meta)
        return meta

    def ensure_collection(
        self, name: str, meta: CollectionMeta, recreate: bool = False,
        shard_number: int | None = None, replication_factor: int | None = None,
    ) -> CollectionMeta:
        """Create the collection, or check that an existing one is in the same vector space.

        Returns the stored metadata (which keeps the existing class names if the new ones
        are empty).
        """
        return ensure(self, name, meta, recreate, shard_number, replication_factor)

    def facet(self, name: str, key: str, limit: int = FACET_LIMIT) -> Facet:
        """The distinct values of payload field ``key`` and how many points hold each (a list
        value counts each element), from the field's payload index: no pass over the points.

        A collection without that index (made by an older embedscope) is counted from a bounded
        scroll instead, and the facet says so (``indexed`` False, ``note``).
        """
        self.require(name)
        if key not in self.indexed_fields(name):
            return scan(self, name, key, limit)
        return Facet(key, self._facet(name, key, limit))

    def ensure_indexes(self, name: str) -> list[str]:
        """Create the payload indexes of the contract (``INDEXED_FIELDS``) that ``name`` lacks
        (a collection made by an older embedscope); returns the fields indexed now."""
        missing = [f for f in INDEXED_FIELDS if f not in self.indexed_fields(name)]
        for key in missing:
            self._create_index(name, key, INDEXED_FIELDS[key])
        return missing

    def summary(self, name: str) -> CollectionSummary:
        """Name, point count and metadata of one collection."""
        return CollectionSummary(name=name, points=self.points(name), meta=self._read_meta(name))

    def query(
        self, name: str, vector: np.ndarray, k: int, where: Where | None = None,
        exact: bool = False, with_payload: PayloadFields = True, with_vectors: bool = False,
    ) -> list[Hit]:
        """Top-k cosine neighbours of one vector."""
        return self.query_batch(
            name, np.asarray(vector, dtype=np.float32)[None, :], k, where, exact,
            with_payload, with_vectors,
        )[0]

    def scroll(
        self, name: str, where: Where | None = None, with_payload: PayloadFields = True,
        with_vectors: bool = False, page_size: int = 1024,
    ) -> Iterator[Record]:
        """Every point matching ``where``, page by page."""
        offset: str | None = None
        while True:
            records, offset = self.scroll_page(
                name, offset, page_size, where, with_payload, with_vectors
            )
            yield from records
            if offset is None:
                return

    def fetch_all(
        self, name: str, where: Where | None = None, payload_fields: Sequence[str] = ("label",),
        page_size: int = 2048,
    ) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """All ids, vectors (float32, n × d) and the chosen payload fields, in scroll order."""
        meta = self.get_meta(name)
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        payloads: list[dict[str, Any]] = []
        for rec in self.scroll(name, where, list(payload_fields), True, page_size):
            ids.append(rec.id)
            vecs.append(rec.vector if rec.vector is not None else np.zeros(meta.dimension))
            payloads.append(rec.payload)
        matrix = (
            np.vstack(vecs).astype(np.float32, copy=False)
            if vecs else np.zeros((0, meta.dimension), np.float32)
        )
        return ids, matrix, payloads
