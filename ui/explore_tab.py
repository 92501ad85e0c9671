"""The Explore tab: the WebGL embedding map, its selection gallery, tags, export and the quick analysis."""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# (gr.SelectData, gr.EventData) at run time, and `gr` is imported inside build.

import tempfile
from pathlib import Path
from typing import Any

from embedscope.ui import explore, mapview, webmap
from embedscope.ui import report as reports
from embedscope.ui import selection as sel
from embedscope.ui.tabs import CollectionSync, TabContext, TabHandles, usage


def build(ctx: TabContext) -> TabHandles:
    """Lay out the Explore tab and wire its events.

    Args:
        ctx: The page's shared context (reads ``shared["search_result"]``,
            ``shared["find_similar"]`` and ``shared["tabs"]`` when the Search tab put them there).

    Returns:
        No collection hook (the map follows the collection dropdown itself, so a change never
        races with the page's hook), and the wiring of "Run analysis".
    """
    import gradio as gr

    session, settings, collection, guard = ctx.session, ctx.settings, ctx.collection, ctx.guard
    maps = mapview.Maps(session, cache=mapview.cache_dir())
    webmap.serve_folder(maps.registry)
    exports = Path(tempfile.mkdtemp(prefix="embedscope-export-"))
    gr.set_static_paths([exports])
    find_similar = ctx.shared.get("find_similar")

    def point_info(query: dict) -> dict:
        # Called by the map on hover with {"token": …, "row": …} (one argument: Gradio's rule).
        return maps.point_info(str(query.get("token")), int(query.get("row", -1)))

    def put_selection(payload: dict) -> dict:
        # The map hands its selection over here first, then triggers 'selection': Gradio may
        # run a queued event with an earlier trigger's data, the store here is always the latest.
        return maps.put_selection(payload)

    with gr.Tab("Explore", id="explore"):
        with gr.Row():
            projection = gr.Dropdown(label="Map", choices=[], elem_id="projection")
            colour_by = gr.Dropdown(label="Colour by", choices=[], elem_id="colour-by")
            highlight = gr.Dropdown(label="Highlight", choices=[explore.NONE],
                                    value=explore.NONE, elem_id="highlight")
        with gr.Row():
            show_map = gr.Button("Show map (reload)", variant="primary", elem_id="show-map")
            analyse = gr.Button("Run analysis (fast: "
                                f"{settings.analysis_projections} + "
                                f"{settings.analysis_clusterers})", elem_id="run-analysis")
        map_note = gr.Markdown(elem_id="map-note")
        gr.Markdown("Wheel: zoom · drag: pan · **Lasso** / **Box** (or shift-drag): select · "
                    "**Add** / **Subtract** (or hold Ctrl / Alt): change the selection · "
                    "double-click or Esc: clear · hover: the image.", elem_id="map-help")
        the_map = webmap.block([point_info, put_selection], elem_id="webmap")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    prev_page = gr.Button("◀ Previous", size="sm", elem_id="selection-prev")
                    page_note = gr.Markdown(sel.page_tiles(session, None)[1],
                                            elem_id="selection-info")
                    next_page = gr.Button("Next ▶", size="sm", elem_id="selection-next")
                gallery = gr.Gallery(label="Selected images (click one to find similar)",
                                     columns=8, height="auto", object_fit="contain",
                                     elem_id="map-selection")
                with gr.Row():
                    similar = gr.Button("Find similar", visible=False, elem_id="map-find-similar")
                    clicked_note = gr.Markdown(elem_id="clicked-point")
            with gr.Column(scale=1):
                counts = gr.Markdown(elem_id="selection-counts")
                tag_name = gr.Textbox(label="Tag", placeholder="e.g. review",
                                      elem_id="tag-name")
                tag_button = gr.Button("Tag selection", elem_id="tag-selection")
                tag_note = gr.Markdown(elem_id="tag-note")
                export_format = gr.Radio(list(sel.FORMATS), value=sel.FORMATS[0],
                                         label="Export format", elem_id="export-format")
                export_button = gr.Button("Export selection", elem_id="export-selection")
                export_file = gr.File(label="Export", interactive=False, elem_id="export-file")
        view = gr.State(None)
        chosen = gr.State(None)
        picked = gr.State(None)

    def shown(v: webmap.MapView | None, note: str | None = None) -> dict:
        out: dict = {view: v, the_map: maps.descriptor(v)}
        if note is not None:
            out[map_note] = note
        return out

    def pickers(v: webmap.MapView | None, projections: list[str]) -> dict:
        colourings = maps.colourings(v)
        groups = maps.groups(v)
        return {
            projection: gr.update(choices=projections,
                                  value=v.projection if v and v.token else
                                  (projections[0] if projections else None)),
            colour_by: gr.update(choices=colourings,
                                 value=v.colour_by if v and v.token else None),
            highlight: gr.update(choices=[explore.NONE, *groups],
                                 value=v.highlight if v else explore.NONE),
        }

    def cleared() -> dict:
        tiles, line = sel.page_tiles(session, None)
        return {chosen: None, gallery: tiles, page_note: line, counts: "", picked: None,
                similar: gr.update(visible=False), clicked_note: "", tag_note: "",
                export_file: None}

    @guard
    def follow(name: str | None, current: webmap.MapView | None, proj: str | None) -> dict:
        # The collection changed (page load, the dropdown, Reload): show its map or a hint.
        v, projections, note = maps.open(name, proj, current, reload=False)
        return {**shown(v, note), **pickers(v, projections), **cleared()}

    @guard
    def reload_map(name: str | None, current: webmap.MapView | None, proj: str | None) -> dict:
        v, projections, note = maps.open(name, proj, current, reload=True)
        return {**shown(v, note), **pickers(v, projections), **cleared()}

    @guard
    def restyle(v: webmap.MapView | None, colour: str | None, light: str | None) -> dict:
        if v is None or v.token is None:
            return {}
        v = maps.restyle(v, colour, light)
        return {**shown(v), highlight: gr.update(choices=[explore.NONE, *maps.groups(v)],
                                                 value=v.highlight)}

    @guard
    def on_selection(v: webmap.MapView | None, evt: gr.EventData) -> dict:
        if v is None or v.token is None:
            raise usage("no map shown: choose a collection with a map first.")
        s = maps.select(v, getattr(evt, "_data", None))
        tiles, line = sel.page_tiles(session, s)
        return {**cleared(), chosen: s, gallery: tiles, page_note: line,
                counts: sel.counts_markdown(s)}

    @guard
    def turn(s: sel.Selection | None, step: int) -> dict:
        s = sel.turn(s, step)
        tiles, line = sel.page_tiles(session, s)
        return {chosen: s, gallery: tiles, page_note: line, picked: None,
                similar: gr.update(visible=False), clicked_note: ""}

    @guard
    def on_click(s: sel.Selection | None, evt: gr.SelectData) -> dict:
        point = sel.clicked_id(s, evt.index)
        caption = evt.value.get("caption") if isinstance(evt.value, dict) else None
        return {picked: point, similar: gr.update(visible=find_similar is not None),
                clicked_note: f"`{point}` · {caption or ''}" + (
                    "" if find_similar is not None else " (search by it in the Search tab: "
                    "pick 'by id')")}

    @guard
    def tag(v: webmap.MapView | None, s: sel.Selection | None, text: str) -> dict:
        if v is None or v.token is None:
            raise usage("no map shown: choose a collection with a map first.")
        v, note = maps.tag(v, s, text)
        return {**shown(v), tag_note: note,
                colour_by: gr.update(choices=maps.colourings(v), value=v.colour_by),
                highlight: gr.update(choices=[explore.NONE, *maps.groups(v)], value=v.highlight)}

    @guard
    def export(s: sel.Selection | None, fmt: str) -> dict:
        return {export_file: str(sel.export(session, s, fmt, exports))}

    outputs_all = [view, the_map, map_note, projection, colour_by, highlight, chosen, gallery,
                   page_note, counts, picked, similar, clicked_note, tag_note, export_file,
                   ctx.status]
    collection.change(follow, [collection, view, projection], outputs_all)
    show_map.click(reload_map, [collection, view, projection], outputs_all)
    projection.input(reload_map, [collection, view, projection], outputs_all)
    restyle_outputs = [view, the_map, highlight, ctx.status]
    colour_by.input(restyle, [view, colour_by, highlight], restyle_outputs,
                    trigger_mode="always_last")
    highlight.input(restyle, [view, colour_by, highlight], restyle_outputs,
                    trigger_mode="always_last")
    selection_outputs = [chosen, gallery, page_note, counts, picked, similar, clicked_note,
                         tag_note, export_file, ctx.status]
    # always_last: a selection made while the previous one is served is not lost
    the_map.selection(on_selection, [view], selection_outputs, trigger_mode="always_last")
    prev_page.click(lambda s: turn(s, -1), [chosen], selection_outputs)
    next_page.click(lambda s: turn(s, 1), [chosen], selection_outputs)
    gallery.select(on_click, [chosen], [picked, similar, clicked_note, ctx.status])
    tag_button.click(tag, [view, chosen, tag_name],
                     [view, the_map, tag_note, colour_by, highlight, ctx.status])
    export_button.click(export, [chosen, export_format], [export_file, ctx.status])

    if find_similar is not None:
        def pivot(point: str | None) -> Any:
            if not point:
                return gr.update()
            return sel.find_similar_value(point)

        similar.click(pivot, [picked], [find_similar])

    search_result = ctx.shared.get("search_result")
    if search_result is not None:
        @guard
        def mark(v: webmap.MapView | None, result: dict | None) -> dict:
            # The banner stays as it is: this follows every search, including a refused one
            # whose message the banner is showing.
            keep = {ctx.status: gr.update()}
            if v is None or v.token is None:
                return keep
            return {**shown(maps.mark(v, result)), **keep}

        search_result.change(mark, [view, search_result], [view, the_map, ctx.status],
                             trigger_mode="always_last")

    def wire(sync: CollectionSync) -> None:
        @guard
        def run_analysis(name: str) -> dict:
            if not name:
                raise usage("choose a collection first.")
            with session.store() as s:
                note = reports.run_quick(s, name, settings)
            session.forget(name)
            maps.forget(name)
            out = sync.values(name)
            out[map_note] = note
            return out

        analyse.click(run_analysis, collection, [*sync.outputs, map_note]).then(
            reload_map, [collection, view, projection], outputs_all)

    return TabHandles(outputs=[], on_collection=None, wire=wire)
