"""The colourings of a map: label, split, clusterings, per-point scores and tags, and their groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.ui.map import methods

if TYPE_CHECKING:
    from embedscope.ui.map.points import MapData

#: A binary score's warning and fine values (k-NN "wrong" and "correct", "leaked" and "not
#: leaked"): vermillion and bluish green, the Okabe–Ito pair that reads as bad / good and stays
#: apart for red–green colour blindness. Which value is the warning, the score registers.
WARNING_COLOUR, FINE_COLOUR = "#d55e00", "#009e73"
#: The colouring (and Highlight) that means "none": one colour.
NONE = "(none)"
#: Colouring of the points carrying one tag: "tag: <name>".
TAG_PREFIX = "tag: "


@dataclass
class Colouring:
    """One way of colouring the map.

    Attributes:
        name: As offered in the page ("label", "cluster_kmeans", "tag: keep" …).
        kind: "category" (codes index ``names``) or "continuous" (values in [0, 1]).
        codes: uint16 category codes, or float32 values scaled to [0, 1] (n each).
        names: Category names by code; for "continuous", the low and high ends' labels.
        noise: Code drawn in grey (unlabelled, noise, not scored), or None.
        colours: The categories' own colours by code (a binary score's), else the palette's.
    """

    name: str
    kind: str
    codes: np.ndarray
    names: list[str]
    noise: int | None = None
    colours: list[str] | None = None

    def counts(self) -> list[int]:
        """Points per category (empty for a continuous colouring)."""
        if self.kind != "category":
            return []
        return [int(c) for c in np.bincount(self.codes, minlength=len(self.names))]


def offered(data: MapData) -> list[str]:
    """What a map can be coloured by: label, split, clusterings, per-point scores, tags."""
    out = [Payload.LABEL] if (data.labels >= 0).any() else []
    if len(data.split_names) > 1:
        out.append(Payload.SPLIT)
    out += sorted(data.clusters)
    out += [f for f in methods.score_fields() if f in data.scores]
    out += [TAG_PREFIX + t for t in sorted(data.tags)]
    return out


def colouring(data: MapData, name: str) -> Colouring:
    """The colouring of ``data`` called ``name`` (``(none)``: one colour).

    Raises:
        UsageError: the map has no such colouring.
    """
    if name in ("", NONE):
        return Colouring(NONE, "category", np.zeros(data.n, np.uint16), ["points"])
    if name == Payload.LABEL:
        names = {v: data.label_names[v] if 0 <= v < len(data.label_names) else str(v)
                 for v in np.unique(data.labels).tolist() if v >= 0}
        return _categorical(name, data.labels, names, -1, "unlabelled")
    if name == Payload.SPLIT:
        return Colouring(name, "category", data.splits.astype(np.uint16), list(data.split_names))
    if name in data.clusters:
        values = data.clusters[name]
        names = {v: f"cluster {v}" for v in np.unique(values).tolist() if v >= 0}
        return _categorical(name, values, names, -1, "noise")
    if name in data.scores:
        return _score(name, data.scores[name])
    if name.startswith(TAG_PREFIX) and name.removeprefix(TAG_PREFIX) in data.tags:
        tag = name.removeprefix(TAG_PREFIX)
        return Colouring(name, "category", data.tags[tag].astype(np.uint16), ["untagged", tag], 0)
    raise UsageError(f"cannot colour the map by {name!r}: choose "
                     f"{', '.join(offered(data)) or NONE}.")


def groups(data: MapData, colour_by: str) -> list[str]:
    """The groups a colouring's Highlight can pick (none for a continuous one)."""
    c = colouring(data, colour_by)
    return list(c.names) if c.kind == "category" else []


def group_rows(data: MapData, colour_by: str, name: str) -> np.ndarray:
    """Map rows of the group ``name`` of a colouring.

    Raises:
        UsageError: the colouring has no such group.
    """
    c = colouring(data, colour_by)
    if c.kind != "category" or name not in c.names:
        raise UsageError(f"no group {name!r} in the {colour_by} colouring.")
    return np.flatnonzero(c.codes == c.names.index(name))


def _score(name: str, raw: np.ndarray) -> Colouring:
    """A registered binary score as two categories (and "not scored"), any other as a ramp."""
    score = next((s for s in methods.scores() if s.field == name), None)
    if score is None or not score.binary:
        return _continuous(name, raw)
    codes = np.where(np.isnan(raw), 2, np.where(raw >= 0.5, 1, 0)).astype(np.uint16)
    colours = [FINE_COLOUR, FINE_COLOUR]
    colours[score.warning] = WARNING_COLOUR
    return Colouring(name, "category", codes, [*score.labels, "not scored"], 2, colours)


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
