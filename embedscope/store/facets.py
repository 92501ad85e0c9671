"""Distinct payload values with their point counts (the split list, the tag list): a facet.

The engine answers a facet from the field's payload index without reading the points, so a page
load costs the same at 10M points as at 10k. A collection made before an index existed (older
embedscope) falls back to counting a bounded scroll, and the answer says so.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from embedscope.contract import Payload

if TYPE_CHECKING:
    from embedscope.store.base import Store

log = logging.getLogger(__name__)

#: Distinct values a facet returns unless told (splits and tags are few).
FACET_LIMIT = 1000
#: The facets a clean close of an embedded collection records with its count (the page's split
#: and tag lists), so that a page load need not open the collection (store/integrity.py).
RECORDED_FACETS = (Payload.SPLIT, Payload.TAGS)
#: Points the fallback reads where the field has no payload index.
SCAN_POINTS = 50_000


@dataclass
class Facet:
    """The distinct values of one payload field (list values count each element) and how many
    points hold each, most frequent first."""

    key: str
    counts: list[tuple[Any, int]] = field(default_factory=list)
    #: False: the field has no payload index; ``counts`` come from the first ``scanned`` points.
    indexed: bool = True
    scanned: int | None = None
    #: A sentence for the page when the counts are partial (None when they are exact).
    note: str | None = None

    @property
    def values(self) -> list[Any]:
        """The distinct values, most frequent first."""
        return [v for v, _ in self.counts]


def ordered(counts: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """Most frequent first, then by value (as text), so every backend lists ties alike."""
    return sorted(counts, key=lambda vc: (-vc[1], str(vc[0])))


def scan(store: Store, name: str, key: str, limit: int, points: int = SCAN_POINTS) -> Facet:
    """The facet of an unindexed field from the first ``points`` points (a bounded scroll)."""
    found: Counter[Any] = Counter()
    seen = 0
    offset: str | None = None
    while seen < points:
        records, offset = store.scroll_page(name, offset, min(2048, points - seen), None, [key])
        for rec in records:
            value = rec.payload.get(key)
            values = value if isinstance(value, list) else [value]
            found.update({v for v in values if v is not None and not isinstance(v, dict | list)})
        seen += len(records)
        if offset is None:
            break
    note = None
    if offset is not None:
        note = (f"collection {name!r} has no payload index on {key!r} (made by an older "
                f"embedscope): its {key} values were read from the first {seen:,} points only; "
                "ingest into it or tag a point once to create the index")
        log.warning(note)
    return Facet(key, ordered(list(found.items()))[:limit], False, seen, note)
