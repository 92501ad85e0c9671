"""The Gradio page: components and wiring only; decisions live in ui.service, explore, report."""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# (gr.SelectData) at run time, and `gr` is imported inside build_app.

import functools
from collections.abc import Callable
from typing import Any

from search.errors import EmbedscopeError
from ui import explore
from ui import report as reports
from ui.config import UISettings
from ui.images import MB
from ui.service import ALL, PICK_MODES, Session

CSS = """
#status p { color: #b42318; font-weight: 600; }
#prediction h3 { margin: 0.2em 0; }
"""


def guarded(status: Any) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """The one place the page turns an EmbedscopeError into a message.

    The handler returns ``{component: value}``; on an EmbedscopeError only ``status`` changes
    (to the message, also raised as a toast) and the page keeps serving.
    """
    import gradio as gr

    def wrap(fn: Callable[..., dict]) -> Callable[..., dict]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> dict:
            try:
                out = fn(*args, **kwargs)
            except EmbedscopeError as exc:
                gr.Warning(str(exc))
                return {status: "⚠️ " + _escape(str(exc))}
            out.setdefault(status, "")
            return out

        return inner

    return wrap


def _escape(text: str) -> str:
    """Text shown literally in Markdown (file names and settings often hold _ and *)."""
    return "".join("\\" + c if c in "\\`*_{}[]<>#|" else c for c in text)


def _bar_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame({"class": pd.Series([r["class"] for r in rows], dtype="string"),
                          "share": pd.Series([r["share"] for r in rows], dtype="float64")})
    return frame  # typed even when empty: the plot's y axis stays quantitative


