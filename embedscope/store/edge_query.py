"""Qdrant Edge filters and payload selectors built from the store interface's Where."""

from __future__ import annotations

from typing import Any

from embedscope.contract import Payload
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
