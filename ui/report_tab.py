"""The Report tab: the latest analysis report of the collection, its figures and findings."""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# at run time, and `gr` is imported inside build.

import time

from embedscope.ui import report as reports
from embedscope.ui.service import Session
from embedscope.ui.tabs import TabContext, TabHandles, usage


def _captioned(session: Session, name: str, captions: list[tuple[str, str]]) -> tuple[list, list]:
    """Tiles of (point id, caption) pairs in order (a point may appear twice), and their ids."""
    found = session.tiles_by_id(name, [i for i, _ in captions])
    shown = [(i, cap) for i, cap in captions if i in found]
    return [(found[i][0], f"{cap} · {found[i][1]}") for i, cap in shown], [i for i, _ in shown]


def build(ctx: TabContext) -> TabHandles:
    """Lay out the Report tab and wire its events (the report loads when the tab opens).

    Args:
        ctx: The page's shared context.

    Returns:
        No collection hook: the report is read on demand.
    """
    import gradio as gr

    session, collection, guard = ctx.session, ctx.collection, ctx.guard

    with gr.Tab("Report", id="report") as report_tab:
        load_report = gr.Button("Load the latest report", elem_id="load-report")
        summary = gr.Markdown(elem_id="report-summary")
        # One figure a row, at the page's full width (select one to enlarge it further).
        plots = gr.Gallery(label="Figures", columns=1, height="auto", object_fit="contain",
                           allow_preview=True, elem_id="report-plots")
        errors = gr.Gallery(label="Likely label errors", columns=8, height="auto",
                            object_fit="contain", elem_id="label-errors")
        dups = gr.Gallery(label="Near-duplicate pairs", columns=8, height="auto",
                          object_fit="contain", elem_id="duplicates")
        with gr.Row():
            picked = gr.Textbox(label="Selected image (label errors, duplicates): point id",
                                buttons=["copy"], interactive=False, scale=3,
                                elem_id="report-selected")
            similar = gr.Button("Find similar", interactive=False, scale=1,
                                elem_id="report-find-similar")
        html = gr.File(label="report.html", elem_id="report-html")
        error_ids, dup_ids = gr.State([]), gr.State([])

    @guard
    def show_report(name: str) -> dict:
        from PIL import Image

        if not name:
            raise usage("choose a collection first.")
        with session.store() as s:
            r = reports.load(s, name)
        error_tiles, shown_errors = _captioned(session, name, r.label_errors)
        dup_tiles, shown_dups = _captioned(session, name, r.duplicates)
        return {
            summary: r.summary,
            plots: [(Image.open(p).convert("RGB"), cap) for p, cap in r.plots],
            errors: error_tiles, error_ids: shown_errors,
            dups: dup_tiles, dup_ids: shown_dups,
            picked: "", similar: gr.update(interactive=False),
            html: reports.downloadable(r.html, name),
        }

    def selected(ids: list[str], evt: gr.SelectData) -> dict:
        index = evt.index if isinstance(evt.index, int) else -1
        if not 0 <= index < len(ids):
            return {picked: "", similar: gr.update(interactive=False)}
        return {picked: ids[index], similar: gr.update(interactive=True)}

    def find_similar(point: str) -> str:
        # The Search tab listens to this box: it searches by the point and comes forward.
        return f"{point} {time.time_ns()}" if point else ""

    errors.select(selected, error_ids, [picked, similar])
    dups.select(selected, dup_ids, [picked, similar])
    similar.click(find_similar, picked, ctx.shared["find_similar"])

    report_outputs = [summary, plots, errors, error_ids, dups, dup_ids, picked, similar, html,
                      ctx.status]
    load_report.click(show_report, collection, report_outputs)
    report_tab.select(show_report, collection, report_outputs)

    return TabHandles()
