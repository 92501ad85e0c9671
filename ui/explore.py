"""The embedding map: read the analysis' 2-D coordinates, draw them, pick points by click."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.search.errors import UsageError
from embedscope.search.store import Store

PROJECTIONS = ("umap", "tsne", "pca")
CLUSTER_PREFIX = "cluster_"
NONE = "(none)"
#: Click modes of the map.
CLICK_MODES = ("nearest points", "region: two corners")
#: Figure size in pixels; the axes sit at a fixed place so clicks map back to data coordinates.
WIDTH, HEIGHT, DPI = 880, 640, 100
AXES = (0.07, 0.07, 0.66, 0.88)  # left, bottom, width, height (figure fractions)


@dataclass
class MapData:
    """The points of one 2-D map, with what they can be coloured by."""

    collection: str
    projection: str
    ids: list[str]
    xy: np.ndarray  # n × 2
    labels: np.ndarray  # n, -1 where unlabelled
    label_names: list[str]
    clusters: dict[str, np.ndarray] = field(default_factory=dict)  # field name → n cluster ids
    total: int = 0

    @property
    def n(self) -> int:
        """Number of points drawn."""
        return len(self.ids)

    def colourings(self) -> list[str]:
        """What the map can be coloured by: 'label' (when labelled) and each clustering."""
        out = ["label"] if (self.labels >= 0).any() else []
        return out + sorted(self.clusters)

    def groups(self, colour_by: str) -> tuple[np.ndarray, dict[int, str]]:
        """Group value of every point and the name of each value, for a colouring."""
        if colour_by == "label":
            values = self.labels
            names = {int(v): (self.label_names[v] if 0 <= v < len(self.label_names) else str(v))
                     for v in np.unique(values) if v >= 0}
            if (values < 0).any():
                names[-1] = "unlabelled"
            return values, names
        if colour_by in self.clusters:
            values = self.clusters[colour_by]
            names = {int(v): (f"cluster {v}" if v >= 0 else "noise") for v in np.unique(values)}
            return values, names
        if colour_by in ("", NONE):
            return np.zeros(self.n, np.int64), {0: "points"}
        raise UsageError(f"cannot colour by {colour_by!r}: choose {', '.join(self.colourings())}.")


@dataclass
class Frame:
    """Where the axes are in the rendered image, to turn a click into data coordinates."""

    left: float
    top: float
    right: float
    bottom: float  # pixels, origin top-left
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def to_data(self, px: float, py: float) -> tuple[float, float]:
        """Data coordinates of an image pixel."""
        fx = (px - self.left) / (self.right - self.left)
        fy = (self.bottom - py) / (self.bottom - self.top)
        return (self.xlim[0] + fx * (self.xlim[1] - self.xlim[0]),
                self.ylim[0] + fy * (self.ylim[1] - self.ylim[0]))

    def inside(self, px: float, py: float) -> bool:
        """Whether a pixel lies on the axes."""
        return self.left <= px <= self.right and self.top <= py <= self.bottom


@dataclass
class MapView:
    """A map as the page shows it: colouring, highlight and the current selection."""

    data: MapData
    colour_by: str = "label"
    highlight: str = NONE
    selected: list[int] = field(default_factory=list)
    corner: tuple[float, float] | None = None  # first corner of a region being drawn
    region: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    frame: Frame | None = None


def available(store: Store, collection: str) -> tuple[list[str], list[str]]:
    """The 2-D maps and clusterings stored in the collection's payloads (by the analysis)."""
    meta = store.get_meta(collection)
    fields = list(meta.analysis.get("fields") or [])
    if not fields:
        records, _ = store.scroll_page(collection, None, 1, None, True)
        fields = list(records[0].payload) if records else []
    maps = [f for f in PROJECTIONS if f in fields]
    clusters = sorted(f for f in fields if f.startswith(CLUSTER_PREFIX))
    return maps, clusters


def load_map(store: Store, collection: str, projection: str, limit: int) -> MapData:
    """Read up to ``limit`` points' coordinates in ``projection`` with labels and cluster ids.

    Raises:
        UsageError: the collection has no such map yet (run the analysis first).
    """
    maps, clusters = available(store, collection)
    if projection not in maps:
        have = ", ".join(maps) if maps else "none"
        raise UsageError(
            f"collection {collection!r} has no {projection!r} map (stored maps: {have}). "
            "Press 'Run analysis' or run `embedscope analyze --collection "
            f"{collection} --projections {projection}`."
        )
    meta = store.get_meta(collection)
    ids: list[str] = []
    xy: list[list[float]] = []
    labels: list[int] = []
    cols: dict[str, list[int]] = {c: [] for c in clusters}
    for rec in store.scroll(collection, None, [projection, "label", *clusters]):
        point = rec.payload.get(projection)
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            continue  # added after the analysis ran
        ids.append(rec.id)
        xy.append([float(point[0]), float(point[1])])
        label = rec.payload.get("label")
        labels.append(int(label) if label is not None else -1)
        for c in clusters:
            value = rec.payload.get(c)
            cols[c].append(int(value) if value is not None else -1)
        if len(ids) >= limit:
            break
    if not ids:
        raise UsageError(f"no point of {collection!r} has {projection!r} coordinates: run the "
                         "analysis again (new points were added after it).")
    return MapData(collection, projection, ids, np.asarray(xy, np.float64),
                   np.asarray(labels, np.int64), list(meta.labels),
                   {c: np.asarray(v, np.int64) for c, v in cols.items()}, store.count(collection))


