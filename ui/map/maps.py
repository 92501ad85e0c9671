"""The maps a page serves, without the page: open a map, restyle it, select, tag, mark."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.maparrays import map_key
from embedscope.mapfiles import MapFiles
from embedscope.thumbnails import thumbnail_data_url
from embedscope.ui.binding import code, escape
from embedscope.ui.map import points, selection
from embedscope.ui.map.captions import report_captions
from embedscope.ui.map.colours import NONE, TAG_PREFIX, Colouring
from embedscope.ui.map.published import MapView, PublishedMaps, descriptor
from embedscope.ui.service import TILE_FIELDS, Session

NO_MAP = ("No 2-D map stored for **{name}** yet: press **Run analysis** (or run "
          "`embedscope analyze --collection {name}`).")
NO_COLLECTION = "No collection to map: ingest images first."
#: Pages whose latest selection is kept.
KEEP_SELECTIONS = 256


class Maps:
    """The maps a page shows, loaded once per process and shared by every visitor."""

    def __init__(self, session: Session, published: PublishedMaps | None = None,
                 cache: Path | None = None) -> None:
        """Create the map service of a session.

        Args:
            session: The page's session.
            published: Where maps are published (default: a new temp folder).
            cache: Folder of the map files (embedscope.mapfiles; None: none).
        """
        self.session = session
        self.published = published or PublishedMaps()
        self.cache = MapFiles(cache)
        self._selections: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    # --- opening ---------------------------------------------------------------------------
    def open(self, name: str | None, projection: str | None, current: MapView | None,
             reload: bool = False) -> tuple[MapView, list[str], str]:
        """The view of a collection's map, the projections it has and a note for the page.

        The colouring and Highlight carry over when the same collection is shown again
        ("Show map" keeps them); another collection starts from its defaults.

        Args:
            name: The collection (None: there is none).
            projection: The projection asked for (default: the first stored).
            current: What the page shows now.
            reload: Read the points again even when the map is loaded.
        """
        if not name:
            return MapView(message=NO_COLLECTION), [], NO_COLLECTION
        with self.session.store() as s:
            projections, _ = points.available(s, name)
            if not projections:
                return (MapView(collection=name, message=NO_MAP.format(name=name)), [],
                        NO_MAP.format(name=escape(name)))
            proj = str(projection if projection in projections else projections[0])
            key = map_key(s, name, proj)
        pub = None if reload else self.published.find(key)
        if pub is None:
            data = None if reload else self.cache.load(key, points.MapData)
            if data is None:
                # page by page, so other visitors get the store in between
                data = points.load_map(self.session.store, name, proj)
                self.cache.save(data, key)
            pub = self.published.publish(data, key)
            with self.session.store() as s:
                pub.captions = report_captions(s, name)
        data = pub.data
        same = current is not None and current.collection == name
        colour = current.colour_by if same and current else NONE
        if colour not in pub.colourings():
            colour = data.default_colouring()
        v = MapView(pub.token, name, proj, colour,
                    captions=current.captions if current is not None else True)
        if same and current is not None and colour in data.colourings() \
                and current.highlight in data.groups(colour):
            v.highlight = current.highlight
        if same and current is not None:
            v.query, v.neighbours = current.query, current.neighbours
            if current.token != pub.token:
                v.query, v.neighbours = None, []
        return v, projections, map_line(data)

    def forget(self, name: str) -> None:
        """Drop a collection's loaded maps (its analysis changed)."""
        self.published.drop(name)

    # --- what the page shows ---------------------------------------------------------------
    def descriptor(self, v: MapView | None, select: bool = False) -> str:
        """The JSON the map block reads (with ``select``: its highlighted group selected)."""
        return descriptor(self.published, v, select)

    def note(self, v: MapView) -> str:
        """The line under the buttons for the view shown: what the phrase colouring shows, or
        which map it is."""
        pub = self.published.get(v.token)
        if v.colour_by in pub.extra and pub.text_vectors is not None:
            return phrase_note(pub.extra[v.colour_by], pub.text_vectors.space, pub.data.collection)
        return map_line(pub.data)

    def colourings(self, v: MapView | None) -> list[str]:
        """The colourings offered for the map shown."""
        if v is None or v.token is None:
            return []
        return self.published.get(v.token).colourings()

    def groups(self, v: MapView | None) -> list[str]:
        """The groups Highlight offers for the map's colouring."""
        if v is None or v.token is None:
            return []
        c = self.published.get(v.token).colouring(v.colour_by)
        return list(c.names) if c.kind == "category" else []

    def restyle(self, v: MapView, colour: str | None, light: str | None) -> MapView:
        """The view with another colouring or highlighted group (Highlight resets when the
        group is not in the new colouring)."""
        pub = self.published.get(v.token)
        v.colour_by = colour if colour in pub.colourings() else pub.data.default_colouring()
        groups = self.groups(v)
        v.highlight = str(light) if light in groups else NONE
        return v

    def colour_by_phrase(self, v: MapView, phrase: str | None) -> tuple[MapView, str]:
        """Colour the map by each point's cosine to ``phrase`` in the linked text space.

        Raises:
            UsageError: an empty phrase, or no collection of the dataset embeds text.
        """
        from embedscope.search.text import phrase_vector
        from embedscope.ui.map.phrases import PHRASE_PREFIX, cosine_colouring, text_vectors_of

        text = (phrase or "").strip()
        if not text:
            raise UsageError("type a phrase to colour the map by, e.g. 'a boot with laces'.")
        pub = self.published.get(v.token)
        found, vector = phrase_vector(self.session.store, pub.data.collection, text, linked=True,
                                      device=self.session.settings.device,
                                      int8=self.session.settings.text_int8)
        space = found.space
        with self.session.store() as s:
            if pub.text_vectors is None or pub.text_vectors.space != space:
                pub.text_vectors = text_vectors_of(s, pub.data, space)
        colouring = cosine_colouring(text, pub.text_vectors, vector)
        for name in [n for n in pub.extra if n.startswith(PHRASE_PREFIX)]:
            del pub.extra[name]  # one phrase at a time
        pub.extra[colouring.name] = colouring
        pub.changed(colouring.name)
        v.colour_by, v.highlight = colouring.name, NONE
        return v, phrase_note(colouring, space, pub.data.collection)

    def show_captions(self, v: MapView, on: bool) -> MapView:
        """The view with cluster captions drawn or not."""
        v.captions = bool(on)
        return v

    def point_info(self, token: str, row: int) -> dict[str, Any]:
        """What the hover tooltip shows: the thumbnail (data URL) and "label · split #row"."""
        data = self.published.get(token).data
        point = data.id_of(row)
        with self.session.store() as s:
            found = s.retrieve(data.collection, [point], list(TILE_FIELDS))
        if not found:
            return {"src": None, "caption": f"point {point} is gone"}
        payload = found[0].payload
        return {"src": thumbnail_data_url(payload.get(Payload.THUMBNAIL)),
                "caption": points.point_caption(payload), "id": point}

    # --- acting on points ------------------------------------------------------------------
    def put_selection(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Keep the latest selection a page's map sent (``{"page", "seq", "token", "rows"}``).

        A selection older than the one kept (a lower ``seq``) is ignored.
        """
        page = str(payload.get("page") or "")
        if not page:
            return {"kept": False}
        with self._lock:
            kept = self._selections.get(page)
            if kept is not None and int(kept.get("seq", 0)) > int(payload.get("seq", 0)):
                return {"kept": False}
            self._selections[page] = dict(payload)
            self._selections.move_to_end(page)
            while len(self._selections) > KEEP_SELECTIONS:
                self._selections.popitem(last=False)
        return {"kept": True}

    def select(self, v: MapView, event: dict[str, Any] | None) -> selection.Selection:
        """The selection of a map event: the latest one its page handed over with
        ``put_selection``, or the rows the event carries itself; checked against the map."""
        pub = self.published.get(v.token)
        if event and event.get("page"):
            with self._lock:
                event = self._selections.get(str(event["page"]), event)
        if event and event.get("token") not in (None, v.token):
            raise UsageError("the map changed while you selected: select again.")
        rows = selection.decode_rows(event, pub.data.n)
        return selection.from_rows(pub.data, rows)

    def select_group(self, v: MapView) -> selection.Selection:
        """Every point of the highlighted group (a class, when coloured by label) as the selection.

        Raises:
            UsageError: no group is highlighted.
        """
        pub = self.published.get(v.token)
        if v.highlight in (None, "", NONE):
            raise UsageError("choose a group in Highlight first (a class, when the map is "
                             "coloured by label): its points become the selection.")
        return selection.from_rows(pub.data, pub.data.group_rows(v.colour_by, v.highlight))

    def tag(self, v: MapView, s: selection.Selection | None,
            text: str | None) -> tuple[MapView, str]:
        """Tag the selection in the store, show the tag as the map's colouring, and say so."""
        tag = selection.check_tag(text)
        if s is None or not s.ids:
            raise UsageError("nothing selected to tag: draw a lasso or a box on the map first.")
        pub = self.published.get(v.token)
        added, already = selection.tag_points(self.session, s.collection, s.ids, tag)
        if pub.data.collection == s.collection:
            pub.data.add_tag(tag, pub.data.rows_of(s.ids))
            pub.changed(TAG_PREFIX + tag)
            self.cache.save(pub.data, pub.key)
            v.colour_by, v.highlight = TAG_PREFIX + tag, NONE
        more = f" ({already:,} already had it)" if already else ""
        return v, (f"Tagged **{added:,}** points with {code(tag)}{more}. The map is coloured by "
                   f"it; other services find them with the filter {code(f'tags = {tag}')}.")

    def mark(self, v: MapView, result: dict[str, Any] | None) -> MapView:
        """Mark a search's query and neighbours on the map (when it maps that collection)."""
        v.query, v.neighbours = None, []
        if not result or result.get("collection") != v.collection:
            return v
        data = self.published.get(v.token).data
        query = result.get("query_id")
        if query:
            rows = data.rows_of([str(query)])
            v.query = int(rows[0]) if len(rows) else None
        v.neighbours = [int(r) for r in data.rows_of([str(i) for i in
                                                      result.get("neighbour_ids") or []])]
        return v


def map_line(data: points.MapData) -> str:
    """The line under the buttons for a map: collection, projection and points shown."""
    shown = f"{data.n:,} of {data.total:,} points" if data.n < data.total else f"{data.n:,} points"
    return f"**{escape(data.collection)}** · {escape(str(data.projection).upper())} · {shown}."


def phrase_note(colouring: Colouring, space: str, collection: str) -> str:
    """The line under the buttons for a phrase colouring: the phrase, its space and its range."""
    from embedscope.ui.map.phrases import PHRASE_PREFIX

    text = colouring.name.removeprefix(PHRASE_PREFIX)
    via = f" in **{escape(space)}**" if space != collection else ""
    return (f"Coloured by the cosine to “{escape(text)}”{via}: {colouring.names[0]} (dark) to "
            f"{colouring.names[1]} (bright).")


__all__ = ["Maps", "map_line", "phrase_note"]
