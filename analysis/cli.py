"""`embedscope analyze` and `embedscope compare`: parse flags, call analysis.job, print results."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Any

#: Settings that are positional or set by the subcommand itself.
_SKIP = {"compare": {"collection"}}


def _flag_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    return {int: int, float: float, Path: Path}.get(base, str)


def _add_settings_flags(parser: argparse.ArgumentParser, skip: set[str]) -> None:
    """One flag per AnalysisSettings field (default None: the env variable or default applies)."""
    from analysis.config import AnalysisSettings

    for name, info in AnalysisSettings.model_fields.items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        env = f"EMBEDSCOPE_{name.upper()}"
        help_text = f"{info.description} [env {env}; default {info.default}]"
        if info.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        else:
            kind = _flag_type(info.annotation)
            parser.add_argument(flag, dest=name, type=kind, default=None, help=help_text)


def register(sub: Any) -> None:
    """Add the `analyze` and `compare` subcommands."""
    p = sub.add_parser(
        "analyze", help="maps, clusters and a quality report from a collection's vectors",
        description="Pull a collection's vectors, compute UMAP/t-SNE/PCA maps, k-means/"
        "k-medoids/HDBSCAN clusterings and quality figures; write report.json, PNG plots "
        "and report.html, and write 2-D coordinates and cluster ids back into the payloads.",
    )
    _add_settings_flags(p, set())
    p.set_defaults(handler=_analyze)
    c = sub.add_parser(
        "compare", help="the same analysis for several collections, side by side",
        description="Analyse several collections of the same dataset (e.g. dinov2-small, "
        "dinov2-base, pixels) with the same settings and write one comparison table and plot.",
    )
    c.add_argument("collections", nargs="+", help="collections to compare")
    _add_settings_flags(c, _SKIP["compare"])
    c.set_defaults(handler=_compare)


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from analysis.config import AnalysisSettings
    from search.config import settings_from_args

    return settings_from_args(AnalysisSettings, args, **overrides)


def _analyze(args: argparse.Namespace) -> int:
    from analysis.job import run
    from search.config import QdrantSettings
    from search.remote import open_store

    settings = _settings(args)
    settings.check()
    with open_store(QdrantSettings()) as store:
        report, out = run(store, settings)
    for row in _headline(report):
        print(row)
    print(f"report: {out / 'report.html'}")
    return 0


def _headline(report: dict[str, Any]) -> list[str]:
    from analysis.report import summary_rows

    return [f"{r['figure']}: {'–' if r['value'] is None else format(r['value'], '.4f')}"
            for r in summary_rows(report)]


def _compare(args: argparse.Namespace) -> int:
    from analysis.compare import run_compare
    from search.config import QdrantSettings
    from search.remote import open_store

    settings = _settings(args, collection=args.collections[0])
    settings.check()
    with open_store(QdrantSettings()) as store:
        out, figures = run_compare(store, settings, list(args.collections))
    width = max(len(f) for f in figures) if figures else 10
    cols = [max(len(c), 6) for c in args.collections]
    print(f"{'figure':<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(args.collections, cols)))
    for fig, per in figures.items():
        vals = ["–" if per.get(c) is None else f"{per[c]:.4f}" for c in args.collections]
        print(f"{fig:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(vals, cols)))
    print(f"comparison: {out / 'comparison.html'}")
    return 0
