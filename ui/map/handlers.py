"""The Explore tab's event handlers: values in, ``{component name: value}`` out.

Each takes what it works with first (the map service, the session, bound by ui/map/tab.py), then
the event's inputs; ui/binding.py ``bind`` turns it into a Gradio handler. Names of the outputs are
the tab's component names (see ui/map/tab.py ``layout``); ``"status"`` is the page's banner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.ui.binding import STATUS, Event, Selected, escape, gallery, refused, update, usage
from embedscope.ui.config import UISettings
from embedscope.ui.map import points
from embedscope.ui.map import selection as sel
from embedscope.ui.map.colours import NONE
from embedscope.ui.map.maps import Maps
from embedscope.ui.map.published import MapView
from embedscope.ui.runs import Runs
from embedscope.ui.service import Session
from embedscope.ui.tabs import CollectionSync

NO_MAP_SHOWN = "no map shown: choose a collection with a map first."


# --- what several handlers show ----------------------------------------------------------------

def shown(maps: Maps, v: MapView | None, note: str | None = None) -> dict:
    """The view kept in the page's state and the map block's descriptor (and a note)."""
    out: dict = {"view": v, "map": maps.descriptor(v)}
    if note is not None:
        out["map_note"] = note
    return out


def pickers(maps: Maps, v: MapView | None, projections: list[str]) -> dict:
    """The Map, Colour by and Highlight choices for the view shown."""
    return {
        "projection": update(choices=projections,
                             value=v.projection if v and v.token else
                             (projections[0] if projections else None)),
        "colour_by": update(choices=maps.colourings(v), value=v.colour_by if v and v.token else None),
        "highlight": update(choices=[NONE, *maps.groups(v)], value=v.highlight if v else NONE),
    }


def cleared(session: Session) -> dict:
    """No selection: an empty gallery, counts, clicked point, notes and export."""
    tiles, line = sel.page_tiles(session, None)
    return {"chosen": None, "gallery": gallery(tiles), "page_note": line, "counts": "", "picked": None,
            "similar": update(visible=False), "clicked_note": "", "tag_note": "",
            "export_file": None}


# --- the map ---------------------------------------------------------------------------------

def follow(maps: Maps, name: str | None, current: MapView | None, proj: str | None) -> dict:
    """The collection changed (page load, the dropdown, Reload): its map, or a hint."""
    v, projections, note = maps.open(name, proj, current, reload=False)
    return {**shown(maps, v, note), **pickers(maps, v, projections), **cleared(maps.session),
            **offer_analysis(projections, name)}


def reload_map(maps: Maps, name: str | None, current: MapView | None, proj: str | None) -> dict:
    """"Show map (reload)" or another projection: the map read from the store again, and the
    page's line on the collection with it (an analysis run meanwhile changed its time)."""
    v, projections, note = maps.open(name, proj, current, reload=True)
    return {**shown(maps, v, note), **pickers(maps, v, projections), **cleared(maps.session),
            **offer_analysis(projections, name),
            "collection_info": maps.session.describe(name) if name else update()}


def restyle(maps: Maps, v: MapView | None, colour: str | None, light: str | None) -> dict:
    """Another colouring or highlighted group (the note under the buttons follows: a phrase's
    note goes with its colouring)."""
    if v is None or v.token is None:
        return {}
    v = maps.restyle(v, colour, light)
    return {**shown(maps, v, maps.note(v)),
            "highlight": update(choices=[NONE, *maps.groups(v)], value=v.highlight)}


def phrase(maps: Maps, v: MapView | None, text: str | None) -> dict:
    """"Colour by a phrase": every point by its cosine to the phrase in the linked text space."""
    if v is None or v.token is None:
        raise usage(NO_MAP_SHOWN)
    v, note = maps.colour_by_phrase(v, text)
    return {**shown(maps, v, note),
            "colour_by": update(choices=maps.colourings(v), value=v.colour_by),
            "highlight": update(choices=[NONE], value=NONE)}


def captions(maps: Maps, v: MapView | None, on: bool) -> dict:
    """The "Cluster captions" toggle."""
    if v is None or v.token is None:
        return {}
    return shown(maps, maps.show_captions(v, on))


def mark(maps: Maps, v: MapView | None, result: dict | None) -> dict:
    """A search ran: its query and neighbours marked on the map.

    The banner stays as it is: this follows every search, including a refused one ("collection
    busy") whose message the banner is showing. A map the server no longer keeps (other visitors'
    maps took its place) is not marked and not spoken of: the Search tab never speaks of the map;
    the Explore tab says so when it is used.
    """
    keep = {STATUS: update()}
    if v is None or v.token is None:
        return keep
    try:
        return {**shown(maps, maps.mark(v, result)), **keep}
    except UsageError:  # the published map is gone
        return keep


def hover(maps: Maps, query: dict) -> dict:
    """What the map's tooltip shows for ``{"token": …, "row": …}`` (the map calls it on hover)."""
    return maps.point_info(str(query.get("token")), int(query.get("row", -1)))


def server_functions(maps: Maps) -> list[Callable[[dict], dict]]:
    """The functions the map block calls by name: ``server.point_info``, ``server.put_selection``.

    Gradio calls them with one argument and finds them by ``__name__``.
    """

    def point_info(query: dict) -> dict:
        return hover(maps, query)

    def put_selection(payload: dict) -> dict:
        # The map hands its selection over here first, then triggers 'selection': Gradio may
        # run a queued event with an earlier trigger's data, the store here is always the latest.
        return maps.put_selection(payload)

    return [point_info, put_selection]


# --- the selection ---------------------------------------------------------------------------

