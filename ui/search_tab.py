"""The Search tab: query by upload, paste or stored image; k-NN vote and neighbours — its layout
and the wiring of its events to ui/search_handlers.py."""

from __future__ import annotations

import functools
from typing import Any

from embedscope.ui import search_handlers as h
from embedscope.ui.binding import bind
from embedscope.ui.service import ALL, PICK_MODES
from embedscope.ui.tabs import TabContext, TabHandles, register_tab

#: What a search writes (the results and the states behind them).
RESULTS = ("query_preview", "query_info", "prediction", "votes", "neighbours", "stale",
           "selected_id", "similar", "last", "searched", "search_result")
#: The k and the filters, in the order the handlers take them.
FILTERS = ("k", "split", "label", "tag")


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


@register_tab("search", place=10)
def build(ctx: TabContext) -> TabHandles:
    """Lay out the Search tab and wire its events.

    Args:
        ctx: The page's shared context (``shared["tabs"]`` and ``shared["find_similar"]`` must
            be there; this tab adds ``shared["search_result"]``).

    Returns:
        The components a collection change resets (filters, tags, results).
    """
    c = layout(ctx)
    ctx.shared["search_result"] = c["search_result"]
    wire_search(c, ctx)
    wire_results(c, ctx)
    return TabHandles(outputs=[c[n] for n in ("split", "label", "tag", "pick_class", "query_text",
                                              "text_button", *RESULTS)],
                      on_collection=bind(h.on_collection, c, ctx.session, guard=False))


def layout(ctx: TabContext) -> dict[str, Any]:
    """The tab's components by name (with the page's ``collection``, ``status`` and shared ones)."""
    import gradio as gr

    settings = ctx.settings
    c: dict[str, Any] = {"collection": ctx.collection, "status": ctx.status, **ctx.shared}
    with gr.Tab("Search", id="search") as c["tab"]:
        with gr.Row():
            with gr.Column(scale=1):
                c["query_file"] = gr.File(label="Query image: upload or drop a file "
                                          f"(up to {settings.max_upload_mb:g} MB)",
                                          file_types=None, type="filepath", elem_id="query-file")
                c["query_img"] = query_image(label="…or paste / drop an image",
                                             sources=["upload", "clipboard"], height=200,
                                             elem_id="query-image")
                with gr.Row():
                    c["query_text"] = gr.Textbox(label="…or describe it in words", scale=3,
                                                 placeholder="e.g. an ankle boot with laces",
                                                 visible=False, elem_id="query-text")
                    c["text_button"] = gr.Button("Search by text", visible=False, scale=1,
                                                 elem_id="text-search")
                c["refused"] = gr.Textbox(elem_id="upload-refused", elem_classes=["es-hidden"],
                                          show_label=False)
                with gr.Accordion("…or use a stored image", open=False):
                    c["pick_mode"] = gr.Radio(list(PICK_MODES), value=PICK_MODES[0], label="Pick")
                    c["pick_class"] = gr.Dropdown(label="Class", choices=[])
                    c["pick_id"] = gr.Textbox(label="Point id", elem_id="pick-id",
                                              placeholder="a UUID: select a result to copy its id")
                    c["pick"] = gr.Button("Search with a stored image", elem_id="pick")
                # A number box, not a slider: a k out of range gets the page's own message
                # (a slider's range check is Gradio's raw error with a server traceback). No
                # precision: Gradio would round 2.5 to 2; the handlers refuse it by name.
                c["k"] = gr.Number(value=min(settings.k, settings.max_k), precision=None,
                                   label=f"k (1–{settings.max_k}: neighbours and voters)",
                                   elem_id="k")
                with gr.Row():
                    c["split"] = gr.Dropdown(label="Split", choices=[ALL], value=ALL,
                                             elem_id="split-filter")
                    c["label"] = gr.Dropdown(label="Class filter", choices=[ALL], value=ALL,
                                             elem_id="class-filter")
                    c["tag"] = gr.Dropdown(label="Tag", choices=[ALL], value=ALL, elem_id="tag-filter")
                c["search"] = gr.Button("Search", variant="primary", elem_id="search-button")
            with gr.Column(scale=2):
                results_column(c)
        c["last"] = gr.State(None)  # the query: an upload's path or "point:<id>"
        c["searched"] = gr.State(None)  # the Filters the results on screen were made with
        c["search_result"] = gr.State(None)  # see TabContext.shared
    return c


