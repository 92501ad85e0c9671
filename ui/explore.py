"""The embedding map's data: every point's 2-D coordinates and what the map can be coloured by."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.store import Store

PROJECTIONS = ("umap", "tsne", "pca")
CLUSTER_PREFIX = "cluster_"
NONE = "(none)"
#: Per-point scores the analysis may write back: colourings when present.
KNN_CORRECT, KNN_CONFIDENCE, LABEL_ERROR = "knn_correct", "knn_confidence", "label_error"
SCORES = (KNN_CORRECT, KNN_CONFIDENCE, LABEL_ERROR)
#: Colouring of the points carrying one tag: "tag: <name>".
TAG_PREFIX = "tag: "
#: Points read per scroll page when a map loads.
PAGE = 4096


@dataclass
class Colouring:
    """One way of colouring the map.

    Attributes:
        name: As offered in the page ("label", "cluster_kmeans", "tag: keep" …).
        kind: "category" (codes index ``names``) or "continuous" (values in [0, 1]).
        codes: uint16 category codes, or float32 values scaled to [0, 1] (n each).
        names: Category names by code; for "continuous", the low and high ends' labels.
        noise: Code drawn in grey (unlabelled, noise, not scored), or None.
    """

    name: str
    kind: str
    codes: np.ndarray
    names: list[str]
    noise: int | None = None

    def counts(self) -> list[int]:
        """Points per category (empty for a continuous colouring)."""
        if self.kind != "category":
            return []
        return [int(c) for c in np.bincount(self.codes, minlength=len(self.names))]


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

    # --- colourings ---------------------------------------------------------------------------
    def colourings(self) -> list[str]:
        """What the map can be coloured by: label, split, clusterings, k-NN scores, tags."""
        out = ["label"] if (self.labels >= 0).any() else []
        if len(self.split_names) > 1:
            out.append("split")
        out += sorted(self.clusters)
        out += [s for s in SCORES if s in self.scores]
        out += [TAG_PREFIX + t for t in sorted(self.tags)]
        return out

    def default_colouring(self) -> str:
        """The colouring a new map opens with."""
        return (self.colourings() or [NONE])[0]

    def colouring(self, name: str) -> Colouring:
        """The colouring called ``name`` (``(none)``: one colour).

        Raises:
            UsageError: the map has no such colouring.
        """
        if name in ("", NONE):
            return Colouring(NONE, "category", np.zeros(self.n, np.uint16), ["points"])
        if name == "label":
            names = {v: self.label_names[v] if 0 <= v < len(self.label_names) else str(v)
                     for v in np.unique(self.labels).tolist() if v >= 0}
            return _categorical(name, self.labels, names, -1, "unlabelled")
        if name == "split":
            return Colouring(name, "category", self.splits.astype(np.uint16), list(self.split_names))
        if name in self.clusters:
            values = self.clusters[name]
            names = {v: f"cluster {v}" for v in np.unique(values).tolist() if v >= 0}
            return _categorical(name, values, names, -1, "noise")
        if name == KNN_CORRECT and name in self.scores:
            raw = self.scores[name]
            codes = np.where(np.isnan(raw), 2, np.where(raw >= 0.5, 1, 0)).astype(np.uint16)
            return Colouring(name, "category", codes, ["wrong", "correct", "not scored"], 2)
        if name in self.scores:
            return _continuous(name, self.scores[name])
        if name.startswith(TAG_PREFIX) and name.removeprefix(TAG_PREFIX) in self.tags:
            tag = name.removeprefix(TAG_PREFIX)
            return Colouring(name, "category", self.tags[tag].astype(np.uint16),
                             ["untagged", tag], 0)
        raise UsageError(f"cannot colour the map by {name!r}: choose "
                         f"{', '.join(self.colourings()) or NONE}.")

    def groups(self, colour_by: str) -> list[str]:
        """The groups a colouring's Highlight can pick (none for a continuous one)."""
        c = self.colouring(colour_by)
        return list(c.names) if c.kind == "category" else []

    def group_rows(self, colour_by: str, name: str) -> np.ndarray:
        """Map rows of the group ``name`` of a colouring.

        Raises:
            UsageError: the colouring has no such group.
        """
        c = self.colouring(colour_by)
        if c.kind != "category" or name not in c.names:
            raise UsageError(f"no group {name!r} in the {colour_by} colouring.")
        return np.flatnonzero(c.codes == c.names.index(name))

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


