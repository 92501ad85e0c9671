"""Colour the map by a phrase: every point's cosine to a typed phrase in the linked text space.

The map's points are read once from the text space (by id: the collections of one dataset share
ids) and kept with the published map, so each new phrase costs one text-tower forward and one
matrix–vector product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedscope.errors import UsageError
from embedscope.store import Store
from embedscope.ui.map.colours import Colouring
from embedscope.ui.map.points import MapData

#: Prefix of a phrase colouring's name (the legend's title).
PHRASE_PREFIX = "phrase: "
#: Ids read per retrieve call.
CHUNK = 4096


@dataclass
class TextVectors:
    """The map's points in a text space: one unit row per map row (zeros where it lacks one)."""

    space: str
    X: np.ndarray
    present: np.ndarray  # bool per map row


def text_vectors_of(store: Store, data: MapData, space: str) -> TextVectors:
    """The map's points' vectors in ``space``, in map row order."""
    dim = store.get_meta(space).dimension
    X = np.zeros((data.n, dim), np.float32)
    present = np.zeros(data.n, bool)
    for start in range(0, data.n, CHUNK):
        rows = np.arange(start, min(start + CHUNK, data.n))
        ids = data.ids_of(rows)
        got = {r.id: r.vector for r in store.retrieve(space, ids, False, True)}
        for row, pid in zip(rows, ids, strict=True):
            vec = got.get(pid)
            if vec is not None:
                X[row] = vec
                present[row] = True
    return TextVectors(space, X, present)


def cosine_colouring(phrase: str, vectors: TextVectors, phrase_vector: np.ndarray) -> Colouring:
    """A continuous colouring: each point's cosine to the phrase, scaled between the map's lowest
    and highest (the legend shows the two cosines); points the text space lacks get the lowest."""
    cos = vectors.X @ phrase_vector.astype(np.float32)
    values = np.where(vectors.present, cos, np.nan).astype(np.float32)
    finite = values[np.isfinite(values)]
    if not len(finite):
        raise UsageError(f"none of the map's points is in {vectors.space}: nothing to colour.")
    low, high = float(finite.min()), float(finite.max())
    span = high - low if high > low else 1.0
    scaled = np.clip(np.nan_to_num((values - low) / span, nan=0.0), 0, 1).astype(np.float32)
    return Colouring(f"{PHRASE_PREFIX}{phrase}", "continuous", scaled,
                     [f"cosine {low:.3f}", f"{high:.3f}"])
