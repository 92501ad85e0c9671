"""The embedding map's data: every point's 2-D coordinates and what the map can be coloured by."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.store import Store
from embedscope.ui.map import colours, methods
from embedscope.ui.map.colours import NONE, TAG_PREFIX, Colouring

#: Points read per scroll page when a map loads.
PAGE = 4096


@dataclass
class MapData:
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
    _order: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of points on the map."""
        return len(self.ids)

    # --- ids and rows ------------------------------------------------------------------------
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
        if self._order is None:
            self._order = np.argsort(self.ids, kind="stable")
        keys = np.asarray([_uuid_bytes(i) for i in ids if _is_uuid(i)], dtype="S16")
        if not len(keys) or not self.n:
            return np.zeros(0, np.int64)
        sorted_ids = self.ids[self._order]
        pos = np.clip(np.searchsorted(sorted_ids, keys), 0, self.n - 1)
        found = sorted_ids[pos] == keys
        return self._order[pos[found]].astype(np.int64)

    # --- colourings (see colours.py) -----------------------------------------------------
    def colourings(self) -> list[str]:
        """What the map can be coloured by: label, split, clusterings, per-point scores, tags."""
        return colours.offered(self)

    def default_colouring(self) -> str:
        """The colouring a new map opens with."""
        return (self.colourings() or [NONE])[0]

    def colouring(self, name: str) -> Colouring:
        """The colouring called ``name`` (``(none)``: one colour).

        Raises:
            UsageError: the map has no such colouring.
        """
        return colours.colouring(self, name)

    def groups(self, colour_by: str) -> list[str]:
        """The groups a colouring's Highlight can pick (none for a continuous one)."""
        return colours.groups(self, colour_by)

    def group_rows(self, colour_by: str, name: str) -> np.ndarray:
        """Map rows of the group ``name`` of a colouring.

        Raises:
            UsageError: the colouring has no such group.
        """
        return colours.group_rows(self, colour_by, name)

    def add_tag(self, tag: str, rows: np.ndarray) -> None:
        """Record that the points at ``rows`` now carry ``tag`` (after it was stored)."""
        mask = self.tags.setdefault(tag, np.zeros(self.n, bool))
        mask[rows] = True


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


def _uuid_bytes(text: str) -> bytes:
    return uuid.UUID(str(text)).bytes


def available(store: Store, collection: str) -> tuple[list[str], list[str]]:
    """The 2-D maps and clusterings the analysis stored in the collection's payloads.

    Both are the payload fields of registered methods (embedscope.analysis.registry): maps in
    registration order, clusterings by field name.
    """
    fields = set(_fields(store, collection))
    maps = [f for f in methods.projections() if f in fields]
    clusters = sorted(f for f in methods.cluster_fields() if f in fields)
    return maps, clusters


def _fields(store: Store, collection: str) -> list[str]:
    meta = store.get_meta(collection)
    fields = list(meta.analysis.get("fields") or [])
    if not fields:
        records, _ = store.scroll_page(collection, None, 1, None, True)
        fields = list(records[0].payload) if records else []
    return fields