def build_app(session: Session | None = None, settings: UISettings | None = None) -> Any:
    """The page as a gr.Blocks (not launched).

    Args:
        session: The store and model session to use (default: one from ``settings``).
        settings: UI settings (default: from EMBEDSCOPE_UI_* variables).
    """
    import gradio as gr

    settings = settings or (session.settings if session else UISettings())
    session = session or Session(settings)

    with gr.Blocks(title="embedscope", analytics_enabled=False) as demo:
        gr.Markdown("# embedscope\nSearch an image collection by image, classify with k-NN, "
                    "explore its embedding map and read its analysis report.")
        with gr.Row():
            collection = gr.Dropdown(label="Collection", choices=[], scale=3,
                                     elem_id="collection")
            reload = gr.Button("Reload collections", scale=1)
        info = gr.Markdown(elem_id="collection-info")
        status = gr.Markdown(elem_id="status")
        guard = guarded(status)

        with gr.Tab("Search", id="search"):
            with gr.Row():
                with gr.Column(scale=1):
                    query_file = gr.File(label="Query image: upload or drop a file "
                                         f"(up to {settings.max_upload_mb:g} MB)",
                                         file_types=None, type="filepath",
                                         elem_id="query-file")
                    query_image = gr.Image(label="…or paste / drop an image", type="filepath",
                                           sources=["upload", "clipboard"], height=200,
                                           elem_id="query-image")
                    with gr.Accordion("…or use a stored image", open=False):
                        pick_mode = gr.Radio(list(PICK_MODES), value=PICK_MODES[0],
                                             label="Pick")
                        pick_class = gr.Dropdown(label="Class", choices=[])
                        pick_id = gr.Textbox(label="Point id")
                        pick = gr.Button("Search with a stored image", elem_id="pick")
                    k = gr.Slider(1, settings.max_k, value=min(settings.k, settings.max_k),
                                  step=1, label="k (neighbours and voters)", elem_id="k")
                    with gr.Row():
                        split = gr.Dropdown(label="Split", choices=[ALL], value=ALL)
                        label = gr.Dropdown(label="Class filter", choices=[ALL], value=ALL)
                    search = gr.Button("Search", variant="primary", elem_id="search-button")
                with gr.Column(scale=2):
                    with gr.Row():
                        query_preview = gr.Image(label="Query", interactive=False, height=180,
                                                 scale=1)
                        with gr.Column(scale=2):
                            prediction = gr.Markdown(elem_id="prediction")
                            votes = gr.BarPlot(_bar_frame([]), x="class", y="share",
                                               title="k-NN vote shares", y_lim=[0, 1],
                                               sort="-y", y_aggregate="sum", height=220,
                                               elem_id="votes")
                    neighbours = gr.Gallery(label="Neighbours", columns=5, height="auto",
                                            object_fit="contain", elem_id="neighbours")
            last = gr.State(None)

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

        with gr.Tab("Report", id="report") as report_tab:
            load_report = gr.Button("Load the latest report", elem_id="load-report")
            summary = gr.Markdown(elem_id="report-summary")
            plots = gr.Gallery(label="Figures", columns=2, height="auto",
                               object_fit="contain", elem_id="report-plots")
            errors = gr.Gallery(label="Likely label errors", columns=8, height="auto",
                                object_fit="contain", elem_id="label-errors")
            dups = gr.Gallery(label="Near-duplicate pairs", columns=8, height="auto",
                              object_fit="contain", elem_id="duplicates")
            html = gr.File(label="report.html", elem_id="report-html")

        # --- collection ----------------------------------------------------------------------
        def collection_outputs(name: str | None) -> dict:
            if not name:
                return {info: "No collection yet: run `embedscope ingest --dataset …` first.",
                        projection: gr.update(choices=[], value=None),
                        colour_by: gr.update(choices=[], value=None)}
            classes = session.class_names(name)
            with session.store() as s:
                maps, clusters = explore.available(s, name)
            colourings = (["label"] if classes else []) + clusters
            return {
                info: session.describe(name),
                split: gr.update(choices=[ALL, *session.splits(name)], value=ALL),
                label: gr.update(choices=[ALL, *classes], value=ALL),
                pick_class: gr.update(choices=classes, value=classes[0] if classes else None),
                projection: gr.update(choices=maps, value=maps[0] if maps else None),
                colour_by: gr.update(choices=colourings,
                                     value=colourings[0] if colourings else None),
                map_note: "" if maps else "No map stored yet: press **Run analysis**.",
                view: None, map_image: None, picked: [],
            }

        every_collection_output = [info, split, label, pick_class, projection, colour_by,
                                   map_note, view, map_image, picked, status]

        @guard
        def refresh() -> dict:
            names = session.collections()
            chosen = session.default_collection(names)
            out = {collection: gr.update(choices=names, value=chosen)}
            return {**collection_outputs(chosen), **out}

        @guard
        def on_collection(name: str | None) -> dict:
            return collection_outputs(name)

        demo.load(refresh, None, [collection, *every_collection_output])
        reload.click(refresh, None, [collection, *every_collection_output])
        collection.input(on_collection, collection, every_collection_output)

        # --- search --------------------------------------------------------------------------
        search_outputs = [query_preview, prediction, votes, neighbours, last, status]

        def shown(result: Any, query: Any) -> dict:
            return {query_preview: result.query, prediction: result.prediction,
                    votes: _bar_frame(result.votes), neighbours: result.gallery, last: query}

        @guard
        def search_path(name: str, path: str | None, kk: float, sp: str, lb: str) -> dict:
            if not path:
                return {}
            return shown(session.search_upload(name, path, int(kk), sp, lb), path)

        @guard
        def search_again(name: str, query: str | None, kk: float, sp: str, lb: str) -> dict:
            if not query:
                raise _usage("no query yet: upload, paste or pick an image first.")
            if query.startswith("point:"):
                point = query.removeprefix("point:")
                return shown(session.search_point(name, point, int(kk), sp, lb), query)
            return shown(session.search_upload(name, query, int(kk), sp, lb), query)

        @guard
        def search_stored(name: str, mode: str, cls: str, pid: str, kk: float, sp: str,
                          lb: str) -> dict:
            point = session.pick_point(name, mode, pid if mode == "by id" else cls)
            return {**shown(session.search_point(name, point, int(kk), sp, lb), f"point:{point}"),
                    pick_id: point}

        filters = [k, split, label]
        query_file.upload(search_path, [collection, query_file, *filters], search_outputs)
        query_image.input(search_path, [collection, query_image, *filters], search_outputs)
        search.click(search_again, [collection, last, *filters], search_outputs)
        pick.click(search_stored, [collection, pick_mode, pick_class, pick_id, *filters],
                   [*search_outputs, pick_id])

        # --- explore -------------------------------------------------------------------------
        map_outputs = [view, map_image, map_note, highlight, picked, status]

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
                raise _usage("no map stored for this collection yet: press 'Run analysis'.")
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
                raise _usage("press 'Show map' first.")
            px, py = evt.index
            rows, note = explore.click(v, float(px), float(py), mode, settings.pick_points)
            tiles = session.thumbnails(v.data.collection, [v.data.ids[r] for r in rows])
            return drawn(v, note, tiles if rows else [])

        @guard
        def run_analysis(name: str) -> dict:
            if not name:
                raise _usage("choose a collection first.")
            with session.store() as s:
                note = reports.run_quick(s, name, settings)
            session.forget(name)
            out = collection_outputs(name)
            out[map_note] = note
            return out

        show_map.click(open_map, [collection, projection, colour_by], map_outputs)
        projection.input(open_map, [collection, projection, colour_by], map_outputs)
        colour_by.input(restyle, [view, colour_by, highlight], map_outputs)
        highlight.input(restyle, [view, colour_by, highlight], map_outputs)
        map_image.select(on_click, [view, click_mode], map_outputs)
        analyse.click(run_analysis, collection, every_collection_output).then(
            open_map, [collection, projection, colour_by], map_outputs)

        # --- report --------------------------------------------------------------------------
        @guard
        def show_report(name: str) -> dict:
            from PIL import Image

            if not name:
                raise _usage("choose a collection first.")
            with session.store() as s:
                r = reports.load(s, name)
            return {
                summary: r.summary,
                plots: [(Image.open(p).convert("RGB"), cap) for p, cap in r.plots],
                errors: session.thumbnails(name, [i for i, _ in r.label_errors],
                                           dict(r.label_errors)),
                dups: _pair_tiles(session, name, r.duplicates),
                html: reports.downloadable(r.html, name),
            }

        report_outputs = [summary, plots, errors, dups, html, status]
        load_report.click(show_report, collection, report_outputs)
        report_tab.select(show_report, collection, report_outputs)

    return demo


def _pair_tiles(session: Session, name: str, captions: list[tuple[str, str]]) -> list:
    """Tiles of duplicate pairs in order (the same point may appear in several pairs)."""
    found = session.tiles_by_id(name, [i for i, _ in captions])
    return [(found[i][0], f"{cap} · {found[i][1]}") for i, cap in captions if i in found]


def _usage(message: str) -> EmbedscopeError:
    from search.errors import UsageError

    return UsageError(message)


def launch(settings: UISettings | None = None, session: Session | None = None,
           block: bool = True) -> Any:
    """Build and serve the page on settings.host:settings.port (never shared unless asked)."""
    settings = settings or UISettings()
    demo = build_app(session or Session(settings), settings)
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=settings.host, server_port=settings.port, auth=settings.credentials(),
        share=settings.share, max_file_size=int(settings.max_upload_mb * MB), show_error=True,
        prevent_thread_lock=not block, quiet=not block, css=CSS,
    )
    return demo
