"""The report on disk: report.json (every figure and parameter) and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import json
import platform
from pathlib import Path
from typing import Any

from embedscope.analysis.report_model import Report

MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg"}
#: Rows of each findings table in report.html (report.json lists up to --max-list).
HTML_ROWS = 100


def versions() -> dict[str, str]:
    """Versions of the software whose results the report contains."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("embedscope", "numpy", "scikit-learn", "umap-learn", "kmedoids", "matplotlib",
                 "qdrant-client", "qdrant-edge-py", "numba", "pynndescent"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def write_json(report: dict[str, Any], path: Path) -> Path:
    """Write report.json (NaN becomes null)."""
    text = json.dumps(report, indent=2, default=_default, allow_nan=True)
    path.write_text(text.replace("NaN", "null"))
    return path


def _data_uri(path: Path) -> str:
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;
font-size:13px;text-align:left}img{max-width:100%;border:1px solid #eee;margin:.3em 0}
.note{background:#fff6d6;padding:.4em .8em;border-left:4px solid #e0b000}"""


def write_html(report: Report, out_dir: Path, path: Path) -> Path:
    """One self-contained page: tables and every plot embedded as a data URI."""
    parts = [f"<h1>embedscope analysis: {html.escape(report.collection)}</h1>"]
    data = report.data
    parts.append(
        f"<p>run <code>{html.escape(str(report.run_id))}</code> at "
        f"{html.escape(str(report.created_at))}; model "
        f"<b>{html.escape(str(report.model.get('model')))}</b> "
        f"({_fmt(report.model.get('dimension'))}-d); {data.points_analysed} of "
        f"{data.points_total} points; seed {_fmt(report.parameters.get('seed'))}.</p>"
    )
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in report.notes]
    if report.updates:
        parts.append("<h2>Points placed since the run (analyze --update)</h2>" + _table(
            [{"at": u.get("created_at"), "new points": u.get("new_points"),
              "placed": ", ".join(f"{k} {v}" for k, v in u.get("placed", {}).items()),
              "not placed": ", ".join(u.get("unplaced", [])) or "–",
              "seconds": u.get("seconds")} for u in report.updates])
            + "<p class='note'>Not recomputed by an update (they describe the points of the "
            "run): " + html.escape(", ".join(report.updates[-1].get("not_recomputed", [])))
            + ".</p>")
    parts.append("<h2>Summary</h2>" + _table(
        [r.model_dump() for r in report.summary_rows() + report.count_rows()]))
    if report.point_scores:
        parts.append("<h2>Per-point scores (payload fields)</h2>" + _table(
            [{"field": name, "title": info.title, "meaning": info.description}
             for name, info in report.point_scores.items()]))
    figures = report.files
    for title, key_prefix in (
        ("Maps", "map_"), ("Silhouette per class", "per_class"), ("Choosing k", "k_curve"),
        ("Contingency tables", "contingency_"), ("Thumbnails per cluster", "thumbnails_"),
        ("Principal components", "pca_"), ("Clustering iterations", "animation"),
    ):
        keys = [k for k in figures if k.startswith(key_prefix)]
        if not keys:
            continue
        parts.append(f"<h2>{title}</h2>")
        for key in keys:
            file = out_dir / figures[key]
            parts.append(f"<h3>{html.escape(key)}</h3><img alt='{html.escape(key)}' "
                         f"src='{_data_uri(file)}'>")
    if report.per_class_silhouette:
        parts.append("<h2>Per-class silhouette</h2>" + _table(report.per_class_silhouette))
    captions = report.captions
    for name, rows in (captions.get("clusterings") or {}).items():
        parts.append(f"<h2>Cluster captions ({html.escape(name)}, vocabulary: "
                     f"{html.escape(str(captions.get('vocabulary')))}, text space "
                     f"{html.escape(str(captions.get('space')))})</h2>" + _table(rows))
    errors = report.label_errors
    if errors is not None:
        parts.append(f"<h2>Likely label errors ({len(errors)})</h2>"
                     + _table([e.model_dump() for e in errors[:HTML_ROWS]]))
    dups = report.near_duplicates
    if dups.threshold is not None:
        parts.append(
            f"<h2>Near-duplicates (cosine ≥ {dups.threshold}; {dups.total} pairs)</h2>"
            + _table([p.model_dump() for p in dups.pairs[:HTML_ROWS]])
        )
    leaks = report.leaks
    if leaks is not None:
        parts.append(
            f"<h2>Leaks between splits ({html.escape(', '.join(leaks.query_splits))} → "
            f"{html.escape(leaks.reference_split)}, cosine ≥ {leaks.threshold}): "
            f"{leaks.leaked} of {leaks.query_points} query points ({leaks.share:.2%})</h2>"
            + _table([{"split": k, **v} for k, v in leaks.per_split.items()])
            + (_table(leaks.per_class) if leaks.per_class else "")
            + _table([p.model_dump() for p in leaks.pairs[:HTML_ROWS]])
        )
    parts.append("<h2>Parameters and versions</h2><pre>" + html.escape(json.dumps(
        {"parameters": report.parameters, "versions": report.versions,
         "model": report.model, "timings_s": report.timings},
        indent=2, default=str)) + "</pre>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>embedscope "
            f"{html.escape(report.collection)}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
