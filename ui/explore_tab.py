"""The Explore tab: the stored embedding map, its colourings, clicks and the quick analysis."""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# (gr.SelectData) at run time, and `gr` is imported inside build.

from embedscope.ui import explore
from embedscope.ui import report as reports
from embedscope.ui.tabs import CollectionSync, TabContext, TabHandles, usage


def build(ctx: TabContext) -> TabHandles:
    """Lay out the Explore tab and wire its events.

    Args:
        ctx: The page's shared context.

    Returns:
        The map pickers and the map a collection change resets, and the wiring of "Run
        analysis" (which refreshes the whole page's view of the collection).
    """
    import gradio as gr

    session, settings, collection, guard = ctx.session, ctx.settings, ctx.collection, ctx.guard

    with gr.Tab("Explore", id="explore"):
        with gr.Row():
            projection = gr.Dropdown(label="Map", choices=[], elem_id="projection")
            colour_by = gr.Dropdown(label="Colour by", choices=[], elem_id="colour-by")
            highlight = gr.Dropdown(label="Highlight", choices=[explore.NONE],
                                    value=explore.NONE, elem_id="highlight")
            click_mode = gr.Radio(list(explore.CLICK_MODES), value=explore.CLICK_MODES[0],
                                  label="A click on the map selects")
        with gr.Row():
            show_map = gr.Button("Show map", variant="primary", elem_id="show-map")
            analyse = gr.Button("Run analysis (fast: "
                                f"{settings.analysis_projections} + "
                                f"{settings.analysis_clusterers})", elem_id="run-analysis")
        map_note = gr.Markdown(elem_id="map-note")
        map_image = gr.Image(label="Embedding map (click a point, or two corners)",
                             interactive=False, elem_id="map", height=640)
        picked = gr.Gallery(label="Selected images", columns=8, height="auto",
                            object_fit="contain", elem_id="map-selection")
        view = gr.State(None)

    def on_collection(name: str | None) -> dict:
        if not name:
            return {projection: gr.update(choices=[], value=None),
                    colour_by: gr.update(choices=[], value=None)}
        classes = session.class_names(name)
        with session.store() as s:
            maps, clusters = explore.available(s, name)
        colourings = (["label"] if classes else []) + clusters
        return {
            projection: gr.update(choices=maps, value=maps[0] if maps else None),
            colour_by: gr.update(choices=colourings,
                                 value=colourings[0] if colourings else None),
            map_note: "" if maps else "No map stored yet: press **Run analysis**.",
            view: None, map_image: None, picked: [],
        }

    map_outputs = [view, map_image, map_note, highlight, picked, ctx.status]

    def drawn(v: explore.MapView, note: str, tiles: list | None = None) -> dict:
        values, names = v.data.groups(v.colour_by)
        del values
        out = {view: v, map_image: explore.render(v), map_note: note,
               highlight: gr.update(choices=[explore.NONE, *names.values()],
                                    value=v.highlight)}
        if tiles is not None:
            out[picked] = tiles
        return out

    @guard
    def open_map(name: str, proj: str | None, colour: str | None) -> dict:
        if not proj:
            raise usage("no map stored for this collection yet: press 'Run analysis'.")
        with session.store() as s:
            data = explore.load_map(s, name, proj, settings.map_points)
        v = explore.MapView(data, colour or (data.colourings() or [explore.NONE])[0])
        return drawn(v, f"{data.n:,} points. Click a point to see its neighbours on the map, "
                        "or switch to region mode and click two corners.", [])

    @guard
    def restyle(v: explore.MapView | None, colour: str | None, light: str | None) -> dict:
        if v is None:
            return {}
        v.colour_by = colour or explore.NONE
        _, names = v.data.groups(v.colour_by)
        v.highlight = str(light) if light in names.values() else explore.NONE
        if v.highlight == explore.NONE:
            return drawn(v, "")
        rows, total = explore.group_rows(v, v.highlight, settings.pick_points)
        v.selected = []
        tiles = session.thumbnails(v.data.collection, [v.data.ids[r] for r in rows])
        return drawn(v, f"**{v.highlight}**: {total} points; showing {len(rows)}.", tiles)

    @guard
    def on_click(v: explore.MapView | None, mode: str, evt: gr.SelectData) -> dict:
        if v is None:
            raise usage("press 'Show map' first.")
        px, py = evt.index
        rows, note = explore.click(v, float(px), float(py), mode, settings.pick_points)
        tiles = session.thumbnails(v.data.collection, [v.data.ids[r] for r in rows])
        return drawn(v, note, tiles if rows else [])

    map_inputs = [collection, projection, colour_by]
    show_map.click(open_map, map_inputs, map_outputs)
    projection.input(open_map, map_inputs, map_outputs)
    colour_by.input(restyle, [view, colour_by, highlight], map_outputs)
    highlight.input(restyle, [view, colour_by, highlight], map_outputs)
    map_image.select(on_click, [view, click_mode], map_outputs)

    def wire(sync: CollectionSync) -> None:
        @guard
        def run_analysis(name: str) -> dict:
            if not name:
                raise usage("choose a collection first.")
            with session.store() as s:
                note = reports.run_quick(s, name, settings)
            session.forget(name)
            out = sync.values(name)
            out[map_note] = note
            return out

        analyse.click(run_analysis, collection, sync.outputs).then(open_map, map_inputs,
                                                                   map_outputs)

    return TabHandles(outputs=[projection, colour_by, map_note, view, map_image, picked],
                      on_collection=on_collection, wire=wire)
