"""The Search tab: query by upload, paste or stored image; k-NN vote and neighbours."""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# at run time, and `gr` is imported inside build.

import functools
from collections.abc import Callable, Iterator
from typing import Any

from embedscope.ui.images import refusal
from embedscope.ui.service import ALL, PICK_MODES, Filters, similar_request, stale_note
from embedscope.ui.tabs import TabContext, TabHandles, usage

#: The prefix of a stored-point query in the ``last`` state (an upload is its file path).
POINT = "point:"


def _bar_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame({"class": pd.Series([r["class"] for r in rows], dtype="string"),
                          "share": pd.Series([r["share"] for r in rows], dtype="float64")})
    return frame  # typed even when empty: the plot's y axis stays quantitative


@functools.cache
def _query_image_class() -> type:
    """``gr.Image`` with a ``preprocess`` that hands over the uploaded file untouched.

    Made with ``ABCMeta.__new__`` rather than a class statement: Gradio's component metaclass
    writes a .pyi stub next to the module of every component subclass it creates, and nothing
    of what it adds is needed here (events, ``__init__`` and the frontend, via
    ``is_template``, all come from ``gr.Image``).
    """
    from abc import ABCMeta

    import gradio as gr

    def preprocess(self: Any, payload: Any) -> str | None:
        if payload is None:
            return None
        if payload.path is None and payload.url and payload.url.startswith("data:"):
            written = gr.Image.preprocess(self, payload)  # a pasted data URL: Gradio writes it
            return None if written is None else str(written)
        return str(payload.path)

    attrs = {"is_template": True, "preprocess": preprocess, "__module__": __name__,
             "__doc__": "An image box whose handler gets the raw upload path."}
    return ABCMeta.__new__(type(gr.Image), "QueryImage", (gr.Image,), attrs)


def query_image(**kwargs: Any) -> Any:
    """An image box whose upload reaches the handler as the raw file path.

    ``gr.Image`` opens every upload with PIL before the handler runs, so a non-image, an empty
    file or a decompression bomb ends in Gradio's raw error with server paths; this one hands
    the file over untouched and the page's own checks (the ingest decoder's) answer instead.
    """
    return _query_image_class()(type="filepath", image_mode=None, **kwargs)


