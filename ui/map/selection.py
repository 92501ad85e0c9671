"""A selection on the map: its pages of images, counts per label, export and tags."""

from __future__ import annotations

import base64
import binascii
import csv
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.ui.binding import escape
from embedscope.ui.images import Tile
from embedscope.ui.map.points import MapData
from embedscope.ui.service import Session

#: Images per page of the selection gallery.
PAGE_SIZE = 48
#: Export formats.
FORMATS = ("csv", "json")
#: Points read per store call when exporting or tagging.
BATCH = 512
#: Gallery orders: name → (per-point score, highest first), None = map order.
ORDERS: dict[str, str | None] = {"map order": None, "most unique first": "uniqueness",
                                 "most typical first": "representativeness"}
#: The key of the selected points' map positions in ``Selection.scores``.
MAP_ORDER = "map order"
#: What a tag may look like.
TAG_RE = re.compile(r"^[\w][\w .:/+-]{0,63}$")


@dataclass
class Selection:
    """The points selected on a map, in map order, and the page the gallery shows."""

    collection: str
    ids: list[str]
    counts: list[tuple[str, int]] = field(default_factory=list)  # (label, points), largest first
    page: int = 0
    #: The ordering scores of the selected points, aligned with ``ids`` (NaN: not scored).
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Number of gallery pages (at least 1)."""
        return max(1, -(-len(self.ids) // PAGE_SIZE))

    def page_ids(self, page: int | None = None) -> list[str]:
        """The ids shown on a page (default: the current one)."""
        p = self.page if page is None else page
        return self.ids[p * PAGE_SIZE:(p + 1) * PAGE_SIZE]


def decode_rows(payload: dict[str, Any] | None, n: int) -> np.ndarray:
    """The map rows a selection event carries (base64 little-endian uint32), checked.

    Raises:
        UsageError: the payload is malformed or names rows outside the map.
    """
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


def from_rows(data: MapData, rows: np.ndarray) -> Selection:
    """The selection of map ``rows`` with its counts per label."""
    rows = np.asarray(rows, np.int64)
    scores = {f: data.scores[f][rows] for f in ORDERS.values() if f and f in data.scores}
    scores[MAP_ORDER] = np.arange(len(rows), dtype=np.float64)
    return Selection(data.collection, data.ids_of(rows), label_counts(data, rows), scores=scores)


def ordered(selection: Selection | None, order: str | None) -> Selection:
    """The selection in the gallery order ``order`` (see ORDERS), from its first page.

    "map order" puts the points back in map order; a score order puts the highest first and
    the unscored points last.

    Raises:
        UsageError: nothing is selected, an unknown order, or the collection has no such score
            (the message says to run the analysis).
    """
    if selection is None or not selection.ids:
        raise UsageError("nothing selected: draw a lasso or a box on the map first.")
    if order not in ORDERS:
        raise UsageError(f"unknown order {order!r}: choose {', '.join(ORDERS)}.")
    field_name = ORDERS[order]
    if field_name is None:
        perm = np.argsort(selection.scores[MAP_ORDER], kind="stable")
    else:
        values = selection.scores.get(field_name)
        if values is None or np.isnan(values).all():
            raise UsageError(f"the points have no {field_name} score yet: run the analysis "
                             "(`embedscope analyze` or 'Run analysis') and show the map again.")
        perm = np.lexsort((np.arange(len(values)), -np.nan_to_num(values, nan=-np.inf)))
    selection.ids = [selection.ids[i] for i in perm]
    selection.scores = {k: v[perm] for k, v in selection.scores.items()}
    selection.page = 0
    return selection


def label_counts(data: MapData, rows: np.ndarray) -> list[tuple[str, int]]:
    """Points per label among ``rows``, largest first (ties by name)."""
    if not len(rows):
        return []
    colouring = data.colouring(Payload.LABEL) if (data.labels >= 0).any() else None
    if colouring is None:
        return [("unlabelled", len(rows))]
    counts = np.bincount(colouring.codes[rows], minlength=len(colouring.names))
    out = [(colouring.names[c], int(k)) for c, k in enumerate(counts) if k]
    return sorted(out, key=lambda t: (-t[1], t[0]))


def turn(selection: Selection | None, step: int) -> Selection:
    """The selection moved ``step`` pages (clamped to its first and last page).

    Raises:
        UsageError: nothing is selected.
    """
    if selection is None or not selection.ids:
        raise UsageError("nothing selected: draw a lasso or a box on the map first.")
    selection.page = min(max(selection.page + int(step), 0), selection.pages - 1)
    return selection


def page_tiles(session: Session, selection: Selection | None) -> tuple[list[Tile], str]:
    """The current page's gallery tiles and the "page i of n" line."""
    if selection is None or not selection.ids:
        return [], "Nothing selected: draw a lasso or a box on the map (or shift-drag)."
    ids = selection.page_ids()
    tiles = session.thumbnails(selection.collection, ids)
    first = selection.page * PAGE_SIZE
    return tiles, (f"**{len(selection.ids):,} selected** · images {first + 1:,}–"
                   f"{first + len(ids):,} · page {selection.page + 1} of {selection.pages}")