def on_selection(maps: Maps, v: MapView | None, order: str | None, evt: Event) -> dict:
    """The map's 'selection' event: the selection's first gallery page (in the chosen order)
    and counts."""
    if v is None or v.token is None:
        raise usage(NO_MAP_SHOWN)
    return _first_page(maps, maps.select(v, getattr(evt, "_data", None)), order)


def select_group(maps: Maps, v: MapView | None, order: str | None) -> dict:
    """"Select group": every point of the highlighted group (a whole class) becomes the map's
    selection (its count, what "Tag selection" tags, what Add / Subtract change) and fills the
    gallery in the chosen order (most unique first, most typical first, map order)."""
    if v is None or v.token is None:
        raise usage(NO_MAP_SHOWN)
    return {**_first_page(maps, maps.select_group(v), order),
            "map": maps.descriptor(v, select=True)}


def _first_page(maps: Maps, s: sel.Selection, order: str | None) -> dict:
    """A new selection's first gallery page, in ``order`` where its points have that score."""
    values = s.scores.get(sel.ORDERS.get(order or "") or "")
    if values is not None and not np.isnan(values).all():
        s = sel.ordered(s, str(order))
    tiles, line = sel.page_tiles(maps.session, s)
    return {**cleared(maps.session), "chosen": s, "gallery": gallery(tiles), "page_note": line,
            "counts": sel.counts_markdown(s)}


def turn(session: Session, step: int, s: sel.Selection | None) -> dict:
    """◀ Previous / Next ▶: another page of the selection."""
    s = sel.turn(s, step)
    tiles, line = sel.page_tiles(session, s)
    return {"chosen": s, "gallery": gallery(tiles), "page_note": line, "picked": None,
            "similar": update(visible=False), "clicked_note": ""}


def reorder(session: Session, s: sel.Selection | None, order: str) -> dict:
    """The gallery's order changed ("most unique first", …): the first page in that order."""
    s = sel.ordered(s, order)
    tiles, line = sel.page_tiles(session, s)
    return {"chosen": s, "gallery": tiles, "page_note": line, "picked": None,
            "similar": update(visible=False), "clicked_note": ""}


def on_click(linked: bool, s: sel.Selection | None, evt: Selected) -> dict:
    """An image of the selection clicked: its id, and "Find similar" when the page links tabs."""
    point = sel.clicked_id(s, evt.index)
    caption = evt.value.get("caption") if isinstance(evt.value, dict) else None
    hint = "" if linked else " (search by it in the Search tab: pick 'by id')"
    return {"picked": point, "similar": update(visible=linked),
            "clicked_note": f"`{point}` · {escape(caption or '')}{hint}"}


def pivot(point: str | None) -> dict:
    """"Find similar": ask the Search tab to search by the clicked point."""
    return {"find_similar": sel.find_similar_value(point) if point else update()}


def tag(maps: Maps, v: MapView | None, s: sel.Selection | None, text: str) -> dict:
    """"Tag selection": stored, then shown as the map's colouring."""
    if v is None or v.token is None:
        raise usage(NO_MAP_SHOWN)
    try:
        v, note = maps.tag(v, s, text)
    except UsageError as exc:  # the note of an earlier tag would read as this one's
        return {**refused(exc), "tag_note": ""}
    return {**shown(maps, v, maps.note(v)), "tag_note": note,
            "colour_by": update(choices=maps.colourings(v), value=v.colour_by),
            "highlight": update(choices=[NONE, *maps.groups(v)], value=v.highlight)}


def export(session: Session, folder: Path, s: sel.Selection | None, fmt: str) -> dict:
    """"Export selection": a CSV or JSON file of the selected points."""
    return {"export_file": str(sel.export(session, s, fmt, folder))}


# --- the quick analysis ----------------------------------------------------------------------

def offer_analysis(projections: list[str], name: str | None = None) -> dict:
    """"Run analysis" is offered (and highlighted) only where no map exists; elsewhere "Show map
    (reload)" is the highlighted button, and a note says why "Run analysis" is grey."""
    offered = not projections
    note = "" if offered or not name else (
        f"**Run analysis** is for a collection without a map: {escape(name)} has one "
        f"({escape(', '.join(projections))}). Run `embedscope analyze --collection {name}` in "
        "a terminal to redo it.")
    return {"analyse": update(interactive=offered, variant="primary" if offered else "secondary"),
            "show_map": update(variant="secondary" if offered else "primary"),
            "analysis_note": note}


def start_analysis(maps: Maps, runs: Runs, settings: UISettings, name: str) -> dict:
    """"Run analysis": the page's fast analysis starts in the background (never over a map)."""
    if not name:
        raise usage("choose a collection first.")
    with maps.session.store() as s:
        projections, _ = points.available(s, name)
    if projections:
        raise usage(f"{name} already has a map ({', '.join(projections)}); the page does not "
                    f"replace it. Run `embedscope analyze --collection {name}` to redo it.")
    run = runs.start(name, settings)
    return {"map_note": run.line(), "analyse": update(interactive=False),
            "ticker": update(active=True)}


def analysis_progress(maps: Maps, runs: Runs, sync: CollectionSync, name: str | None,
                      current: MapView | None, proj: str | None) -> dict:
    """The ticker while an analysis runs: its progress line, then the page with the new map."""
    run = runs.get(name)
    if run is None:
        return {"ticker": update(active=False)}
    if run.running:
        return {"map_note": run.line()}
    out: dict[Any, Any] = {}
    if run.error is None:
        maps.forget(run.collection)
        out.update(reload_map(maps, name, current, proj))
        out.update(sync.values(name))
    out.update({"map_note": run.line(), "ticker": update(active=False)})
    return out
