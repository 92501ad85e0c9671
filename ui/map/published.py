"""Maps served to the page: their binary files, what one page shows of a map, the JSON it reads."""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.ui.map import density
from embedscope.ui.map.colours import NONE, Colouring
from embedscope.ui.map.points import MapData, normalised_columns
from embedscope.ui.private import private_dir

#: Maps kept published per process (the oldest is dropped, with its files).
KEEP = 6


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
    #: The latest report's cluster captions by cluster field (ui/map/captions.py).
    captions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Colourings computed on the page (a phrase's cosine), by name, beside the map's own.
    extra: dict[str, Colouring] = field(default_factory=dict)
    #: The map's points in the linked text space, read once (ui/map/phrases.py).
    text_vectors: Any = None
    #: Each point's cell of the density overview (ui/map/density.py); None: no overview.
    cells: np.ndarray | None = None
    #: Cells of the overview, each way.
    grid: int = density.GRID

    def colouring(self, name: str) -> Colouring:
        """A colouring of the map, or one computed on the page."""
        return self.extra[name] if name in self.extra else self.data.colouring(name)

    def colourings(self) -> list[str]:
        """The map's colourings, then those computed on the page."""
        return [*self.data.colourings(), *self.extra]

    def colour_file(self, name: str) -> tuple[Path, dict[str, Any]]:
        """The binary file of a colouring (written once per version) and its legend entry."""
        c = self.colouring(name)
        version = self.versions.get(name, 0)
        safe = uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:12]
        path = self.folder / f"{self.token}-{safe}-v{version}.bin"
        overview = path.with_name(f"{path.stem}-density.bin")
        with self.lock:
            if not path.exists():
                raw = (np.round(c.codes * 255).astype(np.uint8) if c.kind == "continuous"
                       else c.codes.astype("<u2"))
                _write(path, raw.tobytes())
            if self.cells is not None and not overview.exists():
                _write(overview, density.overview(self.cells, c, self.grid))
        entry: dict[str, Any] = {"title": name, "kind": c.kind, "url": file_url(path),
                                 "version": version}
        if self.cells is not None:
            entry["density_url"] = file_url(overview)
        if c.kind == "continuous":
            entry.update(low=c.names[0], high=c.names[1])
        else:
            entry.update(names=c.names, counts=c.counts(), noise=c.noise)
            if c.colours:
                entry["colours"] = c.colours
        return path, entry

    def changed(self, name: str) -> None:
        """A colouring's data changed (a new tag): its next file gets a new version."""
        self.versions[name] = self.versions.get(name, 0) + 1


def _write(path: Path, data: bytes | np.ndarray) -> None:
    tmp = path.with_suffix(".tmp")
    if isinstance(data, np.ndarray):
        data.tofile(tmp)  # no copy of a large array as bytes
    else:
        tmp.write_bytes(data)
    tmp.replace(path)


class PublishedMaps:
    """The maps this process has published, by token (shared by every visitor of the page)."""

    def __init__(self, folder: Path | None = None, keep: int = KEEP,
                 density_from: int = density.FROM_POINTS) -> None:
        """Publish maps as files under ``folder`` (default: a new temp dir); maps of at least
        ``density_from`` points (0: none) open on their density overview."""
        self.folder = folder or private_dir("embedscope-map-")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.density_from = density_from
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
        cols = normalised_columns(data.xy)
        _write(self.folder / f"{token}-xy.bin", cols)
        pub = Published(token, data, self.folder, key)
        if 0 < self.density_from <= data.n:
            pub.grid = density.grid_for(data.n)
            pub.cells = density.cells(cols.T, pub.grid)
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
    #: Draw the clusters' captions (when the colouring is a captioned clustering).
    captions: bool = True


def descriptor(published: PublishedMaps, view: MapView | None, select: bool = False) -> str:
    """The JSON the map block reads: URLs of the binary files, legend, highlight and marks.

    With ``select`` ("Select group"), the highlighted group becomes the map's selection: the
    block selects the points of that group of the colouring, once per descriptor (its
    ``select.nonce``), as if they had been drawn around.
    """
    if view is None or view.token is None:
        return _json({"token": None, "message": view.message if view else ""})
    pub = published.get(view.token)
    data = pub.data
    colour = view.colour_by if view.colour_by in pub.colourings() else NONE
    _, entry = pub.colour_file(colour)
    highlight = None
    if view.highlight != NONE and entry.get("kind") == "category" and view.highlight in entry["names"]:
        highlight = entry["names"].index(view.highlight)
    return _json({
        "token": pub.token, "n": data.n, "collection": data.collection,
        "projection": data.projection, "xy_url": file_url(pub.folder / f"{pub.token}-xy.bin"),
        "colour_by": colour, "colourings": {colour: entry}, "highlight": highlight,
        **({"density": {"grid": pub.grid, "full_zoom": density.full_zoom(data.n)}}
           if pub.cells is not None else {}),
        "marks": {"query": view.query, "neighbours": view.neighbours},
        **_captions(pub, view, colour),
        **({"select": {"group": highlight, "nonce": uuid.uuid4().hex}}
           if select and highlight is not None else {}),
    })


def _json(value: dict[str, Any]) -> str:
    """JSON with no ``<`` (it holds class names and captions, and becomes the value of a gr.HTML
    block: the map reads it as JSON, and no markup is ever spelled out in the page's data)."""
    return json.dumps(value).replace("<", "\\u003c")


def _captions(pub: Published, view: MapView, colour: str) -> dict[str, Any]:
    """The captions to draw (a clustering's, when shown and switched on), or the note why none."""
    from embedscope.ui.map.captions import NO_CAPTIONS, place

    if colour not in pub.data.clusters:
        return {"captions": []}
    if colour not in pub.captions:
        return {"captions": [], "captions_note": NO_CAPTIONS}
    return {"captions": place(pub.data, colour, pub.captions[colour]) if view.captions else []}
