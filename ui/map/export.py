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
from embedscope.ui.map.block import BUNDLE, CSS
from embedscope.ui.map.colours import NONE
from embedscope.ui.map.points import MapData, available, load_map, normalised, point_caption

#: Points whose thumbnails and captions are read per store request.
BATCH = 512

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
    """What an export wrote: the folder, its points, files and bytes, and the seconds it took."""

    folder: Path
    projection: str
    points: int
    thumbnails: int
    atlases: int
    bytes: int
    seconds: float


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def fields_of(data: MapData) -> list[dict[str, Any]]:
    """Every colouring of the map, as the standalone page reads it (codes; raw score values)."""
    out = []
    for name in data.colourings():
        c = data.colouring(name)
        if c.kind == "continuous":
            entry: dict[str, Any] = {
                "name": name, "kind": "continuous", "low": c.names[0], "high": c.names[1],
                "codes": _b64(np.round(c.codes * 255).astype(np.uint8)),
                "values": _b64(np.asarray(data.scores[name], "<f4")) if name in data.scores
                else None}
        else:
            entry = {"name": name, "kind": "category", "names": c.names, "counts": c.counts(),
                     "noise": c.noise, "codes": _b64(c.codes.astype("<u2"))}
        out.append(entry)
    return out


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
    columns: int = 64, quality: int = 80, progress: bool = False,
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

    Raises:
        UsageError: The collection has no stored map (or not this one).
    """
    began = time.perf_counter()
    if not projection:
        maps, _ = available(store, collection)
        projection = maps[0] if maps else "umap"  # load_map names what is missing
    data = load_map(store, collection, projection)
    out.mkdir(parents=True, exist_ok=True)
    captions, atlas, packed = _atlases(store, data, out, tile, columns, quality, progress)
    colour_by = data.default_colouring()
    document = {
        "collection": collection, "projection": projection, "n": data.n, "total": data.total,
        "xy": _b64(np.ascontiguousarray(normalised(data.xy).T).astype("<f4")),
        "ids": _b64(np.asarray(data.ids, "S16")), "captions": captions,
        "fields": fields_of(data), "colour_by": None if colour_by == NONE else colour_by,
        "atlas": atlas,
    }
    (out / "map-data.js").write_text(
        "window.EMBEDSCOPE_EXPORT = " + json.dumps(document, separators=(",", ":")) + ";\n",
        encoding="utf-8")
    shutil.copyfile(BUNDLE, out / "embedscope-map.js")
    title = html.escape(f"{collection} · {projection}")
    (out / "index.html").write_text(PAGE.format(title=title, css=CSS + EXPORT_CSS),
                                    encoding="utf-8")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return Exported(out, projection, data.n, packed, len(atlas["files"]) if atlas else 0, size,
                    time.perf_counter() - began)
