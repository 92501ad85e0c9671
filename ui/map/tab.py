"""The Explore tab: the WebGL embedding map, its selection gallery, tags, export and the quick
analysis — its layout and the wiring of its events to ui/map/handlers.py."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from embedscope.mapfiles import maps_dir
from embedscope.ui.binding import bind
from embedscope.ui.config import UISettings
from embedscope.ui.map import block, density, handlers
from embedscope.ui.map import selection as sel
from embedscope.ui.map.colours import NONE
from embedscope.ui.map.maps import Maps
from embedscope.ui.map.published import PublishedMaps
from embedscope.ui.private import private_dir
from embedscope.ui.runs import Runs
from embedscope.ui.tabs import CollectionSync, TabContext, TabHandles, register_tab

HELP = ("Wheel: zoom · drag: pan · **Lasso** / **Box** (or shift-drag): select · "
        "**Add** / **Subtract** (or hold Ctrl / Alt): change the selection · "
        "double-click or Esc: clear · hover: the image.")
#: Everything a map change writes, in order (``status`` last).
MAP_OUTPUTS = ("view", "map", "map_note", "projection", "colour_by", "highlight", "chosen",
               "gallery", "page_note", "counts", "picked", "similar", "clicked_note", "tag_note",
               "export_file", "analyse", "show_map", "analysis_note", "status")
#: Everything a new selection (or page of it) writes.
SELECTION_OUTPUTS = ("chosen", "gallery", "page_note", "counts", "picked", "similar",
                     "clicked_note", "tag_note", "export_file", "status")


@register_tab("explore", place=20)
def build(ctx: TabContext) -> TabHandles:
    """Lay out the Explore tab and wire its events.

    Args:
        ctx: The page's shared context (reads ``shared["search_result"]``,
            ``shared["find_similar"]`` and ``shared["tabs"]`` when the Search tab put them there,
            and the page's ``shared["collection_info"]``).

    Returns:
        No collection hook (the map follows the collection dropdown itself, so a change never
        races with the page's hook), and the wiring of "Run analysis".
    """
    import gradio as gr

    density_from = getattr(ctx.settings, "map_density_from", density.FROM_POINTS)
    maps = Maps(ctx.session, PublishedMaps(density_from=density_from), cache=maps_dir())
    block.serve_folder(maps.published)
    exports = private_dir("embedscope-export-")
    gr.set_static_paths([exports])
    c = layout(ctx, maps)
    wire_map(c, maps)
    wire_selection(c, maps, exports)
    runs = Runs(ctx.session)
    return TabHandles(outputs=[], on_collection=None,
                      wire=functools.partial(wire_analysis, c, maps, runs, ctx.settings))


def layout(ctx: TabContext, maps: Maps) -> dict[str, Any]:
    """The tab's components by name (with the page's ``collection``, ``status`` and shared ones)."""
    import gradio as gr

    c: dict[str, Any] = {"collection": ctx.collection, "status": ctx.status, **ctx.shared}
    settings = ctx.settings
    with gr.Tab("Explore", id="explore"):
        with gr.Row():
            c["projection"] = gr.Dropdown(label="Map", choices=[], elem_id="projection")
            c["colour_by"] = gr.Dropdown(label="Colour by", choices=[], elem_id="colour-by")
            c["highlight"] = gr.Dropdown(label="Highlight", choices=[NONE], value=NONE,
                                         elem_id="highlight")
            c["select_group"] = gr.Button("Select group", size="sm", elem_id="select-group")
            c["captions"] = gr.Checkbox(label="Cluster captions", value=True, elem_id="captions",
                                        info="a clustering's captions at its clusters' centres")
        with gr.Row():
            c["phrase"] = gr.Textbox(label="Colour by a phrase (cosine in the linked text space)",
                                     placeholder="e.g. a boot with laces", scale=3,
                                     elem_id="phrase")
            c["phrase_button"] = gr.Button("Colour by phrase", scale=1, elem_id="phrase-button")
        with gr.Row():  # the one that works here is the highlighted one (offer_analysis)
            c["show_map"] = gr.Button("Show map (reload)", variant="primary", elem_id="show-map")
            c["analyse"] = gr.Button("Run analysis (fast: "
                                     f"{settings.analysis_projections} + "
                                     f"{settings.analysis_clusterers})", elem_id="run-analysis",
                                     interactive=False)
        c["analysis_note"] = gr.Markdown(elem_id="analysis-note")  # why Run analysis is grey
        c["ticker"] = gr.Timer(1.0, active=False)
        c["map_note"] = gr.Markdown(elem_id="map-note")
        gr.Markdown(HELP, elem_id="map-help")
        c["map"] = block.block(handlers.server_functions(maps), elem_id="webmap")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    c["prev_page"] = gr.Button("◀ Previous", size="sm", elem_id="selection-prev")
                    c["page_note"] = gr.Markdown(sel.page_tiles(ctx.session, None)[1],
                                                 elem_id="selection-info")
                    c["next_page"] = gr.Button("Next ▶", size="sm", elem_id="selection-next")
                    c["order"] = gr.Dropdown(list(sel.ORDERS), value=next(iter(sel.ORDERS)),
                                             label="Order", elem_id="selection-order")
                c["gallery"] = gr.Gallery(label="Selected images (click one to find similar)",
                                          columns=8, height="auto", object_fit="contain",
                                          allow_preview=False, elem_id="map-selection")
                with gr.Row():
                    c["similar"] = gr.Button("Find similar", visible=False,
                                             elem_id="map-find-similar")
                    c["clicked_note"] = gr.Markdown(elem_id="clicked-point")
            with gr.Column(scale=1):
                c["counts"] = gr.Markdown(elem_id="selection-counts")
                c["tag_name"] = gr.Textbox(label="Tag", placeholder="e.g. review", elem_id="tag-name")
                c["tag_button"] = gr.Button("Tag selection", elem_id="tag-selection")
                c["tag_note"] = gr.Markdown(elem_id="tag-note")
                c["export_format"] = gr.Radio(list(sel.FORMATS), value=sel.FORMATS[0],
                                              label="Export format", elem_id="export-format")
                c["export_button"] = gr.Button("Export selection", elem_id="export-selection")
                c["export_file"] = gr.File(label="Export", interactive=False, elem_id="export-file")
        c["view"], c["chosen"], c["picked"] = gr.State(None), gr.State(None), gr.State(None)
    return c


def _of(c: dict[str, Any], names: tuple[str, ...] | list[str]) -> list[Any]:
    return [c[n] for n in names]


def wire_map(c: dict[str, Any], maps: Maps) -> None:
    """The map follows the collection, reloads, restyles and marks the Search tab's results."""
    shown = [c["collection"], c["view"], c["projection"]]
    outputs = _of(c, MAP_OUTPUTS)
    c["collection"].change(bind(handlers.follow, c, maps), shown, outputs)
    reloaded = [*outputs, c["collection_info"]]  # the page's line names the latest analysis
    c["show_map"].click(bind(handlers.reload_map, c, maps), shown, reloaded)
    c["projection"].input(bind(handlers.reload_map, c, maps), shown, reloaded)
    restyle = bind(handlers.restyle, c, maps)
    inputs = _of(c, ("view", "colour_by", "highlight"))
    restyled = _of(c, ("view", "map", "map_note", "highlight", "status"))
    c["colour_by"].input(restyle, inputs, restyled, trigger_mode="always_last")
    c["highlight"].input(restyle, inputs, restyled, trigger_mode="always_last")
    coloured = _of(c, ("view", "map", "map_note", "colour_by", "highlight", "status"))
    for trigger in (c["phrase_button"].click, c["phrase"].submit):
        trigger(bind(handlers.phrase, c, maps), _of(c, ("view", "phrase")), coloured)
    c["captions"].input(bind(handlers.captions, c, maps), _of(c, ("view", "captions")),
                        _of(c, ("view", "map", "status")), trigger_mode="always_last")
    if "search_result" in c:
        # no progress shown: it follows every search, and the banner (which it keeps) would
        # blink "processing" after each one, over a refusal's message too
        c["search_result"].change(bind(handlers.mark, c, maps), [c["view"], c["search_result"]],
                                  _of(c, ("view", "map", "status")), trigger_mode="always_last",
                                  show_progress="hidden")


