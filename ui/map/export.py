"""A map that travels: one folder with the map, its data and thumbnail atlases, no server, no store.

``index.html`` loads the map's bundle (the one the page uses, ui/static/embedscope-map.js) and
``map-data.js``, which sets ``window.EMBEDSCOPE_EXPORT``: coordinates and every colouring as
base64 binary arrays, point ids and captions, and where each thumbnail sits in the atlas images
(``atlas/atlas-NNN.jpg``, one tile per point in map order). Scripts and images load from
``file://`` (a browser refuses ``fetch`` there, but not ``<script src>`` or CSS images), so the
folder opens from disk as well as from any static host.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.store import Store
from embedscope.thumbnails import thumbnail_image
from embedscope.ui.map import density
from embedscope.ui.map.block import BUNDLE, CSS
from embedscope.ui.map.colours import NONE
from embedscope.ui.map.points import MapData, available, load_map, normalised, point_caption

#: Points whose thumbnails and captions are read per store request.
BATCH = 512
#: The most points an export holds by default: a million points make ~300 MB of thumbnails
#: at 32 px and ~60 MB of data the page parses; past it a seeded sample is exported, and the
#: density overview and the legend still count every point.
MAX_POINTS = 1_000_000

EXPORT_CSS = """
body { font-family: system-ui, sans-serif; margin: 12px; }
.es-head { display: flex; gap: 16px; align-items: center; margin-bottom: 6px; }
.es-title { font-weight: 600; }
.es-sprite { background-repeat: no-repeat; background-color: #eee; image-rendering: pixelated;
  width: 96px; height: 96px; }
