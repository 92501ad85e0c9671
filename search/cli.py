"""`embedscope collections | search | classify | evaluate`: parse, call search/, format."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import BadImageError, UsageError


def _table(headers: list[str], rows: list[list[Any]], right: set[int] | None = None) -> str:
    """Plain-text columns; ``right`` holds the indexes of right-aligned columns."""
    right = right or set()
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i in right else c.ljust(w)
                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("qdrant")
    g.add_argument("--qdrant-url", help="Qdrant server URL (default: EMBEDSCOPE_QDRANT_URL; "
                   "unset: embedded Qdrant under the data directory)")
    g.add_argument("--data-dir", type=Path, help="data directory for embedded collections "
                   "(default: EMBEDSCOPE_DATA_DIR)")


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collection", required=True, help="collection name (see `collections`)")
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--image", help="query image file (any mode or size; embedded with the "
                   "collection's own model and preprocessing)")
    q.add_argument("--id", dest="point_id", help="query by a stored point (left out of its "
                   "own neighbours)")
    p.add_argument("-k", type=int, default=10, help="number of neighbours (default 10)")
    p.add_argument("--split", help="only neighbours from this split")
    p.add_argument("--exact", action="store_true", help="exact (brute-force) search, not HNSW")
    p.add_argument("--json", action="store_true", help="print JSON")
    _connection_args(p)


def register(sub: Any) -> None:
    """Add the `collections`, `search`, `classify` and `evaluate` subcommands."""
    p = sub.add_parser("collections", help="list collections with size, model and classes")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    _connection_args(p)
    p.set_defaults(handler=handle_collections)

    p = sub.add_parser(
        "search", help="top-k cosine neighbours of an image or a stored point",
        description="Nearest neighbours by cosine similarity, with label and source.",
    )
    _query_args(p)
    p.add_argument("--label", help="only neighbours of this class (id or name)")
    p.set_defaults(handler=handle_search)

    p = sub.add_parser(
        "classify", help="k-NN classification of an image or a stored point",
        description="Predicted class by majority vote of the k nearest labelled points (ties: "
        "smallest label id, as scikit-learn) and by similarity-weighted vote, with the voters.",
    )
    _query_args(p)
    p.set_defaults(handler=handle_classify)

    p = sub.add_parser(
        "evaluate", help="k-NN accuracy, macro-F1, per-class precision/recall, confusion",
        description="Classify every labelled point of the query split against the reference "
        "split (leave-one-out when they are the same or only one split exists). Exact search "
        "by default, so the figures equal scikit-learn's KNeighborsClassifier(metric='cosine').",
    )
    p.add_argument("--collection", required=True, help="collection name (see `collections`)")
    p.add_argument("--query-split", help="split to classify (default: test/validation)")
    p.add_argument("--reference-split", help="split that votes (default: train)")
    p.add_argument("-k", dest="ks", default="1,5,10,20", help="k values (default 1,5,10,20)")
    p.add_argument("--approximate", action="store_true",
                   help="HNSW search instead of exact; also measures HNSW recall")
    p.add_argument("--batch-size", type=int, default=256, help="queries per request (256)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print JSON")
    _connection_args(p)
    p.set_defaults(handler=handle_evaluate)


def _open(args: argparse.Namespace) -> Any:
    from search.config import QdrantSettings, settings_from_args
    from search.remote import open_store

    return open_store(settings_from_args(QdrantSettings, args))


def _query_vector(args: argparse.Namespace, store: Any) -> np.ndarray | None:
    """The embedded query image, or None when querying by point id."""
    if args.image is None:
        return None
    meta = store.get_meta(args.collection)
    path = Path(args.image)
    if not path.is_file():
        raise BadImageError(f"query image {args.image!r} is not a file; give the path of an "
                            "image (PNG, JPEG, …) or use --id to query by a stored point.")
    try:
        vector = args.embed_query(meta, path)
    except BadImageError as exc:
        raise BadImageError(f"query image {args.image!r} cannot be used: {exc}") from exc
    return np.asarray(vector, dtype=np.float32)


def _where(args: argparse.Namespace, store: Any) -> Any:
    from search.neighbors import resolve_label
    from search.store import Where

    label = getattr(args, "label", None)
    if label is not None:
        label = resolve_label(store.get_meta(args.collection), label)
    return Where(split=args.split, label=label)


def _hit_rows(hits: list[Any]) -> list[list[Any]]:
    rows = []
    for rank, h in enumerate(hits, 1):
        p = h.payload
        label = p.get("label_name") or ("" if p.get("label") is None else p.get("label"))
        source = p.get("source") or f"{p.get('dataset', '')}[{p.get('split')}][{p.get('index')}]"
        rows.append([rank, f"{h.score:.4f}", label, p.get("split", ""), source, h.id])
    return rows


_HIT_HEADERS = ["#", "cosine", "label", "split", "source", "id"]


def handle_collections(args: argparse.Namespace) -> int:
    """List the collections."""
    with _open(args) as store:
        summaries = [store.summary(n).as_json() for n in store.list_collections()]
        location = store.location
    if args.json:
        print(json.dumps(summaries, indent=2))
    elif not summaries:
        print(f"no collections in {location}: run `embedscope ingest` first.")
    else:
        rows = [[s["name"], s["points"], s["model"] or "?", s["dimension"] or "?",
                 ", ".join(s["labels"]) or "(unlabelled)"] for s in summaries]
        print(_table(["name", "points", "model", "dim", "classes"], rows, {1, 3}))
    return 0


def handle_search(args: argparse.Namespace) -> int:
    """Print the top-k neighbours."""
    from search.neighbors import hit_json, neighbours

    with _open(args) as store:
        vector = _query_vector(args, store)
        hits = neighbours(store, args.collection, vector, args.point_id, args.k,
                          _where(args, store), args.exact)
    if args.json:
        print(json.dumps([hit_json(h) for h in hits], indent=2))
    else:
        print(_table(_HIT_HEADERS, _hit_rows(hits), {0, 1}))
    return 0


def handle_classify(args: argparse.Namespace) -> int:
    """Print the predicted class, the vote shares and the voters."""
    from search.neighbors import classify

    with _open(args) as store:
        vector = _query_vector(args, store)
        result = classify(store, args.collection, vector, args.point_id, args.k,
                          _where(args, store), args.exact)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"predicted: {result.label_name} (label {result.label}, majority of {args.k})")
    print(f"weighted:  {result.weighted_label_name} (label {result.weighted_label}, "
          "similarity-weighted)\n")
    rows = [[name, result.counts[name], f"{share:.3f}", f"{result.weighted[name]:.3f}"]
            for name, share in result.majority.items()]
    print(_table(["class", "votes", "majority", "weighted"], rows, {1, 2, 3}))
    print()
    print(_table(_HIT_HEADERS, _hit_rows(result.hits), {0, 1}))
    return 0


def _print_evaluation(ev: Any) -> None:
    side = (f"leave-one-out on {ev.query_split or 'all points'}" if ev.mode == "leave-one-out"
            else f"{ev.query_split} vs {ev.reference_split}")
    search = "exact search" if ev.exact else (
        f"HNSW (recall@{max(ev.results)} vs exact: {ev.hnsw_recall:.4f} "
        f"on {ev.recall_queries} queries)")
    refs = (f"each against the other {ev.n_reference - 1}" if ev.mode == "leave-one-out"
            else f"{ev.n_reference} references")
    print(f"{ev.collection}: {ev.n_query} queries, {refs}, {side}, "
          f"{search}, {ev.seconds:.1f} s\n")
    rows = [[k, f"{r.accuracy:.4f}", f"{r.macro_f1:.4f}", f"{r.weighted_accuracy:.4f}",
             f"{r.weighted_macro_f1:.4f}"] for k, r in ev.results.items()]
    print(_table(["k", "accuracy", "macro-F1", "weighted acc", "weighted F1"], rows,
                 {0, 1, 2, 3, 4}))
    headers = ["class"] + [f"{m}@{k}" for k in ev.results for m in ("P", "R")]
    rows = [[name] + [f"{ev.results[k].per_class[i][m]:.3f}" for k in ev.results
                      for m in ("precision", "recall")]
            for i, name in enumerate(ev.class_names)]
    print("\nper-class precision (P) and recall (R)")
    print(_table(headers, rows, set(range(1, len(headers)))))
    best = max(ev.results.values(), key=lambda r: (r.accuracy, -r.k))
    short = [n[:10] for n in ev.class_names]
    rows = [[name, *row] for name, row in zip(short, best.confusion, strict=True)]
    print(f"\nconfusion matrix at k={best.k} (rows: true, columns: predicted)")
    print(_table(["true \\ pred", *short], rows, set(range(1, len(short) + 1))))


def handle_evaluate(args: argparse.Namespace) -> int:
    """Print k-NN accuracy and the other figures for each k."""
    from search.evaluate import evaluate, parse_ks

    ks = parse_ks(args.ks)
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}.")
    with _open(args) as store:
        ev = evaluate(store, args.collection, ks, args.query_split, args.reference_split,
                      exact=not args.approximate, batch_size=args.batch_size,
                      progress=args.progress and sys.stderr.isatty())
    if args.json:
        print(json.dumps(ev.to_json(), indent=2))
    else:
        _print_evaluation(ev)
    return 0