def _palette(k: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def render(view: MapView) -> Any:
    """Draw the map as an RGB PIL image and record its frame in ``view``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    d = view.data
    values, names = d.groups(view.colour_by)
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes(AXES)
    size = float(np.clip(12000 / max(d.n, 1), 2, 28))
    colours = dict(zip(sorted(names), _palette(len(names)), strict=True))
    focus = next((v for v, n in names.items() if n == view.highlight), None)
    for value in sorted(names):
        mask = values == value
        dim = focus is not None and value != focus
        ax.scatter(d.xy[mask, 0], d.xy[mask, 1], s=size, linewidths=0,
                   color="#d0d0d0" if dim else colours[value], alpha=0.35 if dim else 0.85,
                   label=names[value], zorder=1 if dim else 2)
    if view.selected:
        sel = d.xy[view.selected]
        ax.scatter(sel[:, 0], sel[:, 1], s=size * 3 + 20, facecolors="none",
                   edgecolors="black", linewidths=1.2, zorder=3, label="selected")
    if view.region is not None:
        from matplotlib.patches import Rectangle

        x0, y0, x1, y1 = view.region
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=1.2,
                               ec="black", zorder=4))
    if view.corner is not None:
        ax.plot(*view.corner, marker="+", ms=14, mew=2, color="black", zorder=5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, markerscale=1.5,
              frameon=False, title=view.colour_by if view.colour_by != NONE else None)
    shown = f"{d.n:,} of {d.total:,} points" if d.n < d.total else f"{d.n:,} points"
    ax.set_title(f"{d.collection}: {d.projection.upper()} ({shown})", fontsize=10)
    ax.tick_params(labelsize=7)
    canvas.draw()
    box = ax.get_window_extent()
    view.frame = Frame(box.x0, HEIGHT - box.y1, box.x1, HEIGHT - box.y0,
                       tuple(ax.get_xlim()), tuple(ax.get_ylim()))  # type: ignore[arg-type]
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(rgba[..., :3].copy())


def _normalised(view: MapView) -> tuple[np.ndarray, Frame]:
    frame = view.frame
    if frame is None:
        raise UsageError("the map is not drawn yet: press 'Show map' first.")
    span = np.array([frame.xlim[1] - frame.xlim[0], frame.ylim[1] - frame.ylim[0]])
    return view.data.xy / span, frame


def nearest(view: MapView, px: float, py: float, n: int) -> list[int]:
    """The ``n`` points nearest to an image pixel (distance as drawn), nearest first."""
    scaled, frame = _normalised(view)
    if not frame.inside(px, py):
        raise UsageError("click inside the plot area of the map.")
    x, y = frame.to_data(px, py)
    span = np.array([frame.xlim[1] - frame.xlim[0], frame.ylim[1] - frame.ylim[0]])
    dist = np.linalg.norm(scaled - np.array([x, y]) / span, axis=1)
    return [int(i) for i in np.argsort(dist, kind="stable")[:n]]


def in_region(view: MapView, corner_a: tuple[float, float], corner_b: tuple[float, float],
              n: int) -> tuple[list[int], int]:
    """Up to ``n`` points inside the rectangle (data coordinates) and how many lie inside."""
    (x0, x1), (y0, y1) = sorted((corner_a[0], corner_b[0])), sorted((corner_a[1], corner_b[1]))
    xy = view.data.xy
    inside = np.flatnonzero(
        (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    )
    view.region = (x0, y0, x1, y1)
    total = len(inside)
    if total > n:
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        order = np.argsort(np.linalg.norm(xy[inside] - centre, axis=1), kind="stable")
        inside = inside[order[:n]]
    return [int(i) for i in inside], total


def click(view: MapView, px: float, py: float, mode: str, n: int) -> tuple[list[int], str]:
    """Apply a click on the map image: pick nearest points or set a region corner.

    Returns:
        The selected rows (empty while a region's first corner is set) and a status line.
    """
    if mode == CLICK_MODES[1]:
        _, frame = _normalised(view)
        if not frame.inside(px, py):
            raise UsageError("click inside the plot area of the map.")
        point = frame.to_data(px, py)
        if view.corner is None:
            view.corner, view.region, view.selected = point, None, []
            return [], "First corner set: click the opposite corner of the region."
        rows, total = in_region(view, view.corner, point, n)
        view.corner, view.selected = None, rows
        return rows, f"{total} points in the region; showing {len(rows)} nearest its centre."
    view.corner, view.region = None, None
    rows = nearest(view, px, py, n)
    view.selected = rows
    x, y = view.frame.to_data(px, py) if view.frame else (px, py)
    return rows, f"The {len(rows)} points nearest to ({x:.2f}, {y:.2f}), nearest first."


def group_rows(view: MapView, name: str, n: int, seed: int = 0) -> tuple[list[int], int]:
    """A seeded sample of up to ``n`` rows of the class or cluster called ``name``."""
    values, names = view.data.groups(view.colour_by)
    value = next((v for v, label in names.items() if label == name), None)
    if value is None:
        raise UsageError(f"no group {name!r} in the {view.colour_by} colouring.")
    rows = np.flatnonzero(values == value)
    total = len(rows)
    if total > n:
        rows = np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))
    return [int(r) for r in rows], total
