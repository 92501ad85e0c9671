"""The map's arrays: every point's 2-D coordinates and what a map is coloured by, read from the
store in one pass (:func:`read_maps`), and the key that says which analysis they are of
(:func:`map_key`). ``embedscope.mapfiles`` saves them as files.

Nothing here knows the analysis methods: callers name the payload fields (the registries'
projections, clusterings and scores).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.store import Store
from embedscope.store.keys import IdRows, id_bytes

#: Points read per scroll page.
PAGE = 4096
#: The split group of points without a split.
NO_SPLIT = "(no split)"

Opener = Callable[[], AbstractContextManager[Store]]


@dataclass
class MapArrays:
    """Every point of one 2-D map with the fields it can be coloured by (row = map index)."""

    collection: str
    projection: str
    ids: np.ndarray  # n, 16-byte UUIDs ("S16")
    xy: np.ndarray  # n × 2 float32
    labels: np.ndarray  # n int32, -1 where unlabelled
    label_names: list[str]
    splits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))  # codes of split_names
    split_names: list[str] = field(default_factory=list)
    clusters: dict[str, np.ndarray] = field(default_factory=dict)  # field → n int32 (-1 = noise/none)
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # field → n float32 (NaN = absent)
    tags: dict[str, np.ndarray] = field(default_factory=dict)  # tag → n bool
    total: int = 0
    _lookup: IdRows | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of points on the map."""
        return len(self.ids)

    def id_of(self, row: int) -> str:
        """The point id of a map row."""
        if not 0 <= int(row) < self.n:
            raise UsageError(f"row {row} is not on the map of {self.collection!r} (0…{self.n - 1}).")
        return str(uuid.UUID(bytes=bytes(self.ids[int(row)]).ljust(16, b"\0")))  # S16 drops trailing NULs

    def ids_of(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        """The point ids of map rows, in order."""
        return [self.id_of(int(r)) for r in rows]

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """Map rows of point ids, in order; ids not on the map are left out."""
        if self._lookup is None:
            self._lookup = IdRows(self.ids)
        rows = self._lookup.rows(id_bytes([str(i) for i in ids if _is_uuid(i)]))
        return rows[rows >= 0]

    def add_tag(self, tag: str, rows: np.ndarray) -> None:
        """Record that the points at ``rows`` now carry ``tag`` (after it was stored)."""
        mask = self.tags.setdefault(tag, np.zeros(self.n, bool))
        mask[rows] = True


A = TypeVar("A", bound=MapArrays)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


# --- which maps a collection has ---------------------------------------------------------------
def stored_fields(store: Store, collection: str) -> list[str]:
    """The payload fields the latest analysis wrote (from the metadata; else one point's)."""
    meta = store.get_meta(collection)
    fields = list(meta.analysis.get("fields") or [])
    if not fields:
        records, _ = store.scroll_page(collection, None, 1, None, True)
        fields = list(records[0].payload) if records else []
    return fields


def available(store: Store, collection: str, projections: Sequence[str],
              clusters: Sequence[str]) -> tuple[list[str], list[str]]:
    """The maps (in the order of ``projections``) and clusterings the collection has stored."""
    fields = set(stored_fields(store, collection))
    return [f for f in projections if f in fields], sorted(f for f in clusters if f in fields)


def map_key(store: Store, collection: str, projection: str) -> tuple[Any, ...]:
    """What identifies a map's arrays: collection, projection, point count, analysis run (with
    its latest ``analyze --update``: the points it placed were in the count before) and the
    payload fields it lists (the colourings)."""
    meta = store.get_meta(collection)
    return (collection, projection, store.count(collection), meta.analysis.get("run_id"),
            meta.analysis.get("created_at"), meta.analysis.get("update_id"),
            tuple(meta.analysis.get("fields") or ()))


# --- reading them from the store --------------------------------------------------------------
def read_maps(store: Store | Opener, collection: str, projections: Sequence[str],
              clusters: Sequence[str], scores: Sequence[str], limit: int | None = None,
              cls: type[A] = MapArrays) -> dict[str, A]:  # type: ignore[assignment]
    """Every point's coordinates in each of ``projections``, with the fields maps are coloured
    by, in one scroll of the small payload fields (never thumbnails or vectors): ~40 bytes a
    point and map, so a million points take ~40 MB a map.

    Args:
        store: The open store (or a store-like proxy), or a callable giving it as a context
            manager per page (so that other requests get the store between pages).
        collection: The collection.
        projections: The payload fields of the maps to read (``umap`` …).
        clusters: The clustering payload fields to colour by.
        scores: The per-point score fields (a score no point has is left out).
        limit: Read at most this many points with coordinates per map (None: all).
        cls: The class of the maps returned (the page's adds its colourings).

    Returns:
        Each projection's map; a projection no point has coordinates in is left out.
    """
    opener = _opener(store)
    with opener() as s:
        label_names = list(s.get_meta(collection).labels)
        total = s.count(collection)
    cap = total if limit is None else min(total, int(limit))
    fields = [*projections, Payload.LABEL, Payload.SPLIT, *clusters, *scores, Payload.TAGS]
    builders = {p: _Builder(p, clusters, scores, cap) for p in projections}
    split_codes: dict[str, int] = {}
    for records in _pages(opener, collection, fields):
        common = _common(records, clusters, scores, split_codes)
        for b in builders.values():
            b.add(records, common)
        if all(b.full for b in builders.values()):
            break  # a limit reached: no page more
    out = {}
    for p, b in builders.items():
        if b.n:
            out[p] = b.build(cls, collection, label_names, split_codes, total)
    return out


def _opener(store: Store | Opener) -> Opener:
    """A store as an opener (a store-like proxy, such as the page's shared store, is a store)."""
    if hasattr(store, "scroll_page"):
        return lambda: nullcontext(store)  # type: ignore[arg-type,return-value]
    return store  # type: ignore[return-value]


def _pages(opener: Opener, collection: str, fields: list[str]) -> Iterator[Sequence[Any]]:
    offset: str | None = None
    while True:
        with opener() as s:
            records, offset = s.scroll_page(collection, offset, PAGE, None, fields, False)
        yield records
        if offset is None:
            return


def _int(value: Any) -> int:
    return -1 if value is None else int(value)


def _common(records: Sequence[Any], clusters: Sequence[str], scores: Sequence[str],
            split_codes: dict[str, int]) -> dict[str, Any]:
    """One page's fields every map shares, as arrays over all its records."""
    payloads = [r.payload for r in records]
    n = len(records)
    hexes = "".join(r.id for r in records).replace("-", "")
    out: dict[str, Any] = {
        "ids": np.frombuffer(bytes.fromhex(hexes), "S16").copy(),
        "label": np.fromiter((_int(p.get(Payload.LABEL)) for p in payloads), np.int32, n),
        "split": np.fromiter((split_codes.setdefault(
            NO_SPLIT if p.get(Payload.SPLIT) is None else str(p[Payload.SPLIT]), len(split_codes))
            for p in payloads), np.int16, n),
        "clusters": {c: np.fromiter((_int(p.get(c)) for p in payloads), np.int32, n)
                     for c in clusters},
        "scores": {s: np.fromiter((np.nan if p.get(s) is None else float(p[s])
                                   for p in payloads), np.float32, n) for s in scores},
    }
    tagged: dict[str, list[int]] = {}
    for row, p in enumerate(payloads):
        for tag in p.get(Payload.TAGS) or ():
            tagged.setdefault(str(tag), []).append(row)
    out["tags"] = {t: np.asarray(rows, np.int64) for t, rows in tagged.items()}
    return out


class _Builder:
    """One map's arrays, page by page (points without its coordinates are left out)."""

    def __init__(self, projection: str, clusters: Sequence[str], scores: Sequence[str],
                 cap: int) -> None:
        self.projection, self.clusters, self.scores, self.cap = projection, clusters, scores, cap
        self.chunks: dict[str, list[np.ndarray]] = {}
        self.tags: dict[str, list[np.ndarray]] = {}
        self.n = 0

    @property
    def full(self) -> bool:
        return self.n >= self.cap

    def add(self, records: Sequence[Any], common: dict[str, Any]) -> None:
        if self.full:
            return
        p = self.projection
        rows = [i for i, r in enumerate(records) if isinstance(r.payload.get(p), (list, tuple))
                and len(r.payload[p]) == 2][: self.cap - self.n]
        if not rows:
            return
        take = np.asarray(rows, np.int64)
        parts = {"ids": common["ids"][take], "label": common["label"][take],
                 "split": common["split"][take],
                 "xy": np.asarray([records[i].payload[p] for i in rows], np.float32),
                 **{c: v[take] for c, v in common["clusters"].items()},
                 **{s: v[take] for s, v in common["scores"].items()}}
        for key, values in parts.items():
            self.chunks.setdefault(key, []).append(values)
        position = np.full(len(records), -1, np.int64)
        position[take] = np.arange(len(take)) + self.n
        for tag, tag_rows in common["tags"].items():
            hit = position[tag_rows]
            if (hit >= 0).any():
                self.tags.setdefault(tag, []).append(hit[hit >= 0])
        self.n += len(rows)

    def build(self, cls: type[A], collection: str, label_names: list[str],
              split_codes: dict[str, int], total: int) -> A:
        col = {k: np.concatenate(v) for k, v in self.chunks.items()}
        names = sorted(split_codes)
        remap = np.zeros(max(len(split_codes), 1), np.int16)
        for name, code in split_codes.items():
            remap[code] = names.index(name)
        used = sorted({names[c] for c in np.unique(remap[col["split"]])})
        renumber = np.zeros(max(len(names), 1), np.int16)
        for i, name in enumerate(used):
            renumber[names.index(name)] = i
        tags = {}
        for tag, rows in self.tags.items():
            mask = np.zeros(self.n, bool)
            mask[np.concatenate(rows)] = True
            tags[tag] = mask
        scored = {s: col[s] for s in self.scores if not np.isnan(col[s]).all()}
        return cls(collection, self.projection, col["ids"], col["xy"], col["label"], label_names,
                   renumber[remap[col["split"]]], used, {c: col[c] for c in self.clusters},
                   scored, tags, total)
