"""The latest analysis of a collection as the page shows it, and the page's quick analysis run."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedscope.errors import UsageError
from embedscope.store import Store
from embedscope.ui.config import UISettings

#: Report files shown as figures, in this order (others follow alphabetically).
FIRST = ("map_umap", "map_tsne", "map_pca", "per_class_silhouette", "k_curve")


@dataclass
class ReportView:
    """What the Report tab shows."""

    summary: str
    plots: list[tuple[Path, str]] = field(default_factory=list)
    label_errors: list[tuple[str, str]] = field(default_factory=list)  # (point id, caption)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    html: Path | None = None


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


def summary_markdown(report: dict[str, Any]) -> str:
    """The headline figures of a report.json as Markdown."""
    data = report.get("data", {})
    lines = [
        f"### Analysis {report.get('run_id', '?')} of {report.get('collection', '?')} "
        f"({report.get('created_at', '?')})",
        f"{data.get('points_analysed', '?')} of {data.get('points_total', '?')} points, "
        f"{data.get('dimension', '?')}-d; k = {report.get('k', {}).get('value', '?')} "
        f"({report.get('k', {}).get('mode', '?')}).",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for name, value in report.get("silhouette", {}).get("embedding", {}).items():
        lines.append(f"| silhouette of {name} (cosine, embedding) | {_fmt(value)} |")
    for proj, value in report.get("trustworthiness", {}).items():
        lines.append(f"| trustworthiness of the {proj} map | {_fmt(value)} |")
    for name, info in report.get("clusterings", {}).items():
        for metric in ("ari", "nmi"):
            if metric in info:
                lines.append(f"| {name} vs labels: {metric.upper()} | {_fmt(info[metric])} |")
    for k, acc in (report.get("knn_accuracy") or {}).get("accuracy", {}).items():
        lines.append(f"| {k}-NN accuracy | {_fmt(acc)} |")
    errors = report.get("label_errors")
    if errors is not None:
        lines.append(f"| likely label errors listed | {len(errors)} |")
    dups = report.get("near_duplicates") or {}
    if dups:
        lines.append(f"| near-duplicate pairs (cosine ≥ {_fmt(dups.get('threshold'))}) | "
                     f"{dups.get('total', len(dups.get('pairs', [])))} |")
    lines += [f"\n> {note}" for note in report.get("notes", [])]
    return "\n".join(lines)


def load(store: Store, collection: str, max_items: int = 48) -> ReportView:
    """The latest report of ``collection``: summary, figure files and the two lists."""
    path = report_path(store, collection)
    report = json.loads(path.read_text(encoding="utf-8"))
    folder = path.parent
    files: dict[str, str] = report.get("files", {})
    order = [k for k in FIRST if k in files] + sorted(k for k in files if k not in FIRST)
    plots = [(folder / files[k], k.replace("_", " ")) for k in order
             if files[k].lower().endswith((".png", ".gif")) and (folder / files[k]).is_file()]
    errors = [
        (e["id"], f"labelled {e.get('label_name')} → looks like {e.get('suggested_name')} "
                  f"({e.get('vote_share', 0):.0%} of votes)")
        for e in (report.get("label_errors") or [])[:max_items] if e.get("id")
    ]
    dups: list[tuple[str, str]] = []
    for n, p in enumerate((report.get("near_duplicates") or {}).get("pairs", [])[:max_items // 2]):
        for side in ("a", "b"):
            dups.append((p[f"id_{side}"], f"pair {n + 1}{side} · cos {p['similarity']:.3f}"))
    html = folder / files.get("report_html", "report.html")
    return ReportView(summary_markdown(report), plots, errors, dups,
                      html if html.is_file() else None)


def downloadable(html: Path | None, collection: str) -> str | None:
    """A copy of report.html in the temp directory (where the page may serve files from)."""
    if html is None:
        return None
    folder = Path(tempfile.gettempdir()) / "embedscope-ui"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{collection}-report.html"
    shutil.copyfile(html, target)
    return str(target)


def run_quick(store: Store, collection: str, settings: UISettings) -> str:
    """Run the analysis job with the page's fast configuration; returns a status line."""
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run

    points = store.count(collection)
    sample = settings.analysis_sample if points > settings.analysis_sample else 0
    s = AnalysisSettings(
        collection=collection, projections=settings.analysis_projections,
        clusterers=settings.analysis_clusterers, sample=sample, progress=False, write_back=True,
    )
    report, out = run(store, s)
    took = sum(report.get("timings", {}).values())
    fields = ", ".join(report.get("payload_fields", []))
    return f"Analysis {report.get('run_id')} done in {took:.1f} s ({fields}); report in {out}."
