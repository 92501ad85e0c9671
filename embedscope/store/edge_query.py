"""Qdrant Edge filters, payload selectors, search parameters and collection configs."""

from __future__ import annotations

from typing import Any

from embedscope.contract import CollectionMeta, Payload
from embedscope.store.base import PayloadFields, Where


def edge_filter(q: Any, where: Where | None, exclude: str | None = None) -> Any:
    """The qdrant_edge Filter for a Where (and one id to leave out); None when it matches all."""
    must: list[Any] = []
    must_not: list[Any] = []
    if where is not None:
        if where.split is not None:
            must.append(q.FieldCondition(key=Payload.SPLIT, match=q.MatchValue(where.split)))
        if where.label is not None:
            must.append(q.FieldCondition(key=Payload.LABEL, match=q.MatchValue(int(where.label))))
        if where.tag is not None:  # matches when the ``tags`` list holds the tag
            must.append(q.FieldCondition(key=Payload.TAGS, match=q.MatchValue(str(where.tag))))
        if where.has_label:
            must_not.append(q.IsEmptyCondition(Payload.LABEL))
        if where.exclude_ids:
            must_not.append(q.HasIdCondition(set(where.exclude_ids)))
    if exclude is not None:
        must_not.append(q.HasIdCondition({exclude}))
    if not must and not must_not:
        return None
    return q.Filter(must=must or None, must_not=must_not or None)

def payload_selector(q: Any, with_payload: PayloadFields) -> Any:
    """qdrant_edge's payload selection: all, none, or the named fields."""
    if isinstance(with_payload, bool):
        return with_payload
    return q.PayloadSelector.Include(list(with_payload))


def quantization_config(q: Any, quantization: str) -> Any:
    """The engine's quantization config for a contract name (None for "none"); the quantized
    vectors are pinned in RAM, where the search reads them."""
    pinned = q.Memory.Pinned
    if quantization == "int8":
        return q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, memory=pinned)
    if quantization == "binary":
        return q.BinaryQuantizationConfig(memory=pinned)
    if quantization == "turbo4":
        return q.TurboQuantQuantizationConfig(bits=q.TurboQuantBitSize.Bits4, memory=pinned)
    return None


def edge_config(q: Any, meta: CollectionMeta) -> Any:
    """A new shard's config: cosine vectors of the meta's dimension, stored as it says.

    Originals on disk are memory-mapped without being pinned (``Cold``: read when rescoring);
    the HNSW graph likewise with ``hnsw_on_disk``.
    """
    vectors = q.EdgeVectorParams(
        size=meta.dimension, distance=q.Distance.Cosine,
        quantization_config=quantization_config(q, meta.quantization),
        memory=q.Memory.Cold if meta.vectors_on_disk else None,
    )
    hnsw = (q.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000,
                              memory=q.Memory.Cold) if meta.hnsw_on_disk else None)
    return q.EdgeConfig(vectors=vectors, hnsw_config=hnsw)


def search_params(q: Any, exact: bool, oversampling: float | None, ef: int | None = None) -> Any:
    """SearchParams: exact, or HNSW with beam width ``ef`` (None: the engine's default); on a
    quantized collection (``oversampling`` given) the quantized candidates (oversampling × k of
    them) are rescored with the original vectors."""
    if exact:
        return q.SearchParams(exact=True)
    if oversampling is None:
        return q.SearchParams(hnsw_ef=ef)
    return q.SearchParams(hnsw_ef=ef, quantization=q.QuantizationSearchParams(
        rescore=True, oversampling=float(oversampling)))
