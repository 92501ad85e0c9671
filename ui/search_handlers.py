"""The Search tab's event handlers: values in, ``{component name: value}`` out.

Each takes the page's session first (bound by ui/search_tab.py), then the event's inputs; the
filters arrive as ``k, split, label, tag``. ui/binding.py ``bind`` turns each into a Gradio handler.
Output names are the tab's component names (see ui/search_tab.py ``layout``); ``"status"`` is the
page's banner, ``"tabs"`` the page's tab set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from embedscope.errors import UsageError
from embedscope.ui.binding import STATUS, Selected, code, escape, gallery, guarded, update, usage
from embedscope.ui.images import refusal
from embedscope.ui.service import ALL, Filters, Session, similar_request, stale_note
from embedscope.ui.text_search import search_text, text_space

#: The prefix of a stored-point query in the ``last`` state (an upload is its file path).
POINT = "point:"
#: The prefix of a query by words in the ``last`` state.
TEXT = "text:"


def bar_frame(rows: list[dict[str, Any]]) -> Any:
    """The vote shares as the bar plot's frame (typed even when empty: the y axis stays
    quantitative)."""
    import pandas as pd

    return pd.DataFrame({"class": pd.Series([r["class"] for r in rows], dtype="string"),
                         "share": pd.Series([r["share"] for r in rows], dtype="float64")})


def cleared() -> dict:
    """No results: what a new collection, a refused query or an error leaves on screen."""
    return {"query_preview": None, "query_info": "", "prediction": "", "votes": bar_frame([]),
            "neighbours": gallery([]), "stale": "", "selected_id": "",
            "similar": update(interactive=False), "last": None, "searched": None,
            "search_result": None}


def k_refused(session: Session, kk: Any, old: Filters | None) -> dict | None:
    """None when k is within 1..max_k; else the page's message, and the box back to the k of the
    results on screen (which stay: they are still right for that k)."""
    import gradio as gr

    try:
        session.check_k(kk)
    except UsageError as exc:
        gr.Warning(str(exc))
        settings = session.settings
        k = old.k if old is not None else min(settings.k, settings.max_k)
        return {"k": k, "stale": "", STATUS: "⚠️ " + escape(str(exc))}
    return None


def on_collection(session: Session, name: str | None) -> dict:
    """The tab's part of a collection change: its filters and classes, no results."""
    out = cleared()
    if not name:
        return out
    session.forget(name)
    classes = session.class_names(name)
    words = text_space(session, name) is not None
    return {
        **out,
        "query_text": update(visible=words, value=""),
        "text_button": update(visible=words),
        "split": update(choices=[ALL, *session.splits(name)], value=ALL),
        "label": update(choices=[ALL, *classes], value=ALL),
        "tag": update(choices=[ALL, *session.tags(name)], value=ALL),
        "pick_class": update(choices=classes, value=classes[0] if classes else None),
    }


def clearing(fn: Callable[..., dict], *args: Any, upload: bool = False) -> dict:
    """``fn(*args)`` guarded; on an error the results on screen go (they are for another query).

    With ``upload`` (the handler of a new upload), the upload boxes are emptied and the previous
    query forgotten too: Search must not quietly re-run the image before.
    """
    out = guarded(STATUS)(fn)(*args)
    if not out.get(STATUS):
        return out
    gone = {"query_file": None, "query_img": None} if upload else {"last": update()}
    return {**cleared(), **gone, **out}


def run(session: Session, name: str, query: str | None, kk: float, sp: str, lb: str,
        tg: str) -> dict:
    """Search by ``query`` (an upload's path or ``point:<id>``) with the filters: the results."""
    if not name:
        raise usage("choose a collection first.")
    if not query:
        raise usage("no query yet: upload, paste or pick an image first.")
    k = session.check_k(kk)  # 2.5 is refused, never cut to 2
    if query.startswith(POINT):
        result = session.search_point(name, query.removeprefix(POINT), k, sp, lb, tg)
    elif query.startswith(TEXT):
        result = search_text(session, name, query.removeprefix(TEXT), k, sp, lb, tg)
    else:
        result = session.search_upload(name, query, k, sp, lb, tg)
    return {
        **cleared(), "query_preview": result.query, "prediction": result.prediction,
        "query_info": f"**Query:** {escape(result.query_caption)}" if result.query_caption else "",
        "votes": bar_frame(result.votes), "neighbours": gallery(result.gallery), "last": query,
        "searched": Filters.of(k, sp, lb, tg), "search_result": result.linked(name),
    }


def loading_note(session: Session, name: str) -> dict:
    """The banner's "loading the query model" note, when the model is not loaded yet."""
    model = session.model_to_load(name)
    return {STATUS: "" if model is None else f"⏳ Loading the query model {code(model)} (first query only) …"}


def searching(session: Session, name: str, query: str | None, kk: float, sp: str, lb: str,
              tg: str, upload: bool = False) -> Iterator[dict]:
    """Search, saying first when the query model has to be loaded (seconds, once)."""
    if query and not query.startswith((POINT, TEXT)):
        loading = guarded(STATUS)(loading_note)(session, name)
        if loading[STATUS] and session.usable_upload(query):  # else: refused at once
            yield loading
    yield clearing(run, session, name, query, kk, sp, lb, tg, upload=upload)


