"""The values the store interface passes: a filter (`Where`), a collection's summary line, payload
field selections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embedscope.contract import CollectionMeta


@dataclass(frozen=True)
class Where:
    """A filter both backends understand: equality on split/label, id inclusion/exclusion."""

    split: str | None = None
    label: int | None = None
    exclude_ids: tuple[str, ...] = ()
    has_label: bool = False
    tag: str | None = None  # points whose ``tags`` payload list contains this tag

    def is_empty(self) -> bool:
        """True when the filter matches everything."""
        return (
            self.split is None and self.label is None and not self.exclude_ids and not self.has_label
            and self.tag is None
        )


@dataclass
class CollectionSummary:
    """One line of `embedscope collections`."""

    name: str
    points: int
    meta: CollectionMeta | None

    def as_json(self) -> dict[str, Any]:
        """The JSON object scripts read (keys name, points, model, dimension, labels, text)."""
        m = self.meta
        return {
            "name": self.name,
            "points": self.points,
            "model": m.model if m else None,
            "dimension": m.dimension if m else None,
            "labels": list(m.labels) if m else [],
            "pooling": m.pooling if m else None,
            "image_size": m.image_size if m else None,
            "text": m.text if m else False,
            "quantization": m.quantization if m else None,
            "vectors_on_disk": m.vectors_on_disk if m else None,
            "hnsw_on_disk": m.hnsw_on_disk if m else None,
            "stored": m.storage_text() if m else None,
        }


PayloadFields = bool | Sequence[str]
