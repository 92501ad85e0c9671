"""The latest analysis of a collection as the page shows it, and the page's quick analysis run."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedscope.analysis.registry import PROJECTIONS
from embedscope.analysis.report import HTML_ROWS
from embedscope.analysis.report_model import Report
from embedscope.errors import UsageError
from embedscope.store import Store
from embedscope.ui.binding import code, escape
from embedscope.ui.config import UISettings
from embedscope.ui.private import private_dir

#: Report figures shown right after the maps, in this order (others follow alphabetically).
FIRST = ("per_class_silhouette", "k_curve")


@dataclass
class ReportView:
    """What the Report tab shows."""

    summary: str
    plots: list[tuple[Path, str]] = field(default_factory=list)
    label_errors: list[tuple[str, str]] = field(default_factory=list)  # (point id, caption)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    #: Leaks between splits: each query point followed by its reference-split partner.
    leaks: list[tuple[str, str]] = field(default_factory=list)
    html: Path | None = None
    label_errors_total: int = 0  # listed in report.json (the page shows the first ones)
    duplicate_pairs_total: int = 0  # found (report.json lists the most similar ones)
    #: Pairs listed in report.json (at most the analysis's --max-list).
    duplicate_pairs_listed: int = 0
    #: The analysis's --max-list: a list that long may have stopped there.
    max_list: int | None = None
    #: Leaked query points (None: no leak check ran); pairs listed in report.json; query splits.
    leaked: int | None = None
    leak_pairs_listed: int = 0
    leak_splits: str = "query"

    def findings_note(self) -> str:
        """How many findings the galleries show of how many the analysis found, and what
        report.json and report.html hold of them (their lists stop at --max-list and at
        ``HTML_ROWS``)."""
        errors, pairs, leaks = (len(self.label_errors), len(self.duplicates) // 2,
                                len(self.leaks) // 2)
        shown = [f"Likely label errors: showing **{errors}** of **{self.label_errors_total}**",
                 f"near-duplicate pairs: showing **{pairs}** of **{self.duplicate_pairs_total}**"]
        capped = self.max_list is not None and self.label_errors_total >= self.max_list
        held = [f"the {self.label_errors_total} most suspicious label errors (the list stops "
                "there: more may exist)" if capped else "every label error",
                _listed(self.duplicate_pairs_listed, self.duplicate_pairs_total, "pairs")]
        if self.leaked is not None:
            shown.append(f"leaked {self.leak_splits} points: showing **{leaks}** of "
                         f"**{self.leaked}**")
            held.append(_listed(self.leak_pairs_listed, self.leaked, "leaks"))
        return ("; ".join(shown) + " (most confident first). report.json lists "
                + ", ".join(held) + " (at most `embedscope analyze --max-list` of each); "
                f"report.html the first {HTML_ROWS} of each.")


def _listed(listed: int, found: int, what: str) -> str:
    """'all 40 leaks' or 'the 200 most similar of the 338 pairs'."""
    return f"all {found} {what}" if listed >= found else \
        f"the {listed} most similar of the {found} {what}"


def report_path(store: Store, collection: str) -> Path:
    """report.json of the latest analysis recorded in the collection's metadata.

    Raises:
        UsageError: the collection was never analysed, or its report directory is gone.
    """
    meta = store.get_meta(collection)
    recorded = meta.analysis.get("report")
    if not recorded:
        raise UsageError(
            f"collection {collection!r} has not been analysed yet: press 'Run analysis' on the "
            f"Explore tab, or run `embedscope analyze --collection {collection}`."
        )
    path = Path(recorded)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise UsageError(
            f"the report of the latest analysis of {collection!r} is missing ({path}): run "
            f"`embedscope analyze --collection {collection}` again."
        )
    return path


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("—" if value is None else str(value))


def summary_markdown(report: Report) -> str:
    """The headline figures of a report as Markdown."""
    data = report.data
    lines = [
        f"### Analysis {escape(report.run_id)} of {escape(report.collection)} "
        f"({escape(report.created_at)})",
        f"{data.points_analysed} of {data.points_total} points, {data.dimension}-d; "
        f"k = {report.k.value} ({report.k.mode}).",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {escape(row.figure)} | {escape(_fmt(row.value))} |"
              for row in report.summary_rows() + report.count_rows()]
    if report.point_scores:
        lines += ["", "Per-point scores (colour the map by them on the Explore tab): "
                  + "; ".join(f"**{escape(info.title)}** ({code(name)}): "
                              f"{escape(info.description)}"
                              for name, info in report.point_scores.items())]
    lines += [f"\n> {escape(note)}" for note in report.notes]
    return "\n".join(lines)


def load(store: Store, collection: str, max_items: int = 48) -> ReportView:
    """The latest report of ``collection``: summary, figure files and the two lists."""
    path = report_path(store, collection)
    report = Report.read(path)
    folder = path.parent
    files = report.files
    # Maps first, in the order the projections are registered, then the other figures.
    maps = [f"map_{name}" for name in PROJECTIONS.names()]
    first = [k for k in (*maps, *FIRST) if k in files]
    order = first + sorted(k for k in files if k not in first)
    plots = [(folder / files[k], k.replace("_", " ")) for k in order
             if files[k].lower().endswith((".png", ".gif")) and (folder / files[k]).is_file()]
    errors = [(e.id, f"{e.label_name} → {e.suggested_name} {e.vote_share:.0%}")
              for e in (report.label_errors or [])[:max_items] if e.id]
    dups: list[tuple[str, str]] = []
    for n, p in enumerate(report.near_duplicates.pairs[:max_items // 2]):
        dups.append((p.id_a, f"{n + 1}a · {p.similarity:.3f}"))
        dups.append((p.id_b, f"{n + 1}b · {p.similarity:.3f}"))
    leaks: list[tuple[str, str]] = []  # one short line each, like the other findings
    for n, leak in enumerate((report.leaks.pairs if report.leaks else [])[:max_items // 2]):
        leaks.append((leak.id, f"{n + 1} · {leak.split} #{leak.index} · {leak.similarity:.3f}"))
        leaks.append((leak.partner_id, f"{n + 1} · {leak.partner_split} #{leak.partner_index}"))
    html = folder / files.get("report_html", "report.html")
    max_list = report.parameters.get("max_list")
    return ReportView(
        summary_markdown(report), plots, errors, dups, leaks, html if html.is_file() else None,
        label_errors_total=len(report.label_errors or []),
        duplicate_pairs_total=report.near_duplicates.total,
        duplicate_pairs_listed=len(report.near_duplicates.pairs),
        max_list=int(max_list) if isinstance(max_list, int) else None,
        leaked=report.leaks.leaked if report.leaks else None,
        leak_pairs_listed=len(report.leaks.pairs) if report.leaks else 0,
        leak_splits="/".join(report.leaks.query_splits) if report.leaks else "query")


def figures_html(plots: list[tuple[Path, str]]) -> str:
    """The report's figures, one a row at the page's width and their own shape, each captioned
    (inline PNG/GIF data: the page serves no report directory)."""
    import base64
    import html

    out = []
    for path, caption in plots:
        kind = "gif" if path.suffix.lower() == ".gif" else "png"
        data = base64.b64encode(path.read_bytes()).decode()
        out.append(f'<figure class="es-figure"><img alt="{html.escape(caption)}" '
                   f'src="data:image/{kind};base64,{data}"><figcaption>{html.escape(caption)}'
                   "</figcaption></figure>")
    return "".join(out)


def downloadable(html: Path | None, collection: str) -> str | None:
    """A copy of report.html in the temp directory (where the page may serve files from), in
    this process's private folder (random name, mode 0700: no name another user could predict),
    replaced whole so that a download never reads a half-written copy."""
    if html is None:
        return None
    global _REPORTS
    if _REPORTS is None or not _REPORTS.is_dir():
        _REPORTS = private_dir("embedscope-reports-")
    target = _REPORTS / f"{collection}-report.html"
    fd, part = tempfile.mkstemp(dir=_REPORTS, suffix=".part")
    os.close(fd)
    shutil.copyfile(html, part)
    os.replace(part, target)
    return str(target)


#: This process's folder of report copies (made on first use).
_REPORTS: Path | None = None


def keep_fields(store: Store, collection: str, before: list[str]) -> None:
    """List again, in the collection's metadata, the payload fields an earlier run wrote and
    this one did not (they stay in the payloads: the map and its colourings keep offering them)."""
    meta = store.get_meta(collection)
    fields = list(meta.analysis.get("fields") or [])
    kept = [f for f in before if f not in fields]
    if kept:
        store.update_meta(collection, analysis={**meta.analysis, "fields": fields + kept})


def run_quick(store: Store, collection: str, settings: UISettings, stages: Any = None) -> str:
    """Run the analysis job with the page's fast configuration; returns a status line.

    Args:
        store: The store.
        collection: The collection to analyse.
        settings: The page's settings (its --analysis-* ones).
        stages: The job's stage timer (analysis.result.Stages), to follow its progress.
    """
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run
    from embedscope.analysis.outputs import write_maps
    from embedscope.flags import settings_without_env

    points = store.count(collection)
    before = list(store.get_meta(collection).analysis.get("fields") or [])
    sample = settings.analysis_sample if points > settings.analysis_sample else 0
    # The page's own settings, not `embedscope analyze`'s EMBEDSCOPE_ANALYSIS_* variables.
    s = settings_without_env(
        AnalysisSettings, collection=collection, projections=settings.analysis_projections,
        clusterers=settings.analysis_clusterers, sample=sample, progress=False, write_back=True,
    )
    document, out = run(store, s, stages=stages, map_files=False)
    keep_fields(store, collection, before)
    write_maps(store, collection)  # after keep_fields: the maps colour by the kept fields too
    report = Report.model_validate(document)
    took = sum(report.timings.values())
    return (f"Analysis {report.run_id} done in {took:.1f} s ({', '.join(report.payload_fields)}); "
            f"report in {out}.")
