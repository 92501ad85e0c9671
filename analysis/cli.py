"""`embedscope analyze` and `embedscope compare`: parse flags, call analysis.job, print results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser, skip: set[str] | None = None) -> None:
    """One flag per AnalysisSettings field, plus the store's flags (--qdrant-url, --data-dir …)."""
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.flags import add_settings_flags
    from embedscope.settings import add_store_flags

    add_settings_flags(parser, AnalysisSettings, skip=skip or set())
    add_store_flags(parser, batch=True)


def register(sub: Any) -> None:
    """Add the `analyze` and `compare` subcommands."""
    p = sub.add_parser(
        "analyze", help="maps, clusters and a quality report from a collection's vectors",
        description="Pull a collection's vectors, compute UMAP/t-SNE/PCA maps, k-means/"
        "k-medoids/HDBSCAN clusterings and quality figures; write report.json, PNG plots "
        "and report.html, and write 2-D coordinates and cluster ids back into the payloads.",
    )
    add_arguments(p)
    p.set_defaults(handler=analyze)
    c = sub.add_parser(
        "compare", help="the same analysis for several collections, side by side",
        description="Analyse several collections of the same dataset (e.g. dinov2-small, "
        "dinov2-base, pixels) with the same settings and write one comparison table and plot.",
    )
    c.add_argument("collections", nargs="+", help="collections to compare")
    add_arguments(c, {"collection"})
    c.set_defaults(handler=_compare)
    e = sub.add_parser(
        "export", help="write a collection as parquet files and a dataset card (🤗, Atlas)",
        description="Write every point of a collection as parquet (one row per point: id, "
        "split, label, vector, every map's x/y, clusters, scores, tags, leak partner, nearest "
        "neighbours, thumbnail) with a dataset card, streamed in bounded memory: the folder "
        "is a 🤗 dataset (load_dataset, pandas.read_parquet) that Embedding Atlas opens with "
        "embedscope's map and neighbours. --push-to-hub uploads it.",
    )
    from embedscope.analysis.export_config import ExportSettings
    from embedscope.flags import add_settings_flags
    from embedscope.settings import add_store_flags

    add_settings_flags(e, ExportSettings)
    add_store_flags(e, batch=True)
    e.set_defaults(handler=_export)


def _first_map(settings: Any, qdrant: Any) -> int:
    """`analyze --first-map`: draw the map, say where to look and what comes next."""
    from embedscope.analysis.first_map import first_map
    from embedscope.store import open_store

    with open_store(qdrant, batch=True) as store:
        drawn = first_map(store, settings, data_dir=qdrant.data_dir)
    took = sum(drawn["timings"].values())
    sample = (f" (UMAP fitted on {drawn['umap_fitted_on']:,}, the others placed at their "
              "nearest fitted points)" if drawn["placed"] else "")
    print(f"first map of {drawn['points']:,} points in {took:.1f} s: "
          f"{', '.join(drawn['maps'])}{sample}. `embedscope ui` draws it now; "
          f"`embedscope analyze --collection {settings.collection}` computes the full report "
          "and replaces it.")
    return 0


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.flags import settings_from_args

    settings = settings_from_args(AnalysisSettings, args, **overrides)
    settings.check()
    return settings


def analyze(args: argparse.Namespace) -> int:
    """Run one analysis and print its headline figures and the report's path."""
    from embedscope.analysis.job import run
    from embedscope.settings import store_settings
    from embedscope.store import open_store

    settings = _settings(args)
    qdrant = store_settings(args)
    if settings.first_map:
        return _first_map(settings, qdrant)
    if settings.incremental():
        return _update(settings, qdrant)
    with open_store(qdrant, batch=True) as store:
        report, out = run(store, settings, data_dir=qdrant.data_dir)
    for row in _headline(report):
        print(row)
    print(f"report: {out / 'report.html'}")
    return 0


def _update(settings: Any, qdrant: Any) -> int:
    """`analyze --update`: place the new points and print what was (and was not) done."""
    from embedscope.analysis.update import run_update
    from embedscope.store import open_store

    with open_store(qdrant, batch=True) as store:
        entry, out = run_update(store, settings, data_dir=qdrant.data_dir)
    for line in update_lines(entry):
        print(line)
    print(f"report: {out / 'report.html'}")
    return 0