def results_column(c: dict[str, Any]) -> None:
    """The query, the prediction and its votes, the neighbours and the selected one's id."""
    import gradio as gr

    with gr.Row():
        with gr.Column(scale=1):
            c["query_preview"] = gr.Image(label="Query", interactive=False, height=180)
            c["query_info"] = gr.Markdown(elem_id="query-info")
        with gr.Column(scale=2):
            c["prediction"] = gr.Markdown(elem_id="prediction")
            c["votes"] = gr.BarPlot(h.bar_frame([]), x="class", y="share",
                                    title="k-NN vote shares", y_lim=[0, 1], sort="-y",
                                    y_aggregate="sum", height=220, elem_id="votes")
    c["stale"] = gr.Markdown(elem_id="stale-note")
    # No preview mode: Gradio keeps a gallery's preview open across new values (new results
    # opened enlarged on the item selected before; one result filled the whole gallery).
    c["neighbours"] = gr.Gallery(label="Neighbours (select one to copy its id or find similar "
                                 "images)", columns=5, height="auto", object_fit="contain",
                                 allow_preview=False, elem_id="neighbours")
    with gr.Row():
        c["selected_id"] = gr.Textbox(label="Selected neighbour: point id", buttons=["copy"],
                                      interactive=False, scale=3, elem_id="selected-id")
        c["similar"] = gr.Button("Find similar", interactive=False, scale=1,
                                 elem_id="find-similar-button")


def _of(c: dict[str, Any], names: tuple[str, ...] | list[str]) -> list[Any]:
    return [c[n] for n in names]


def wire_search(c: dict[str, Any], ctx: TabContext) -> None:
    """Uploads, refused files, Search and the stored-image pick: each runs a search."""
    session, busy = ctx.session, [c["prediction"], c["neighbours"]]  # progress shows there
    outputs = _of(c, (*RESULTS, "tabs", "k", "status"))
    upload_outputs = [*outputs, c["query_file"], c["query_img"]]
    filters = _of(c, FILTERS)
    search_path = bind(h.search_path, c, session)
    c["query_file"].upload(search_path, [c["collection"], c["query_file"], *filters],
                           upload_outputs, show_progress_on=busy)
    c["query_img"].input(search_path, [c["collection"], c["query_img"], *filters],
                         upload_outputs, show_progress_on=busy)
    c["refused"].change(bind(h.refused_upload, c, ctx.settings.max_upload_mb, guard=False),
                        c["refused"], upload_outputs, show_progress_on=busy)
    c["search"].click(bind(h.search_again, c, session),
                      [c["collection"], c["last"], *filters, c["searched"]], outputs,
                      show_progress_on=busy)
    words = bind(h.search_words, c, session, guard=False)
    for trigger in (c["text_button"].click, c["query_text"].submit):
        trigger(words, [c["collection"], c["query_text"], *filters, c["searched"]], outputs,
                show_progress_on=busy)
    c["pick"].click(bind(h.search_stored, c, session, guard=False),
                    _of(c, ("collection", "pick_mode", "pick_class", "pick_id", *FILTERS,
                            "searched")),
                    [*outputs, c["pick_id"], c["query_file"], c["query_img"]],
                    show_progress_on=busy)


def wire_results(c: dict[str, Any], ctx: TabContext) -> None:
    """Selecting a neighbour, Find similar, requests of other tabs, stale marks and tags."""
    session, busy = ctx.session, [c["prediction"], c["neighbours"]]
    outputs, filters = _of(c, (*RESULTS, "tabs", "k", "status")), _of(c, FILTERS)
    # a stored query replaces an upload, and the Point id box shows it
    pivots = [*outputs, c["query_file"], c["query_img"], c["pick_id"]]
    c["neighbours"].select(bind(h.selected, c, guard=False), c["search_result"],
                           _of(c, ("selected_id", "similar")))
    c["similar"].click(bind(h.search_similar, c, session, guard=False),
                       [c["collection"], c["selected_id"], *filters, c["searched"]], pivots,
                       show_progress_on=busy)
    c["find_similar"].change(bind(h.requested, c, session, guard=False),
                             [c["collection"], c["find_similar"], *filters, c["searched"]],
                             pivots, show_progress_on=busy)
    for box in filters:
        box.input(bind(h.marked, c), [c["searched"], *filters], _of(c, ("stale", "status")),
                  show_progress="hidden")
    c["tab"].select(bind(h.refreshed_tags, c, session), _of(c, ("collection", "tag")),
                    _of(c, ("tag", "status")), show_progress="hidden")