def _categorical(name: str, values: np.ndarray, names: dict[int, str], missing: int,
                 missing_name: str) -> Colouring:
    """Codes 0…k-1 for the sorted values present, then ``missing_name`` for ``missing``."""
    present = sorted(names)
    lookup = np.asarray(present, dtype=np.int64)
    codes = np.searchsorted(lookup, values).astype(np.int64)
    labels = [names[v] for v in present]
    noise = None
    absent = values == missing
    if absent.any():
        noise = len(labels)
        labels.append(missing_name)
        codes[absent] = noise
    return Colouring(name, "category", codes.astype(np.uint16), labels, noise)


def _continuous(name: str, values: np.ndarray) -> Colouring:
    """Values scaled to [0, 1] between their finite minimum and maximum (absent: the minimum)."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    span = high - low if high > low else 1.0
    scaled = np.nan_to_num((values - low) / span, nan=0.0, posinf=1.0, neginf=0.0)
    return Colouring(name, "continuous", np.clip(scaled, 0, 1).astype(np.float32),
                     [f"{low:.3g}", f"{high:.3g}"])


def available(store: Store, collection: str) -> tuple[list[str], list[str]]:
    """The 2-D maps and clusterings stored in the collection's payloads (by the analysis)."""
    fields = _fields(store, collection)
    maps = [f for f in PROJECTIONS if f in fields]
    clusters = sorted(f for f in fields if f.startswith(CLUSTER_PREFIX))
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

    Scrolls only the small payload fields (coordinates, label, split, clusterings, k-NN scores,
    tags; never thumbnails) page by page into compact arrays (~40 bytes a point, so a million
    points take ~40 MB).

    Args:
        store: The open store, or a callable giving it as a context manager per page (e.g.
            ``Session.store``, so that other requests get the store between pages).
        collection: The collection.
        projection: "umap", "tsne" or "pca".
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
    fields = [projection, "label", "split", *clusters, *SCORES, "tags"]
    chunks: dict[str, list[np.ndarray]] = {}
    split_codes: dict[str, int] = {}
    tags: dict[str, list[np.ndarray]] = {}
    n = 0
    offset: str | None = None
    while n < cap:
        with opener() as s:
            records, offset = s.scroll_page(collection, offset, PAGE, None, fields, False)
        page = _page(records, projection, clusters, split_codes)
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
    scores = {s: col[s] for s in SCORES if not np.isnan(col[s]).all()}
    return MapData(collection, projection, col["ids"], col["xy"], col["label"], label_names,
                   remap[col["split"]], names, {c: col[c] for c in clusters}, scores, tag_masks,
                   total)


def _page(records: Sequence[Any], projection: str, clusters: Sequence[str],
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
        "label": np.fromiter((_int(p.get("label")) for p in payloads), np.int32, len(recs)),
        "split": np.fromiter((-1 if p.get("split") is None else
                              split_codes.setdefault(str(p["split"]), len(split_codes))
                              for p in payloads), np.int16, len(recs)),
    }
    if (out["split"] < 0).any():  # points without a split: their own group
        out["split"][out["split"] < 0] = split_codes.setdefault("(no split)", len(split_codes))
    for c in clusters:
        out[c] = np.fromiter((_int(p.get(c)) for p in payloads), np.int32, len(recs))
    for s in SCORES:
        out[s] = np.fromiter((np.nan if p.get(s) is None else float(p[s]) for p in payloads),
                             np.float32, len(recs))
    tagged: dict[str, list[int]] = {}
    for row, p in enumerate(payloads):
        for tag in p.get("tags") or ():
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