def update_lines(entry: dict[str, Any]) -> list[str]:
    """What `analyze --update` prints: placed, not placed, not recomputed, the --refit hint."""
    if not entry["new_points"]:
        return ["no new points: the last full run or an update placed every point "
                "(nothing written)."]
    fields = sorted({f for f in entry["placed"]})
    lines = [f"placed {entry['new_points']} new points in {entry['seconds']:.1f} s: "
             f"{', '.join(fields)} written; the other points did not move."]
    if entry["unplaced"]:
        lines.append(f"not placed: {', '.join(entry['unplaced'])} (t-SNE cannot place new "
                     "points; the new points stay without these fields until --refit).")
    if leaks := entry.get("leaks"):
        lines.append(
            f"leaks: {leaks['leaked']} of the {leaks['new_query_points']} new points of "
            f"{', '.join(leaks['query_splits'])} are near-duplicates (cosine ≥ "
            f"{leaks['threshold']}) of a {leaks['reference_split']} point (their `leak` payload "
            "names it).")
    lines.append("not recomputed: " + "; ".join(entry["not_recomputed"]) + ".")
    if entry["suggest_refit"]:
        lines.append(
            f"the {entry['placed_since_fit']} points placed since the last full run are "
            f"{entry['share_of_fitted']:.0%} of the {entry['fitted_points']} it fitted (over "
            f"--update-refit-share {entry['refit_share']:.0%}): they were placed, but the maps "
            "and clusters were fitted without them; run `embedscope analyze --refit` to refit.")
    return lines


def _headline(report: dict[str, Any]) -> list[str]:
    from embedscope.analysis.report_model import Report

    return [f"{r.figure}: {'–' if r.value is None else format(r.value, '.4f')}"
            for r in Report.model_validate(report).summary_rows()]


def _compare(args: argparse.Namespace) -> int:
    from embedscope.analysis.compare import run_compare
    from embedscope.settings import store_settings
    from embedscope.store import open_store

    settings = _settings(args, collection=args.collections[0])
    if settings.incremental():
        from embedscope.errors import UsageError

        raise UsageError("compare always runs the full analysis: place new points of one "
                         "collection with `embedscope analyze --collection C --update`")
    qdrant = store_settings(args)
    with open_store(qdrant, batch=True) as store:
        out, figures = run_compare(store, settings, list(args.collections), data_dir=qdrant.data_dir)
    width = max(len(f) for f in figures) if figures else 10
    cols = [max(len(c), 6) for c in args.collections]
    print(f"{'figure':<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(args.collections, cols)))
    for fig, per in figures.items():
        vals = ["–" if per.get(c) is None else f"{per[c]:.4f}" for c in args.collections]
        print(f"{fig:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(vals, cols)))
    print(f"comparison: {out / 'comparison.html'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    """Write the export, print what it holds and the Embedding Atlas command; push if asked."""
    from embedscope.analysis.export import export, offline_message, push
    from embedscope.analysis.export_card import atlas_command
    from embedscope.analysis.export_config import ExportSettings
    from embedscope.errors import UsageError
    from embedscope.flags import settings_from_args
    from embedscope.settings import store_settings
    from embedscope.store import open_store

    s = settings_from_args(ExportSettings, args)
    s.check()
    if s.push_to_hub:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:  # said before a long export, not after it
            raise UsageError(offline_message(s.push_to_hub, s.out or Path("DIR")))
    with open_store(store_settings(args), batch=True) as store:
        done = export(store, s)
    print(f"exported {done.collection}: {done.rows} rows in {len(done.files)} parquet files "
          f"({', '.join(f'{k} {v}' for k, v in done.splits.items())}), "
          f"{done.bytes / 1e6:.1f} MB, {done.seconds:.1f} s")
    print(f"dataset card: {done.folder / 'README.md'}")
    print(f"Embedding Atlas: {atlas_command(done)}")
    if s.push_to_hub:
        print(f"pushed: {push(done.folder, s.push_to_hub, s.private)}")
    return 0
