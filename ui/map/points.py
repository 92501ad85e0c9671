"""The embedding map's data: every point's 2-D coordinates and what the map can be coloured by."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from embedscope import maparrays
from embedscope.errors import UsageError
from embedscope.maparrays import MapArrays
from embedscope.store import Store
from embedscope.ui.map import colours, methods
from embedscope.ui.map.colours import NONE, Colouring


class MapData(MapArrays):
    """A map's arrays (embedscope.maparrays) with what the page colours them by."""

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


def available(store: Store, collection: str) -> tuple[list[str], list[str]]:
    """The 2-D maps and clusterings the analysis stored in the collection's payloads.

    Both are the payload fields of registered methods (embedscope.analysis.registry): maps in
    registration order, clusterings by field name.
    """
    return maparrays.available(store, collection, methods.projections(), methods.cluster_fields())


def load_map(store: Store | Callable[[], AbstractContextManager[Store]], collection: str,
             projection: str, limit: int | None = None) -> MapData:
    """Every point's coordinates in ``projection`` with the fields the map is coloured by
    (embedscope.maparrays.read_maps: the small payload fields only, page by page).

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
    read = maparrays.read_maps(opener, collection, [projection], clusters,
                              methods.score_fields(), limit, cls=MapData)
    if projection not in read:
        raise UsageError(f"no point of {collection!r} has {projection!r} coordinates: run the "
                         "analysis again (new points were added after it).")
    return read[projection]


def normalised(xy: np.ndarray) -> np.ndarray:
    """Coordinates scaled into [-0.95, 0.95] around their centre, keeping the aspect ratio
    (n × 2 float32: a view of :func:`normalised_columns`)."""
    return normalised_columns(xy).T


def normalised_columns(xy: np.ndarray) -> np.ndarray:
    """:func:`normalised` as the page reads it: a 2 × n float32 array, the x column then the y
    column, computed in one copy (ten million points in ~0.3 s)."""
    cols = np.array(np.asarray(xy).T, dtype=np.float32, order="C")
    if not cols.shape[1]:
        return np.zeros((2, 0), np.float32)
    low, high = cols.min(axis=1).astype(np.float64), cols.max(axis=1).astype(np.float64)
    centre = (low + high) / 2
    half = float((high - low).max()) / 2 or 1.0
    cols -= centre.astype(np.float32)[:, None]
    cols *= np.float32(0.95 / half)
    return cols


def point_caption(payload: dict[str, Any]) -> str:
    """'Dress · test #12': label, split and row of a stored point (for the hover tooltip)."""
    from embedscope.ui.images import caption

    return caption(payload)
