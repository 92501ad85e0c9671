"""`embedscope compare`: the same analysis for several collections of one dataset, side by side."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.report import _data_uri
from embedscope.analysis.report_model import Report
from embedscope.errors import UsageError
from embedscope.store import Store


def default_dir(
    s: AnalysisSettings, collections: list[str], data_dir: Path | None = None
) -> Path:
    """<data_dir>/reports/compare__<c1>__<c2>… unless --out is given.

    Args:
        s: The settings (``out``).
        collections: The collections compared, in order.
        data_dir: The data directory (e.g. from --data-dir); None: QdrantSettings().data_dir.
    """
    if s.out is not None:
        return Path(s.out)
    if data_dir is None:
        from embedscope.settings import QdrantSettings

        data_dir = QdrantSettings().data_dir
    return Path(data_dir) / "reports" / ("compare__" + "__".join(collections))


def table(reports: dict[str, Report]) -> dict[str, dict[str, float | None]]:
    """{figure: {collection: value}} over the headline figures of every report."""
    out: dict[str, dict[str, float | None]] = {}
    for name, report in reports.items():
        for row in report.summary_rows():
            out.setdefault(row.figure, {})[name] = row.value
    return out


def run_compare(
    store: Store, s: AnalysisSettings, collections: list[str], data_dir: Path | None = None
) -> tuple[Path, dict]:
    """Analyse each collection with the same settings, then write the comparison files.

    Args:
        store: The store holding the collections.
        s: The settings shared by every analysis.
        collections: At least two collection names.
        data_dir: Where the comparison goes without --out (None: QdrantSettings().data_dir).

    Returns:
        The comparison directory and {figure: {collection: value}}.
    """
    from embedscope.analysis import plots
    from embedscope.analysis.job import run

    if len(collections) < 2:
        raise UsageError("compare needs at least two collections, e.g. "
                         "`embedscope compare fashion_mnist__dinov2_small fashion_mnist__pixels`")
    for name in collections:
        store.require(name)
    datasets = {name: store.get_meta(name).dataset for name in collections}
    out = default_dir(s, collections, data_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports: dict[str, Report] = {}
    for name in collections:
        sub = s.model_copy(update={"collection": name, "out": out / name})
        reports[name] = Report.model_validate(run(store, sub, data_dir)[0])
    figures = table(reports)
    notes = []
    if len({d for d in datasets.values() if d}) > 1:
        notes.append(f"the collections come from different datasets: {datasets}; "
                     "figures are comparable only on the same images.")
    with (out / "comparison.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["figure", *collections])
        for fig, per in figures.items():
            writer.writerow([fig, *[per.get(c) for c in collections]])
    summary = {
        "collections": collections, "datasets": datasets, "notes": notes,
        "models": {c: reports[c].model.get("model") for c in collections},
        "points": {c: reports[c].data.points_analysed for c in collections},
        "figures": figures, "reports": {c: str(out / c / "report.html") for c in collections},
        "parameters": s.model_dump(mode="json", exclude={"collection", "out"}),
    }
    (out / "comparison.json").write_text(json.dumps(summary, indent=2))
    plots.grouped_bars(figures, "embedscope compare", out / "comparison.png")
    _html(out, collections, reports, figures, notes)
    return out, figures


def _html(out: Path, collections: list[str], reports: dict[str, Report],
          figures: dict[str, dict[str, float | None]], notes: list[str]) -> None:
    def cell(v: float | None) -> str:
        return "–" if v is None else f"{v:.4f}"

    head = "".join(
        f"<th>{html.escape(c)}<br><small>{html.escape(str(reports[c].model.get('model')))}"
        "</small></th>" for c in collections
    )
    rows = "".join(
        f"<tr><td>{html.escape(f)}</td>"
        + "".join(f"<td>{cell(per.get(c))}</td>" for c in collections)
        + "</tr>" for f, per in figures.items()
    )
    parts = [f"<h1>embedscope compare</h1><table><tr><th>figure</th>{head}</tr>{rows}</table>"]
    parts += [f"<p><b>note:</b> {html.escape(n)}</p>" for n in notes]
    parts.append(f"<img src='{_data_uri(out / 'comparison.png')}'>")
    keys = sorted({k for r in reports.values() for k in r.files
                   if k.startswith(("map_", "per_class", "contingency_kmeans"))})
    for key in keys:
        parts.append(f"<h2>{html.escape(key)}</h2><div style='display:flex;gap:8px'>")
        for c in collections:
            file = reports[c].files.get(key)
            if file:
                uri = _data_uri(out / c / file)
                parts.append(f"<figure style='flex:1'><figcaption>{html.escape(c)}</figcaption>"
                             f"<img style='width:100%' src='{uri}'></figure>")
        parts.append("</div>")
    (out / "comparison.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>embedscope compare</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;"
        "padding:2px 8px;font-size:13px}table{border-collapse:collapse}</style></head><body>"
        + "\n".join(parts) + "</body></html>", encoding="utf-8")
