"""The WebGL map block: published maps as binary files, the descriptor the page reads, the block."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.ui.explore import NONE, MapData, normalised

log = logging.getLogger(__name__)

#: The bundle built from ui/frontend (regl-scatterplot + src/map.js), shipped in the wheel.
STATIC_DIR = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC_DIR / "embedscope-map.js"
#: Maps kept published per process (the oldest is dropped, with its files).
KEEP = 6
#: Height of the plot in pixels.
HEIGHT = 620


def file_url(path: Path) -> str:
    """The page-relative URL Gradio serves a static file at."""
    return f"gradio_api/file={path.resolve()}"


@dataclass
class Published:
    """A map served to the page: its data, its files and the versions of its tag colourings."""

    token: str
    data: MapData
    folder: Path
    key: tuple[Any, ...]
    versions: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def colour_file(self, name: str) -> tuple[Path, dict[str, Any]]:
        """The binary file of a colouring (written once per version) and its legend entry."""
        c = self.data.colouring(name)
        version = self.versions.get(name, 0)
        safe = uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:12]
        path = self.folder / f"{self.token}-{safe}-v{version}.bin"
        with self.lock:
            if not path.exists():
                raw = (np.round(c.codes * 255).astype(np.uint8) if c.kind == "continuous"
                       else c.codes.astype("<u2"))
                _write(path, raw.tobytes())
        entry: dict[str, Any] = {"title": name, "kind": c.kind, "url": file_url(path),
                                 "version": version}
        if c.kind == "continuous":
            entry.update(low=c.names[0], high=c.names[1])
        else:
            entry.update(names=c.names, counts=c.counts(), noise=c.noise)
        return path, entry

    def changed(self, name: str) -> None:
        """A colouring's data changed (a new tag): its next file gets a new version."""
        self.versions[name] = self.versions.get(name, 0) + 1


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class Registry:
    """The maps this process has published, by token (shared by every visitor of the page)."""

    def __init__(self, folder: Path | None = None, keep: int = KEEP) -> None:
        """Create a registry writing its files under ``folder`` (default: a new temp dir)."""
        self.folder = folder or Path(tempfile.mkdtemp(prefix="embedscope-map-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._maps: OrderedDict[str, Published] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, key: tuple[Any, ...]) -> Published | None:
        """The map published for ``key`` (collection, projection, points, analysis run)."""
        with self._lock:
            for pub in self._maps.values():
                if pub.key == key:
                    self._maps.move_to_end(pub.token)
                    return pub
        return None

    def publish(self, data: MapData, key: tuple[Any, ...]) -> Published:
        """Write the map's coordinates (float32 x column then y column) and register it."""
        token = uuid.uuid4().hex
        xy = normalised(data.xy)
        _write(self.folder / f"{token}-xy.bin",
               np.ascontiguousarray(xy.T).astype("<f4").tobytes())
        pub = Published(token, data, self.folder, key)
        with self._lock:
            self._maps[token] = pub
            while len(self._maps) > self.keep:
                _, old = self._maps.popitem(last=False)
                for f in self.folder.glob(f"{old.token}-*"):
                    f.unlink(missing_ok=True)
        return pub

    def get(self, token: str | None) -> Published:
        """The published map of a token.

        Raises:
            UsageError: unknown token (the page outlived the map: press "Show map").
        """
        with self._lock:
            pub = self._maps.get(str(token))
        if pub is None:
            raise UsageError("this map is no longer loaded on the server: press 'Show map'.")
        return pub

    def drop(self, collection: str) -> None:
        """Forget every map of a collection (after its analysis changed)."""
        with self._lock:
            for token in [t for t, p in self._maps.items() if p.data.collection == collection]:
                del self._maps[token]


class DiskCache:
    """Loaded maps saved as .npz under a folder, so a restart or a new page skips the scroll.

    A map is found again only for the same key (collection, projection, point count, analysis
    run); "Show map (reload)" reads the store again and replaces it. Write failures (a
    read-only data dir) only cost the speed-up.
    """

    def __init__(self, folder: Path | None) -> None:
        """Create a cache in ``folder`` (None: no cache)."""
        self.folder = folder

    def _path(self, key: tuple[Any, ...]) -> Path | None:
        if self.folder is None:
            return None
        digest = uuid.uuid5(uuid.NAMESPACE_URL, repr(key)).hex[:16]
        return self.folder / f"{_slug(str(key[0]))}-{_slug(str(key[1]))}-{digest}.npz"

    def load(self, key: tuple[Any, ...]) -> MapData | None:
        """The map saved for ``key``, or None."""
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                return MapData(
                    meta["collection"], meta["projection"], z["ids"], z["xy"], z["labels"],
                    meta["label_names"], z["splits"], meta["split_names"],
                    {c: z[f"cluster/{c}"] for c in meta["clusters"]},
                    {c: z[f"score/{c}"] for c in meta["scores"]},
                    {t: z[f"tag/{i}"] for i, t in enumerate(meta["tags"])}, meta["total"],
                )
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the unreadable map cache %s: %s", path, exc)
            return None

    def save(self, data: MapData, key: tuple[Any, ...]) -> None:
        """Save a map for ``key`` (older saves of the same collection and projection go)."""
        path = self._path(key)
        if path is None:
            return
        tags = sorted(data.tags)
        meta = {"collection": data.collection, "projection": data.projection,
                "label_names": data.label_names, "split_names": data.split_names,
                "clusters": sorted(data.clusters), "scores": sorted(data.scores), "tags": tags,
                "total": data.total}
        arrays = {"meta": np.asarray(json.dumps(meta)), "ids": data.ids, "xy": data.xy,
                  "labels": data.labels, "splits": data.splits,
                  **{f"cluster/{c}": v for c, v in data.clusters.items()},
                  **{f"score/{c}": v for c, v in data.scores.items()},
                  **{f"tag/{i}": data.tags[t] for i, t in enumerate(tags)}}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.npz")
            np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle
            tmp.replace(path)
            for old in path.parent.glob(path.name.rsplit("-", 1)[0] + "-*.npz"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not save the map cache %s: %s", path, exc)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_." else "_" for c in text)[:80]


@dataclass
class MapView:
    """What one page shows of a map: its token, colouring, highlighted group and search marks."""

    token: str | None = None
    collection: str | None = None
    projection: str | None = None
    colour_by: str = NONE
    highlight: str = NONE
    query: int | None = None
    neighbours: list[int] = field(default_factory=list)
    message: str = ""


def descriptor(registry: Registry, view: MapView | None) -> str:
    """The JSON the map block reads: URLs of the binary files, legend, highlight and marks."""
    if view is None or view.token is None:
        return json.dumps({"token": None, "message": view.message if view else ""})
    pub = registry.get(view.token)
    data = pub.data
    colour = view.colour_by if view.colour_by in data.colourings() else NONE
    _, entry = pub.colour_file(colour)
    highlight = None
    if view.highlight != NONE and entry.get("kind") == "category" and view.highlight in entry["names"]:
        highlight = entry["names"].index(view.highlight)
    return json.dumps({
        "token": pub.token, "n": data.n, "collection": data.collection,
        "projection": data.projection, "xy_url": file_url(pub.folder / f"{pub.token}-xy.bin"),
        "colour_by": colour, "colourings": {colour: entry}, "highlight": highlight,
        "marks": {"query": view.query, "neighbours": view.neighbours},
    })


def map_key(store: Any, collection: str, projection: str) -> tuple[Any, ...]:
    """What identifies a loaded map: collection, projection, point count and analysis run."""
    meta = store.get_meta(collection)
    return (collection, projection, store.count(collection), meta.analysis.get("run_id"),
            meta.analysis.get("created_at"))


def decode_rows(payload: dict[str, Any] | None, n: int) -> np.ndarray:
    """The map rows a selection event carries (base64 little-endian uint32), checked.

    Raises:
        UsageError: the payload is malformed or names rows outside the map.
    """
    import base64
    import binascii

    if not payload:
        return np.zeros(0, np.int64)
    try:
        raw = base64.b64decode(str(payload.get("rows") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("the map sent a selection the server cannot read; select again.") from None
    if len(raw) % 4:
        raise UsageError("the map sent a selection the server cannot read; select again.")
    rows = np.frombuffer(raw, "<u4").astype(np.int64)
    if len(rows) and (rows.max() >= n):
        raise UsageError(f"the selection names row {int(rows.max())} of a {n}-point map: "
                         "press 'Show map' and select again.")
    return np.unique(rows)


CSS = """
.es-root { font-size: 13px; }
.es-toolbar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 6px; }
.es-group { display: inline-flex; border: 1px solid #ccc; border-radius: 6px; overflow: hidden; }
.es-toolbar button { padding: 3px 10px; background: #f6f6f6; border: 0; cursor: pointer; }
.es-group button + button { border-left: 1px solid #ccc; }
.es-toolbar > button { border: 1px solid #ccc; border-radius: 6px; }
.es-toolbar button.es-on { background: #2563eb; color: white; }
.es-count { margin-left: auto; font-weight: 600; }
.es-body { display: flex; gap: 10px; }
.es-plot { position: relative; flex: 1; height: @H@px; border: 1px solid #ddd;
  border-radius: 6px; overflow: hidden; background: white; }
.es-plot canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.es-empty { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; color: #666; padding: 2em; text-align: center; }
.es-empty[hidden] { display: none; }
.es-tooltip { position: absolute; pointer-events: none; background: white; border: 1px solid #999;
  border-radius: 6px; padding: 4px; box-shadow: 0 2px 8px rgba(0,0,0,.2); max-width: 170px; z-index: 5; }
.es-tooltip img { display: block; width: 128px; height: 128px; object-fit: contain;
  image-rendering: pixelated; }
.es-caption { font-size: 12px; margin-top: 2px; }
.es-legend { width: 190px; max-height: @H@px; overflow-y: auto; font-size: 12px; }
.es-legend-title { font-weight: 600; margin-bottom: 4px; }
.es-item { display: flex; align-items: center; gap: 6px; white-space: nowrap; }
.es-swatch { width: 11px; height: 11px; border-radius: 50%; flex: none; }
.es-n { color: #777; margin-left: auto; }
.es-ramp { height: 12px; border-radius: 3px; }
.es-ramp-ends { display: flex; justify-content: space-between; }
""".replace("@H@", str(HEIGHT))

JS_ON_LOAD = """
// Events this block triggers (Gradio wires a listener per quoted name): 'selection'
const root = element.querySelector('.es-root');
window.EmbedscopeMap.mount(root, {trigger, server, props, watch});
"""


def script_tag() -> str:
    """The <script> that loads the bundle from this server (no CDN)."""
    version = int(BUNDLE.stat().st_mtime) if BUNDLE.exists() else 0
    return f'<script src="{file_url(BUNDLE)}?v={version}"></script>'


def block(server_functions: list[Any], elem_id: str = "webmap") -> Any:
    """The gr.HTML block of the map (call inside a gr.Blocks).

    Args:
        server_functions: Python functions the map calls: ``point_info(token, row)``.
        elem_id: The block's DOM id.

    Raises:
        UsageError: the bundle is missing (build it: ``cd ui/frontend && npm ci && npm run build``).
    """
    import gradio as gr

    if not BUNDLE.exists():
        raise UsageError(f"the map's JavaScript bundle {BUNDLE} is missing: reinstall embedscope, "
                         "or build it with `cd ui/frontend && npm ci && npm run build`.")
    gr.set_static_paths([STATIC_DIR])
    return gr.HTML(
        value=json.dumps({"token": None, "message": "Loading the map…"}),
        html_template='<div class="es-root"></div>', css_template=CSS, js_on_load=JS_ON_LOAD,
        head=script_tag(), server_functions=server_functions, elem_id=elem_id,
        apply_default_css=False, min_height=HEIGHT + 40,
    )


def serve_folder(registry: Registry) -> None:
    """Let the page fetch the registry's binary files."""
    import gradio as gr

    gr.set_static_paths([registry.folder])
