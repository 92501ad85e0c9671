"""The Report tab: the latest analysis report of the collection, its figures and findings.

The handlers are module-level functions of plain values (testable without a browser); `build`
lays the tab out and wires them with ``functools.partial``.
"""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# at run time, and `gr` is imported inside build.

import functools
import time
from typing import Any

from embedscope.ui import report as reports
from embedscope.ui.service import Session
from embedscope.ui.tabs import TabContext, TabHandles, register_tab, usage


def _captioned(session: Session, name: str, captions: list[tuple[str, str]]) -> tuple[list, list]:
    """Tiles of (point id, caption) pairs in order (a point may appear twice), and their ids.

    The caption is the finding's own, short: it sits on the image.
    """
    found = session.tiles_by_id(name, [i for i, _ in captions])
    shown = [(i, cap) for i, cap in captions if i in found]
    return [(found[i][0], cap) for i, cap in shown], [i for i, _ in shown]


def report_values(session: Session, name: str) -> dict[str, Any]:
    """What the tab shows for collection ``name``, by component name.

    Raises:
        UsageError: no collection is chosen, or it has no report (the message says what to do).
    """
    if not name:
        raise usage("choose a collection first.")
    with session.store() as s:
        r = reports.load(s, name)
    error_tiles, shown_errors = _captioned(session, name, r.label_errors)
    dup_tiles, shown_dups = _captioned(session, name, r.duplicates)
    leak_tiles, shown_leaks = _captioned(session, name, r.leaks)
    return {
        "summary": r.summary,
        "plots": reports.figures_html(r.plots),
        "findings": r.findings_note(),
        "errors": error_tiles, "error_ids": shown_errors,
        "dups": dup_tiles, "dup_ids": shown_dups,
        "leaks": leak_tiles, "leak_ids": shown_leaks,
        "picked": "", "similar": False,
        "html": reports.downloadable(r.html, name),
    }


def pick(ids: list[str], index: Any) -> tuple[str, bool]:
    """The point id of a selected gallery tile, and whether "Find similar" is enabled."""
    if not isinstance(index, int) or not 0 <= index < len(ids):
        return "", False
    return ids[index], True


def find_similar_request(point: str) -> str:
    """What the hidden find-similar box gets: the Search tab searches by the point and comes
    forward (a nonce makes a repeated request an event too)."""
    return f"{point} {time.time_ns()}" if point else ""


def _show(session: Session, components: dict[str, Any], name: str) -> dict:
    import gradio as gr

    values = report_values(session, name)
    values["similar"] = gr.update(interactive=values["similar"])
    return {components[key]: value for key, value in values.items()}


def _selected(picked: Any, similar: Any, ids: list[str], evt: Any) -> dict:
    import gradio as gr

    point, enabled = pick(ids, evt.index)
    return {picked: point, similar: gr.update(interactive=enabled)}


def _layout() -> dict[str, Any]:
    import gradio as gr

    c: dict[str, Any] = {"load": gr.Button("Load the latest report", elem_id="load-report"),
                         "summary": gr.Markdown(elem_id="report-summary")}
    # One figure a row, at the page's full width and its own shape, its caption under it.
    c["plots"] = gr.HTML(elem_id="report-plots")
    c["findings"] = gr.Markdown(elem_id="report-findings-note")
    c["errors"] = gr.Gallery(label="Likely label errors", columns=8, height="auto",
                             object_fit="contain", elem_id="label-errors")
    c["dups"] = gr.Gallery(label="Near-duplicate pairs", columns=8, height="auto",
                           object_fit="contain", elem_id="duplicates")
    c["leaks"] = gr.Gallery(label="Leaks between splits (each query image, then its nearest "
                            "reference image)", columns=8, height="auto", object_fit="contain",
                            elem_id="leaks")
    with gr.Row():
        c["picked"] = gr.Textbox(label="Selected image (label errors, duplicates, leaks): point id",
                                 buttons=["copy"], interactive=False, scale=3,
                                 elem_id="report-selected")
        c["similar"] = gr.Button("Find similar", interactive=False, scale=1,
                                 elem_id="report-find-similar")
    c["html"] = gr.File(label="report.html", elem_id="report-html")
    c["error_ids"], c["dup_ids"], c["leak_ids"] = gr.State([]), gr.State([]), gr.State([])
    return c


@register_tab("report", place=30)
def build(ctx: TabContext) -> TabHandles:
    """Lay out the Report tab and wire its events (the report loads when the tab opens).

    Args:
        ctx: The page's shared context.

    Returns:
        No collection hook: the report is read on demand.
    """
    import gradio as gr

    with gr.Tab("Report", id="report") as report_tab:
        c = _layout()
    show = ctx.guard(functools.partial(_show, ctx.session, c))

    def selected(ids: list[str], evt: gr.SelectData) -> dict:  # Gradio injects evt by its hint
        return _selected(c["picked"], c["similar"], ids, evt)

    c["errors"].select(selected, c["error_ids"], [c["picked"], c["similar"]])
    c["dups"].select(selected, c["dup_ids"], [c["picked"], c["similar"]])
    c["leaks"].select(selected, c["leak_ids"], [c["picked"], c["similar"]])
    c["similar"].click(find_similar_request, c["picked"], ctx.shared["find_similar"])
    outputs = [c[k] for k in ("summary", "plots", "findings", "errors", "error_ids", "dups",
                              "dup_ids", "leaks", "leak_ids", "picked", "similar", "html")]
    outputs += [ctx.status]
    c["load"].click(show, ctx.collection, outputs)
    report_tab.select(show, ctx.collection, outputs)
    return TabHandles()
