"""The Search tab: query by upload, paste or stored image; k-NN vote and neighbours."""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# at run time, and `gr` is imported inside build.

from typing import Any

from embedscope.ui.service import ALL, PICK_MODES
from embedscope.ui.tabs import TabContext, TabHandles, usage


def _bar_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame({"class": pd.Series([r["class"] for r in rows], dtype="string"),
                          "share": pd.Series([r["share"] for r in rows], dtype="float64")})
    return frame  # typed even when empty: the plot's y axis stays quantitative


def build(ctx: TabContext) -> TabHandles:
    """Lay out the Search tab and wire its events.

    Args:
        ctx: The page's shared context.

    Returns:
        The filters a collection change resets (split, class filter, class to pick from).
    """
    import gradio as gr

    session, settings, collection, guard = ctx.session, ctx.settings, ctx.collection, ctx.guard

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

    def on_collection(name: str | None) -> dict:
        if not name:
            return {}
        classes = session.class_names(name)
        return {
            split: gr.update(choices=[ALL, *session.splits(name)], value=ALL),
            label: gr.update(choices=[ALL, *classes], value=ALL),
            pick_class: gr.update(choices=classes, value=classes[0] if classes else None),
        }

    search_outputs = [query_preview, prediction, votes, neighbours, last, ctx.status]

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
            raise usage("no query yet: upload, paste or pick an image first.")
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

    return TabHandles(outputs=[split, label, pick_class], on_collection=on_collection)