def build(ctx: TabContext) -> TabHandles:
    """Lay out the Search tab and wire its events.

    Args:
        ctx: The page's shared context (``shared["tabs"]`` and ``shared["find_similar"]`` must
            be there; this tab adds ``shared["search_result"]``).

    Returns:
        The components a collection change resets (filters, tags, results).
    """
    import gradio as gr

    session, settings, collection, guard = ctx.session, ctx.settings, ctx.collection, ctx.guard
    status, tabs, find_similar = ctx.status, ctx.shared["tabs"], ctx.shared["find_similar"]

    with gr.Tab("Search", id="search") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                query_file = gr.File(label="Query image: upload or drop a file "
                                     f"(up to {settings.max_upload_mb:g} MB)",
                                     file_types=None, type="filepath",
                                     elem_id="query-file")
                query_img = query_image(label="…or paste / drop an image",
                                        sources=["upload", "clipboard"], height=200,
                                        elem_id="query-image")
                refused = gr.Textbox(elem_id="upload-refused", elem_classes=["es-hidden"],
                                     show_label=False)
                with gr.Accordion("…or use a stored image", open=False):
                    pick_mode = gr.Radio(list(PICK_MODES), value=PICK_MODES[0],
                                         label="Pick")
                    pick_class = gr.Dropdown(label="Class", choices=[])
                    pick_id = gr.Textbox(label="Point id", elem_id="pick-id",
                                         placeholder="a UUID: select a result to copy its id")
                    pick = gr.Button("Search with a stored image", elem_id="pick")
                k = gr.Slider(1, settings.max_k, value=min(settings.k, settings.max_k),
                              step=1, label="k (neighbours and voters)", elem_id="k")
                with gr.Row():
                    split = gr.Dropdown(label="Split", choices=[ALL], value=ALL,
                                        elem_id="split-filter")
                    label = gr.Dropdown(label="Class filter", choices=[ALL], value=ALL,
                                        elem_id="class-filter")
                    tag = gr.Dropdown(label="Tag", choices=[ALL], value=ALL,
                                      elem_id="tag-filter")
                search = gr.Button("Search", variant="primary", elem_id="search-button")
            with gr.Column(scale=2):
                with gr.Row():
                    with gr.Column(scale=1):
                        query_preview = gr.Image(label="Query", interactive=False, height=180)
                        query_info = gr.Markdown(elem_id="query-info")
                    with gr.Column(scale=2):
                        prediction = gr.Markdown(elem_id="prediction")
                        votes = gr.BarPlot(_bar_frame([]), x="class", y="share",
                                           title="k-NN vote shares", y_lim=[0, 1],
                                           sort="-y", y_aggregate="sum", height=220,
                                           elem_id="votes")
                stale = gr.Markdown(elem_id="stale-note")
                neighbours = gr.Gallery(label="Neighbours (select one to copy its id or find "
                                        "similar images)", columns=5, height="auto",
                                        object_fit="contain", elem_id="neighbours")
                with gr.Row():
                    selected_id = gr.Textbox(label="Selected neighbour: point id",
                                             buttons=["copy"], interactive=False, scale=3,
                                             elem_id="selected-id")
                    similar = gr.Button("Find similar", interactive=False, scale=1,
                                        elem_id="find-similar-button")
        last = gr.State(None)  # the query: an upload's path or "point:<id>"
        searched = gr.State(None)  # the Filters the results on screen were made with
        search_result = gr.State(None)  # see TabContext.shared
    ctx.shared["search_result"] = search_result

    results = [query_preview, query_info, prediction, votes, neighbours, stale, selected_id,
               similar, last, searched, search_result]
    cleared = {query_preview: None, query_info: "", prediction: "", votes: _bar_frame([]),
               neighbours: [], stale: "", selected_id: "", similar: gr.update(interactive=False),
               last: None, searched: None, search_result: None}
    search_outputs = [*results, tabs, status]

    def on_collection(name: str | None) -> dict:
        out: dict = dict(cleared)
        if not name:
            return out
        session.forget(name)
        classes = session.class_names(name)
        return {
            **out,
            split: gr.update(choices=[ALL, *session.splits(name)], value=ALL),
            label: gr.update(choices=[ALL, *classes], value=ALL),
            tag: gr.update(choices=[ALL, *session.tags(name)], value=ALL),
            pick_class: gr.update(choices=classes, value=classes[0] if classes else None),
        }

    def clearing(fn: Callable[..., dict], upload: bool = False) -> Callable[..., dict]:
        """``guard``, and on an error the results on screen go (they are for another query).

        With ``upload`` (the handler of a new upload), the upload boxes are emptied and the
        previous query forgotten too: Search must not quietly re-run the image before.
        """
        guarded = guard(fn)
        gone = {query_file: None, query_img: None} if upload else {last: gr.update()}

        @functools.wraps(fn)
        def inner(*args: Any) -> dict:
            out = guarded(*args)
            return {**cleared, **gone, **out} if out.get(status) else out

        return inner

    def run(name: str, query: str | None, kk: float, sp: str, lb: str, tg: str) -> dict:
        if not name:
            raise usage("choose a collection first.")
        if not query:
            raise usage("no query yet: upload, paste or pick an image first.")
        if query.startswith(POINT):
            result = session.search_point(name, query.removeprefix(POINT), int(kk), sp, lb, tg)
        else:
            result = session.search_upload(name, query, int(kk), sp, lb, tg)
        return {
            **cleared, query_preview: result.query, prediction: result.prediction,
            query_info: f"**Query:** {result.query_caption}" if result.query_id else "",
            votes: _bar_frame(result.votes), neighbours: result.gallery, last: query,
            searched: Filters.of(kk, sp, lb, tg), search_result: result.linked(name),
        }

    def searching(name: str, query: str | None, *filters: Any,
                  upload: bool = False) -> Iterator[dict]:
        """Search, saying first when the query model has to be loaded (seconds, once)."""
        if query and not query.startswith(POINT):
            loading = guard(lambda: {status: _loading_note(session.model_to_load(name))})()
            if loading[status] and session.usable_upload(query):  # else: refused at once
                yield loading
        yield clearing(run, upload)(name, query, *filters)

    filters: list[Any] = [k, split, label, tag]

    def search_path(name: str, path: str | None, kk: float, sp: str, lb: str,
                    tg: str) -> Iterator[dict]:
        if path:
            yield from searching(name, path, kk, sp, lb, tg, upload=True)

    def search_again(name: str, query: str | None, kk: float, sp: str, lb: str,
                     tg: str) -> Iterator[dict]:
        yield from searching(name, query, kk, sp, lb, tg)

    def search_stored(name: str, mode: str, cls: str, pid: str, kk: float, sp: str, lb: str,
                      tg: str) -> dict:
        def pick_and_run() -> dict:
            point = session.pick_point(name, mode, pid if mode == "by id" else cls)
            return {**run(name, POINT + point, kk, sp, lb, tg), pick_id: point}

        return clearing(pick_and_run)()

    def refuse(message: str, upload: bool = False) -> dict:
        def fail() -> dict:
            raise usage(message)

        return clearing(fail, upload)()

    def search_similar(name: str, point: str, kk: float, sp: str, lb: str, tg: str) -> dict:
        if not point:
            return refuse("select a neighbour first, then press Find similar.")
        return clearing(run)(name, POINT + point, kk, sp, lb, tg)

    def requested(name: str, value: str | None, kk: float, sp: str, lb: str, tg: str) -> dict:
        point = similar_request(value)
        if point is None:
            return {}
        return {**clearing(run)(name, POINT + point, kk, sp, lb, tg),
                tabs: gr.Tabs(selected="search")}

    def selected(linked: dict | None, evt: gr.SelectData) -> dict:
        ids = (linked or {}).get("neighbour_ids") or []
        index = evt.index if isinstance(evt.index, int) else None
        if index is None or not 0 <= index < len(ids):
            return {selected_id: "", similar: gr.update(interactive=False)}
        return {selected_id: ids[index], similar: gr.update(interactive=True)}

    @guard
    def marked(old: Filters | None, kk: float, sp: str, lb: str, tg: str) -> dict:
        return {stale: stale_note(old, Filters.of(kk, sp, lb, tg))}

    @guard
    def refreshed_tags(name: str | None, current: str | None) -> dict:
        if not name:
            return {}
        session.forget(name)
        choices = [ALL, *session.tags(name)]
        return {tag: gr.update(choices=choices, value=current if current in choices else ALL)}

    def refused_upload(raw: str | None) -> dict:
        message = refusal(raw, settings.max_upload_mb)
        return {} if message is None else refuse(message, upload=True)

    upload_outputs = [*search_outputs, query_file, query_img]
    busy = [prediction, neighbours]  # progress shows there, not on the status banner
    query_file.upload(search_path, [collection, query_file, *filters], upload_outputs,
                      show_progress_on=busy)
    query_img.input(search_path, [collection, query_img, *filters], upload_outputs,
                    show_progress_on=busy)
    refused.change(refused_upload, refused, upload_outputs, show_progress_on=busy)
    search.click(search_again, [collection, last, *filters], search_outputs,
                 show_progress_on=busy)
    pick.click(search_stored, [collection, pick_mode, pick_class, pick_id, *filters],
               [*search_outputs, pick_id], show_progress_on=busy)
    neighbours.select(selected, search_result, [selected_id, similar])
    similar.click(search_similar, [collection, selected_id, *filters], search_outputs,
                  show_progress_on=busy)
    find_similar.change(requested, [collection, find_similar, *filters], search_outputs,
                        show_progress_on=busy)
    for box in filters:
        box.input(marked, [searched, *filters], [stale, status], show_progress="hidden")
    tab.select(refreshed_tags, [collection, tag], [tag, status], show_progress="hidden")

    return TabHandles(outputs=[split, label, tag, pick_class, *results],
                      on_collection=on_collection)


def _loading_note(model: str | None) -> str:
    return "" if model is None else f"⏳ Loading the query model `{model}` (first query only) …"