def search_path(session: Session, name: str, path: str | None, kk: float, sp: str, lb: str,
                tg: str) -> Iterator[dict]:
    """A new upload (file box or image box): search by it."""
    if path:
        yield from searching(session, name, path, kk, sp, lb, tg, upload=True)


def search_again(session: Session, name: str, query: str | None, kk: float, sp: str, lb: str,
                 tg: str, old: Filters | None = None) -> Iterator[dict]:
    """"Search": the last query again, with the filters on screen."""
    refused = k_refused(session, kk, old)
    if refused is not None:
        yield refused
        return
    yield from searching(session, name, query, kk, sp, lb, tg)


def search_words(session: Session, name: str, text: str | None, kk: float, sp: str, lb: str,
                 tg: str, old: Filters | None = None) -> dict:
    """"Search by text": the phrase, embedded by the collection's or a linked text space."""
    refused = k_refused(session, kk, old)
    if refused is not None:
        return refused
    if not (text or "").strip():
        return refuse("type a phrase first, e.g. 'an ankle boot with laces'.")
    return clearing(run, session, name, TEXT + str(text).strip(), kk, sp, lb, tg)


def pick_and_run(session: Session, name: str, mode: str, cls: str, pid: str, kk: float, sp: str,
                 lb: str, tg: str) -> dict:
    """Pick a stored point (random, of a class, by id) and search by it; a random pick is
    never the point picked last (``pid``, the id box, which every pick fills)."""
    by_id = mode == "by id"
    point = session.pick_point(name, mode, pid if by_id else cls,
                               avoid=None if by_id else (pid or "").strip() or None)
    return {**run(session, name, POINT + point, kk, sp, lb, tg), "pick_id": point}


def search_stored(session: Session, name: str, mode: str, cls: str, pid: str, kk: float, sp: str,
                  lb: str, tg: str, old: Filters | None = None) -> dict:
    """"Search with a stored image" (it replaces an uploaded query in the upload boxes)."""
    refused = k_refused(session, kk, old)
    if refused is not None:
        return refused
    out = clearing(pick_and_run, session, name, mode, cls, pid, kk, sp, lb, tg)
    return out if out.get(STATUS) else {**out, "query_file": None, "query_img": None}


def _fail(message: str) -> dict:
    raise usage(message)


def refuse(message: str, upload: bool = False) -> dict:
    """``message`` in the banner, the results cleared (and the upload boxes, for an upload)."""
    return clearing(_fail, message, upload=upload)


def pivoted(out: dict, point: str) -> dict:
    """A search by a stored point that came from the results or another tab: it replaces an
    uploaded query in the upload boxes, and the Point id box shows it (not the query before)."""
    return out if out.get(STATUS) else {**out, "query_file": None, "query_img": None,
                                        "pick_id": point}


def search_similar(session: Session, name: str, point: str, kk: float, sp: str, lb: str,
                   tg: str, old: Filters | None = None) -> dict:
    """"Find similar" under the results: search by the selected neighbour."""
    if not point:
        return refuse("select a neighbour first, then press Find similar.")
    refused = k_refused(session, kk, old)
    if refused is not None:
        return refused
    return pivoted(clearing(run, session, name, POINT + point, kk, sp, lb, tg), point)


def requested(session: Session, name: str, value: str | None, kk: float, sp: str, lb: str,
              tg: str, old: Filters | None = None) -> dict:
    """Another tab asked for a search by a stored point: search, and come forward."""
    import gradio as gr

    point = similar_request(value)
    if point is None:
        return {}
    refused = k_refused(session, kk, old)
    if refused is not None:
        return {**refused, "tabs": gr.Tabs(selected="search")}
    out = pivoted(clearing(run, session, name, POINT + point, kk, sp, lb, tg), point)
    return {**out, "tabs": gr.Tabs(selected="search")}


def selected(linked: dict | None, evt: Selected) -> dict:
    """A neighbour selected: its id to copy, and "Find similar" enabled."""
    ids = (linked or {}).get("neighbour_ids") or []
    index = evt.index if isinstance(evt.index, int) else None
    if index is None or not 0 <= index < len(ids):
        return {"selected_id": "", "similar": update(interactive=False)}
    return {"selected_id": ids[index], "similar": update(interactive=True)}


def marked(old: Filters | None, kk: float | None, sp: str, lb: str, tg: str) -> dict:
    """k or a filter changed: a note when the results on screen were made with others (an
    empty box or a k that is not a whole number: none; Search says what is wrong with it)."""
    if kk is None or not float(kk).is_integer():
        return {"stale": ""}
    return {"stale": stale_note(old, Filters.of(kk, sp, lb, tg))}


def refreshed_tags(session: Session, name: str | None, current: str | None) -> dict:
    """The tab opened: the tag filter offers the tags stored now (the map may have added some)."""
    if not name:
        return {}
    session.forget(name)
    choices = [ALL, *session.tags(name)]
    return {"tag": update(choices=choices, value=current if current in choices else ALL)}


def refused_upload(max_mb: float, raw: str | None) -> dict:
    """The browser refused a file before uploading it: the page's message for it."""
    message = refusal(raw, max_mb)
    return {} if message is None else refuse(message, upload=True)