def wire_selection(c: dict[str, Any], maps: Maps, exports: Path) -> None:
    """Selecting on the map, paging the gallery, clicking an image, tagging and exporting."""
    session, outputs = maps.session, _of(c, SELECTION_OUTPUTS)
    # always_last: a selection made while the previous one is served is not lost
    c["map"].selection(bind(handlers.on_selection, c, maps), [c["view"], c["order"]], outputs,
                       trigger_mode="always_last")
    c["prev_page"].click(bind(handlers.turn, c, session, -1), [c["chosen"]], outputs)
    c["next_page"].click(bind(handlers.turn, c, session, 1), [c["chosen"]], outputs)
    c["order"].input(bind(handlers.reorder, c, session), [c["chosen"], c["order"]], outputs)
    c["select_group"].click(bind(handlers.select_group, c, maps), [c["view"], c["order"]],
                            [c["map"], *outputs])
    linked = "find_similar" in c
    c["gallery"].select(bind(handlers.on_click, c, linked), [c["chosen"]],
                        _of(c, ("picked", "similar", "clicked_note", "status")))
    c["tag_button"].click(bind(handlers.tag, c, maps), _of(c, ("view", "chosen", "tag_name")),
                          _of(c, ("view", "map", "map_note", "tag_note", "colour_by", "highlight",
                                  "status")))
    c["export_button"].click(bind(handlers.export, c, session, exports),
                             _of(c, ("chosen", "export_format")), _of(c, ("export_file", "status")))
    if linked:
        c["similar"].click(bind(handlers.pivot, c, guard=False), [c["picked"]], [c["find_similar"]])


def wire_analysis(c: dict[str, Any], maps: Maps, runs: Runs, settings: UISettings,
                  sync: CollectionSync) -> None:
    """"Run analysis" starts the page's analysis in the background; a ticker shows its progress,
    then the whole page (it changed the collection) and the new map."""
    c["analyse"].click(bind(handlers.start_analysis, c, maps, runs, settings), c["collection"],
                       _of(c, ("map_note", "analyse", "ticker", "status")))
    outputs = list(dict.fromkeys([*sync.outputs, *_of(c, MAP_OUTPUTS), c["ticker"]]))
    c["ticker"].tick(bind(handlers.analysis_progress, c, maps, runs, sync),
                     [c["collection"], c["view"], c["projection"]], outputs)