def counts_markdown(selection: Selection | None) -> str:
    """A Markdown table of the selection's points per label."""
    if selection is None or not selection.counts:
        return ""
    rows = "\n".join(f"| {escape(name)} | {count:,} |" for name, count in selection.counts)
    return f"| label | points |\n|---|---:|\n{rows}"


def clicked_id(selection: Selection | None, index: int | None) -> str:
    """The point id of a clicked tile of the current page.

    Raises:
        UsageError: no tile there (the page changed under the click).
    """
    ids = selection.page_ids() if selection else []
    if index is None or not 0 <= int(index) < len(ids):
        raise UsageError("click an image of the selection first.")
    return ids[int(index)]


def find_similar_value(point_id: str) -> str:
    """What the Search tab's hidden "find similar" box is given: the id and a nonce."""
    return f"{point_id} {time.time():.6f}"


def _payloads(session: Session, collection: str, ids: list[str]) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        with session.store() as s:
            found = {r.id: r.payload for r in s.retrieve(collection, chunk, True)}
        for pid in chunk:
            if pid in found:
                payload = {k: v for k, v in found[pid].items() if k != Payload.THUMBNAIL}
                out.append((pid, payload))
    return out


def export(session: Session, selection: Selection | None, fmt: str, folder: Path) -> Path:
    """Write the selected points' ids and payloads (without thumbnails) as CSV or JSON.

    Args:
        session: The page's session.
        selection: What is selected.
        fmt: "csv" or "json".
        folder: Where the file goes.

    Returns:
        The file: ``<collection>-selection-<n>.<fmt>`` in a new folder of its own under
        ``folder``, so two visitors' exports never overwrite each other.

    Raises:
        UsageError: nothing selected, or an unknown format.
    """
    if selection is None or not selection.ids:
        raise UsageError("nothing selected to export: draw a lasso or a box on the map first.")
    if fmt not in FORMATS:
        raise UsageError(f"cannot export as {fmt!r}: choose {' or '.join(FORMATS)}.")
    rows = _payloads(session, selection.collection, selection.ids)
    folder.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="export-", dir=folder))  # random name, mode 0700
    path = private / f"{selection.collection}-selection-{len(rows)}.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps([{"id": pid, "payload": p} for pid, p in rows], indent=1))
        return path
    keys = sorted({k for _, p in rows for k in p})
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", *keys])
        for pid, p in rows:
            writer.writerow([pid, *(_cell(p.get(k)) for k in keys)])
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def check_tag(text: str | None) -> str:
    """The tag typed in the page, trimmed.

    Raises:
        UsageError: empty, too long, or with characters other than letters, digits, space and
            ``. : / + - _``.
    """
    tag = (text or "").strip()
    if not tag:
        raise UsageError("type a tag first (e.g. 'mislabelled' or 'review').")
    if not TAG_RE.match(tag):
        raise UsageError(f"tag {tag!r} is not allowed: use 1–64 letters, digits, spaces or "
                         ". : / + - _, starting with a letter or digit.")
    return tag


def tag_points(session: Session, collection: str, ids: list[str], tag: str) -> tuple[int, int]:
    """Add ``tag`` to the ``tags`` payload list of the points (existing tags are kept).

    Returns:
        (points newly tagged, points that already had the tag).

    Raises:
        UsageError: nothing selected, or a bad tag.
    """
    tag = check_tag(tag)
    if not ids:
        raise UsageError("nothing selected to tag: draw a lasso or a box on the map first.")
    added = already = 0
    with session.store() as s:  # tags are listed from their index (a collection of an older
        s.ensure_indexes(collection)  # embedscope gets it with its first tag)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        with session.store() as s:
            current = {r.id: r.payload.get(Payload.TAGS)
                       for r in s.retrieve(collection, chunk, [Payload.TAGS])}
            updates: dict[str, dict[str, Any]] = {}
            for pid, tags in current.items():
                have = [str(t) for t in tags] if isinstance(tags, list) else []
                if tag in have:
                    already += 1
                else:
                    updates[pid] = {Payload.TAGS: [*have, tag]}
            if updates:
                s.set_payloads(collection, updates)
        added += len(updates)
    return added, already
