"""The Report tab: the latest analysis report of the collection, its figures and findings."""

# No `from __future__ import annotations` here: Gradio reads the handlers' type hints
# at run time, and `gr` is imported inside build.

from embedscope.ui import report as reports
from embedscope.ui.service import Session
from embedscope.ui.tabs import TabContext, TabHandles, usage


def _pair_tiles(session: Session, name: str, captions: list[tuple[str, str]]) -> list:
    """Tiles of duplicate pairs in order (the same point may appear in several pairs)."""
    found = session.tiles_by_id(name, [i for i, _ in captions])
    return [(found[i][0], f"{cap} · {found[i][1]}") for i, cap in captions if i in found]


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
        plots = gr.Gallery(label="Figures", columns=2, height="auto",
                           object_fit="contain", elem_id="report-plots")
        errors = gr.Gallery(label="Likely label errors", columns=8, height="auto",
                            object_fit="contain", elem_id="label-errors")
        dups = gr.Gallery(label="Near-duplicate pairs", columns=8, height="auto",
                          object_fit="contain", elem_id="duplicates")
        html = gr.File(label="report.html", elem_id="report-html")

    @guard
    def show_report(name: str) -> dict:
        from PIL import Image

        if not name:
            raise usage("choose a collection first.")
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

    report_outputs = [summary, plots, errors, dups, html, ctx.status]
    load_report.click(show_report, collection, report_outputs)
    report_tab.select(show_report, collection, report_outputs)

    return TabHandles()