.es-gallery { margin-top: 10px; }
.es-gallery-bar { display: flex; gap: 8px; align-items: center; margin-bottom: 6px; }
.es-counts { color: #555; font-size: 12px; margin-bottom: 6px; }
.es-labels { position: absolute; inset: 0; pointer-events: none; overflow: hidden; }
.es-tiles { display: flex; flex-wrap: wrap; gap: 6px; }
.es-tile { margin: 0; width: 96px; font-size: 11px; }
.es-tile figcaption { overflow-wrap: anywhere; }
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>embedscope map: {title}</title>
<style>{css}</style></head>
<body><div id="embedscope-export"></div>
<script src="embedscope-map.js"></script>
<script src="map-data.js"></script>
<script>EmbedscopeMap.standalone(document.getElementById('embedscope-export'),
  window.EMBEDSCOPE_EXPORT);</script>
</body></html>
"""


@dataclass
class Exported:
    """What an export wrote: the folder, its points (of the map's), files and bytes, and the
    seconds it took."""

    folder: Path
    projection: str
    points: int
    thumbnails: int
    atlases: int
    bytes: int
    seconds: float
    #: Every point of the map (more than ``points`` when a sample was exported).
    map_points: int = 0


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def fields_of(data: MapData, rows: np.ndarray | None = None, cells: np.ndarray | None = None,
              grid: int = density.GRID) -> list[dict[str, Any]]:
    """Every colouring of the map, as the standalone page reads it (codes; raw score values).

    Args:
        data: The whole map (names and counts are its own).
        rows: The exported rows when they are a sample (None: every row).
        cells: Each point's cell of the density overview (None: no overview).
        grid: Cells of the overview, each way.
    """
    take = (lambda a: a) if rows is None else (lambda a: a[rows])
    out = []
    for name in data.colourings():
        c = data.colouring(name)
        if c.kind == "continuous":
            entry: dict[str, Any] = {
                "name": name, "kind": "continuous", "low": c.names[0], "high": c.names[1],
                "codes": _b64(take(np.round(c.codes * 255).astype(np.uint8))),
                "values": _b64(take(np.asarray(data.scores[name], "<f4")))
                if name in data.scores else None}
        else:
            entry = {"name": name, "kind": "category", "names": c.names, "counts": c.counts(),
                     "noise": c.noise, "codes": _b64(take(c.codes.astype("<u2")))}
        if cells is not None:
            entry["density"] = base64.b64encode(density.overview(cells, c, grid)).decode("ascii")
        out.append(entry)
    return out


def sample_rows(n: int, most: int, seed: int = 0) -> np.ndarray | None:
    """A seeded sample of ``most`` of ``n`` rows, in map order (None: every row fits)."""
    if n <= most:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=most, replace=False))


def _sample(data: MapData, rows: np.ndarray) -> MapData:
    """The map's points at ``rows``: every per-point array cut the same way."""
    return dataclasses.replace(
        data, ids=data.ids[rows], xy=data.xy[rows], labels=data.labels[rows],
        splits=data.splits[rows] if len(data.splits) else data.splits,
        clusters={k: v[rows] for k, v in data.clusters.items()},
        scores={k: v[rows] for k, v in data.scores.items()},
        tags={k: v[rows] for k, v in data.tags.items()}, _lookup=None)


def _thumbnail(raw: Any, tile: int) -> Any:
    """A stored thumbnail fitted into a ``tile`` × ``tile`` white square (None: unreadable)."""
    from PIL import Image, ImageOps

    img = thumbnail_image(raw)
    if img is None:
        return None
    img = ImageOps.contain(img, (tile, tile))
    square = Image.new("RGB", (tile, tile), "white")
    square.paste(img, ((tile - img.width) // 2, (tile - img.height) // 2))
    return square


def _atlases(store: Store, data: MapData, out: Path, tile: int, columns: int, quality: int,
             progress: bool) -> tuple[list[str], dict[str, Any] | None, int]:
    """Captions of every row, the atlas description, and how many thumbnails were packed."""
    from PIL import Image

    per_atlas = columns * columns
    folder = out / "atlas"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("atlas-*.jpg"):  # an earlier export's
        old.unlink()
    captions: list[str] = []
    files: list[str] = []
    sizes: list[list[int]] = []
    packed = 0
    atlas = None
    fields = [Payload.THUMBNAIL, Payload.LABEL, Payload.LABEL_NAME, Payload.SPLIT, Payload.INDEX]
    for start in range(0, data.n, BATCH):
        ids = data.ids_of(range(start, min(data.n, start + BATCH)))
        found = {r.id: r.payload for r in store.retrieve(data.collection, ids, fields)}
        for offset, pid in enumerate(ids):
            row = start + offset
            payload = found.get(pid, {})
            captions.append(point_caption(payload))
            i = row % per_atlas
            if i == 0:
                if atlas is not None:
                    _save_atlas(atlas, folder, files, sizes, quality)
                left = min(per_atlas, data.n - row)
                atlas = Image.new("RGB", (columns * tile, -(-left // columns) * tile), "#eeeeee")
            img = _thumbnail(payload.get(Payload.THUMBNAIL), tile)
            if img is not None and atlas is not None:
                atlas.paste(img, ((i % columns) * tile, (i // columns) * tile))
                packed += 1
        if progress and (start // BATCH) % 40 == 0:
            print(f"export-map: thumbnails {min(data.n, start + BATCH)} of {data.n}",
                  file=sys.stderr, flush=True)
    if atlas is not None:
        _save_atlas(atlas, folder, files, sizes, quality)
    if not packed:
        shutil.rmtree(folder)
        return captions, None, 0
    return captions, {"tile": tile, "columns": columns, "per_atlas": per_atlas, "files": files,
                      "sizes": sizes}, packed


def _save_atlas(atlas: Any, folder: Path, files: list[str], sizes: list[list[int]],
                quality: int) -> None:
    name = f"atlas-{len(files):03d}.jpg"
    atlas.save(folder / name, "JPEG", quality=quality, optimize=True)
    files.append(f"atlas/{name}")
    sizes.append([atlas.width, atlas.height])


def export_map(
    store: Store, collection: str, out: Path, projection: str = "", tile: int = 32,
    columns: int = 64, quality: int = 80, progress: bool = False, max_points: int = MAX_POINTS,
    density_from: int = density.FROM_POINTS,
) -> Exported:
    """Write the folder of a collection's map (see the module docstring).

    Args:
        store: The store holding the collection.
        collection: The collection; its analysis must have stored the map.
        out: The folder (created; files of an earlier export there are replaced).
        projection: The map (empty: the first one stored).
        tile: Pixels of a thumbnail in the atlases.
        columns: Thumbnails per row and column of one atlas image.
        quality: JPEG quality of the atlases.
        progress: Progress lines on stderr.
        max_points: Past this many points a seeded sample of them is exported (thumbnails,
            captions, the points drawn); the overview and the legend count every point.
        density_from: Maps of at least this many points open on their density overview
            (ui/map/density.py; 0: never).

    Raises:
        UsageError: The collection has no stored map (or not this one).
    """
    began = time.perf_counter()
    if not projection:
        maps, _ = available(store, collection)
        projection = maps[0] if maps else "umap"  # load_map names what is missing
    data = load_map(store, collection, projection)
    xy = normalised(data.xy)  # the whole map's frame: a sample keeps its place on it
    rows = sample_rows(data.n, max_points)
    shown = data if rows is None else _sample(data, rows)
    grid, cells = density.grid_for(data.n), None
    if 0 < density_from <= data.n:
        cells = density.cells(xy, grid)
    out.mkdir(parents=True, exist_ok=True)
    captions, atlas, packed = _atlases(store, shown, out, tile, columns, quality, progress)
    colour_by = data.default_colouring()
    document = {
        "collection": collection, "projection": projection, "n": shown.n, "total": data.total,
        "map_points": data.n,
        "xy": _b64(np.ascontiguousarray((xy if rows is None else xy[rows]).T).astype("<f4")),
        "ids": _b64(np.asarray(shown.ids, "S16")), "captions": captions,
        "fields": fields_of(data, rows, cells, grid),
        "colour_by": None if colour_by == NONE else colour_by, "atlas": atlas,
        "density": None if cells is None else {"grid": grid,
                                               "full_zoom": density.full_zoom(data.n)},
    }
    (out / "map-data.js").write_text(
        "window.EMBEDSCOPE_EXPORT = " + json.dumps(document, separators=(",", ":")) + ";\n",
        encoding="utf-8")
    shutil.copyfile(BUNDLE, out / "embedscope-map.js")
    title = html.escape(f"{collection} · {projection}")
    (out / "index.html").write_text(PAGE.format(title=title, css=CSS + EXPORT_CSS),
                                    encoding="utf-8")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return Exported(out, projection, shown.n, packed, len(atlas["files"]) if atlas else 0, size,
                    time.perf_counter() - began, data.n)