def load_map(store: Store | Callable[[], AbstractContextManager[Store]], collection: str,
             projection: str, limit: int | None = None) -> MapData:
    """Every point's coordinates in ``projection`` with the fields the map is coloured by.

    Scrolls only the small payload fields (coordinates, label, split, clusterings, per-point
    scores, tags; never thumbnails) page by page into compact arrays (~40 bytes a point, so a million
    points take ~40 MB).

    Args:
        store: The open store, or a callable giving it as a context manager per page (e.g.
            ``Session.store``, so that other requests get the store between pages).
        collection: The collection.
        projection: The payload field of a registered projection (``umap`` …).
        limit: Read at most this many points (None: all).

    Raises:
        UsageError: the collection has no such map yet (run the analysis first).
    """
    opener = (lambda: nullcontext(store)) if isinstance(store, Store) else store
    with opener() as s:
        maps, clusters = available(s, collection)
        if projection not in maps:
            have = ", ".join(maps) if maps else "none"
            raise UsageError(
                f"collection {collection!r} has no {projection!r} map (stored maps: {have}). "
                "Press 'Run analysis' or run `embedscope analyze --collection "
                f"{collection} --projections {projection}`."
            )
        label_names = list(s.get_meta(collection).labels)
        total = s.count(collection)
    cap = total if limit is None else min(total, int(limit))
    scores = methods.score_fields()
    fields = [projection, Payload.LABEL, Payload.SPLIT, *clusters, *scores, Payload.TAGS]
    chunks: dict[str, list[np.ndarray]] = {}
    split_codes: dict[str, int] = {}
    tags: dict[str, list[np.ndarray]] = {}
    n = 0
    offset: str | None = None
    while n < cap:
        with opener() as s:
            records, offset = s.scroll_page(collection, offset, PAGE, None, fields, False)
        page = _page(records, projection, clusters, scores, split_codes)
        if page is not None:
            keep = min(len(page["ids"]), cap - n)
            for key, values in page.items():
                if key.startswith(TAG_PREFIX):
                    tags.setdefault(key.removeprefix(TAG_PREFIX), []).append(values[values < keep] + n)
                else:
                    chunks.setdefault(key, []).append(values[:keep])
            n += keep
        if offset is None:
            break
    if not n:
        raise UsageError(f"no point of {collection!r} has {projection!r} coordinates: run the "
                         "analysis again (new points were added after it).")
    col = {k: np.concatenate(v) for k, v in chunks.items()}
    names = sorted(split_codes)
    remap = np.zeros(max(len(split_codes), 1), np.int16)
    for name, code in split_codes.items():
        remap[code] = names.index(name)
    tag_masks = {}
    for tag, rows in tags.items():
        mask = np.zeros(n, bool)
        mask[np.concatenate(rows)] = True
        tag_masks[tag] = mask
    scored = {s: col[s] for s in scores if not np.isnan(col[s]).all()}
    return MapData(collection, projection, col["ids"], col["xy"], col["label"], label_names,
                   remap[col["split"]], names, {c: col[c] for c in clusters}, scored, tag_masks,
                   total)


def _page(records: Sequence[Any], projection: str, clusters: Sequence[str], scores: Sequence[str],
          split_codes: dict[str, int]) -> dict[str, np.ndarray] | None:
    """One scroll page as arrays (points without coordinates are left out; None if none)."""
    recs = [r for r in records if isinstance(r.payload.get(projection), (list, tuple))
            and len(r.payload[projection]) == 2]
    if not recs:
        return None
    payloads = [r.payload for r in recs]
    hexes = "".join(r.id for r in recs).replace("-", "")
    out: dict[str, np.ndarray] = {
        "ids": np.frombuffer(bytes.fromhex(hexes), "S16").copy(),
        "xy": np.asarray([p[projection] for p in payloads], np.float32),
        "label": np.fromiter((_int(p.get(Payload.LABEL)) for p in payloads), np.int32, len(recs)),
        "split": np.fromiter((-1 if p.get(Payload.SPLIT) is None else
                              split_codes.setdefault(str(p[Payload.SPLIT]), len(split_codes))
                              for p in payloads), np.int16, len(recs)),
    }
    if (out["split"] < 0).any():  # points without a split: their own group
        out["split"][out["split"] < 0] = split_codes.setdefault("(no split)", len(split_codes))
    for c in clusters:
        out[c] = np.fromiter((_int(p.get(c)) for p in payloads), np.int32, len(recs))
    for s in scores:
        out[s] = np.fromiter((np.nan if p.get(s) is None else float(p[s]) for p in payloads),
                             np.float32, len(recs))
    tagged: dict[str, list[int]] = {}
    for row, p in enumerate(payloads):
        for tag in p.get(Payload.TAGS) or ():
            tagged.setdefault(TAG_PREFIX + str(tag), []).append(row)
    out.update({key: np.asarray(rows, np.int64) for key, rows in tagged.items()})
    return out


def _int(value: Any) -> int:
    return -1 if value is None else int(value)


def normalised(xy: np.ndarray) -> np.ndarray:
    """Coordinates scaled into [-0.95, 0.95] around their centre, keeping the aspect ratio."""
    xy = np.asarray(xy, np.float64)
    if not len(xy):
        return np.zeros((0, 2), np.float32)
    low, high = xy.min(axis=0), xy.max(axis=0)
    centre = (low + high) / 2
    half = float((high - low).max()) / 2 or 1.0
    return ((xy - centre) / half * 0.95).astype(np.float32)


def point_caption(payload: dict[str, Any]) -> str:
    """'Dress · test #12': label, split and row of a stored point (for the hover tooltip)."""
    from embedscope.ui.images import caption

    return caption(payload)
