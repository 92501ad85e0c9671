"""`embedscope search | classify | evaluate`: parse, call search/, format."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.text import text_table


def _query_command(sub: Any, name: str, help_text: str, description: str, skip: set[str],
                   handler: Any) -> None:
    from embedscope.flags import add_settings_flags
    from embedscope.search.config import QuerySettings
    from embedscope.settings import OutputSettings, add_store_flags

    p = sub.add_parser(name, help=help_text, description=description)
    add_settings_flags(p, QuerySettings, skip=skip)
    add_settings_flags(p, OutputSettings)
    add_store_flags(p)
    p.set_defaults(handler=handler)


def register(sub: Any) -> None:
    """Add the `search`, `classify` and `evaluate` subcommands."""
    from embedscope.flags import add_settings_flags
    from embedscope.search.config import EvaluateSettings
    from embedscope.settings import OutputSettings, add_store_flags

    _query_command(
        sub, "search", "top-k cosine neighbours of an image, a phrase or a stored point",
        "Nearest neighbours by cosine similarity, with label and source. --text searches by "
        "words in a space whose model embeds text; --via runs the query in a linked collection "
        "of the same dataset and shows the hits in --collection.", set(), handle_search,
    )
    _query_command(
        sub, "classify", "k-NN classification of an image, a phrase or a stored point",
        "Predicted class by majority vote of the k nearest labelled points (ties: "
        "smallest label id, as scikit-learn) and by similarity-weighted vote, with the voters.",
        {"label"}, handle_classify,
    )
    p = sub.add_parser(
        "evaluate", help="k-NN accuracy, macro-F1, per-class precision/recall, confusion",
        description="Classify every labelled point of the query split against the reference "
        "split (leave-one-out when they are the same or only one split exists). Exact search "
        "by default, so the figures equal scikit-learn's KNeighborsClassifier(metric='cosine').",
    )
    add_settings_flags(p, EvaluateSettings)
    add_settings_flags(p, OutputSettings)
    add_store_flags(p)
    p.set_defaults(handler=handle_evaluate)


def _open(args: argparse.Namespace, oversampling: float | None = None) -> Any:
    from embedscope.settings import store_settings
    from embedscope.store import open_store

    store = open_store(store_settings(args))
    store.oversampling = oversampling
    return store


def _query(args: argparse.Namespace) -> Any:
    from embedscope.flags import settings_from_args
    from embedscope.search.config import QuerySettings

    q = settings_from_args(QuerySettings, args)
    q.check()
    return q


def _json(args: argparse.Namespace) -> bool:
    from embedscope.flags import settings_from_args
    from embedscope.settings import OutputSettings

    return settings_from_args(OutputSettings, args).json_output


def _phrase(args: argparse.Namespace, q: Any) -> Any:
    """For --text: the phrase's space and vector (the store is opened to find the space and
    closed while the text model runs), else None."""
    if q.text is None:
        return None
    from embedscope.search.text import phrase_vector

    return phrase_vector(lambda: _open(args), q.collection, q.text, q.via, int8=q.text_int8)


def _space(q: Any, store: Any, phrase: Any) -> str:
    """The collection the query runs in: the phrase's text space, --via (checked to be
    linked), or --collection."""
    from embedscope.search.spaces import check_linked

    if phrase is not None:
        return str(phrase[0].space)
    if q.via is not None and q.via != q.collection:
        check_linked(store, q.collection, q.via)
        return str(q.via)
    return str(q.collection)


def _query_vector(q: Any, store: Any, space: str, phrase: Any) -> np.ndarray | None:
    """The embedded query image or phrase (in ``space``), or None when querying by point id."""
    if phrase is not None:
        return np.asarray(phrase[1], dtype=np.float32)
    if q.image is None:
        return None
    meta = store.get_meta(space)
    path = Path(q.image)
    if not path.is_file():
        raise UsageError(f"query image {q.image!r} is not a file; give the path of an "
                         "image (PNG, JPEG, …) or use --id to query by a stored point.")
    from embedscope.ingest.errors import BadImageError
    from embedscope.ingest.query import embed_query

    try:
        return np.asarray(embed_query(meta, path), dtype=np.float32)
    except BadImageError as exc:
        raise BadImageError(f"query image {q.image!r} cannot be used: {exc}") from exc


def _where(q: Any, store: Any, use_label: bool) -> Any:
    from embedscope.search.neighbors import resolve_label
    from embedscope.store import Where

    label = q.label if use_label else None
    if label is not None:
        label = resolve_label(store.get_meta(q.collection), label)
    return Where(split=q.split, label=label)


def _hit_rows(hits: list[Any]) -> list[list[Any]]:
    rows = []
    for rank, h in enumerate(hits, 1):
        p = h.payload
        label = p.get("label_name") or ("" if p.get("label") is None else p.get("label"))
        source = p.get("source") or f"{p.get('dataset', '')}[{p.get('split')}][{p.get('index')}]"
        rows.append([rank, f"{h.score:.4f}", label, p.get("split", ""), source, h.id])
    return rows


_HIT_HEADERS = ["#", "cosine", "label", "split", "source", "id"]


def handle_search(args: argparse.Namespace) -> int:
    """Print the top-k neighbours."""
    from embedscope.search.neighbors import hit_json, neighbours, shortfall
    from embedscope.search.spaces import show_in

    q = _query(args)
    phrase = _phrase(args, q)
    with _open(args, q.oversampling) as store:
        space = _space(q, store, phrase)
        vector = _query_vector(q, store, space, phrase)
        where = _where(q, store, True)
        hits = neighbours(store, space, vector, q.point_id, q.k, where, q.exact)
        shown = show_in(store, hits, space, q.collection)
    note = shortfall(hits, q.k, space, where)
    if note:
        print(note, file=sys.stderr)
    if _json(args):
        print(json.dumps(shown.to_json() if q.via else [hit_json(h) for h in shown.hits], indent=2))
    else:
        _print_shown(shown)
    return 0


def _print_shown(shown: Any) -> None:
    if shown.space != shown.target:
        print(f"found in {shown.space}, shown in {shown.target}")
    print(text_table(_HIT_HEADERS, _hit_rows(shown.hits), {0, 1}))
    if shown.missing:
        print(f"\n{len(shown.missing)} of the hits of {shown.space} are not in {shown.target}: "
              + ", ".join(shown.missing))


def handle_classify(args: argparse.Namespace) -> int:
    """Print the predicted class, the vote shares and the voters."""
    from embedscope.search.neighbors import classify, shortfall
    from embedscope.search.spaces import show_in

    q = _query(args)
    phrase = _phrase(args, q)
    with _open(args, q.oversampling) as store:
        space = _space(q, store, phrase)
        vector = _query_vector(q, store, space, phrase)
        where = _where(q, store, False)
        result = classify(store, space, vector, q.point_id, q.k, where, q.exact)
        shown = show_in(store, result.hits, space, q.collection)
    note = shortfall(result.hits, q.k, space, where)
    if note:
        print(note, file=sys.stderr)
    if _json(args):
        out = result.to_json()
        if q.via:
            out["shown"] = shown.to_json()
        print(json.dumps(out, indent=2))
        return 0
    print(f"predicted: {result.label_name} (label {result.label}, majority of {len(result.hits)})")
    print(f"weighted:  {result.weighted_label_name} (label {result.weighted_label}, "
          "similarity-weighted)\n")
    rows = [[name, result.counts[name], f"{share:.3f}", f"{result.weighted[name]:.3f}"]
            for name, share in result.majority.items()]
    print(text_table(["class", "votes", "majority", "weighted"], rows, {1, 2, 3}))
    print()
    _print_shown(shown)
    return 0


def _print_evaluation(ev: Any, zs: Any = None) -> None:
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
    if zs is not None:  # beside the k-NN figures, on the same points when the splits agree
        rows.append(["zero-shot", f"{zs.accuracy:.4f}", f"{zs.macro_f1:.4f}", "", ""])
    print(text_table(["k", "accuracy", "macro-F1", "weighted acc", "weighted F1"], rows,
                 {0, 1, 2, 3, 4}))
    if ev.leak_threshold is not None:
        clean = ev.results_without_leaks
        print(f"\nwithout the {len(ev.leaked_ids)} leaked {ev.query_split} points (nearest "
              f"{ev.reference_split} point at cosine ≥ {ev.leak_threshold}): "
              f"{ev.n_query - len(ev.leaked_ids)} queries")
        rows = [[k, f"{r.accuracy:.4f}", f"{clean[k].accuracy:.4f}",
                 f"{clean[k].accuracy - r.accuracy:+.4f}", f"{r.macro_f1:.4f}",
                 f"{clean[k].macro_f1:.4f}"] for k, r in ev.results.items()]
        print(text_table(["k", "accuracy (all)", "accuracy (no leaks)", "difference",
                          "macro-F1 (all)", "macro-F1 (no leaks)"], rows, {0, 1, 2, 3, 4, 5}))
    headers = ["class"] + [f"{m}@{k}" for k in ev.results for m in ("P", "R")]
    rows = [[name] + [f"{ev.results[k].per_class[i][m]:.3f}" for k in ev.results
                      for m in ("precision", "recall")]
            for i, name in enumerate(ev.class_names)]
    print("\nper-class precision (P) and recall (R)")
    print(text_table(headers, rows, set(range(1, len(headers)))))
    best = max(ev.results.values(), key=lambda r: (r.accuracy, -r.k))
    short = [n[:10] for n in ev.class_names]
    rows = [[name, *row] for name, row in zip(short, best.confusion, strict=True)]
    print(f"\nconfusion matrix at k={best.k} (rows: true, columns: predicted)")
    print(text_table(["true \\ pred", *short], rows, set(range(1, len(short) + 1))))


def handle_evaluate(args: argparse.Namespace) -> int:
    """Print k-NN accuracy and the other figures for each k."""
    from embedscope.flags import settings_from_args
    from embedscope.search.config import EvaluateSettings
    from embedscope.search.evaluate import evaluate, parse_ks

    e = settings_from_args(EvaluateSettings, args)
    e.check()
    ks = parse_ks(e.ks)
    if not e.knn and not e.zero_shot:
        raise UsageError("--no-knn leaves nothing to evaluate: add --zero-shot")
    ev = zs = None
    with _open(args) as store:
        if e.zero_shot:  # checked first: a missing text space fails before the k-NN run
            from embedscope.search.zeroshot import zero_shot

            zs = zero_shot(store, str(e.collection), e.prompts, e.query_split, e.via)
        if e.knn:
            ev = evaluate(store, str(e.collection), ks, e.query_split, e.reference_split,
                          exact=not e.approximate, batch_size=e.batch_size,
                          progress=e.progress and sys.stderr.isatty(),
                          exclude_leaks=e.leak_threshold if e.exclude_leaks else None)
    if _json(args):
        out: dict[str, Any] = ev.to_json() if ev is not None else {}
        if zs is not None:
            out["zero_shot"] = zs.to_json()
        print(json.dumps(out, indent=2))
        return 0
    if ev is not None:
        _print_evaluation(ev, zs)
    if zs is not None:
        _print_zero_shot(zs, alone=ev is None)
    return 0


def _print_zero_shot(zs: Any, alone: bool) -> None:
    where = f" (text space {zs.space})" if zs.space != zs.collection else ""
    print(f"\nzero-shot{where}: {zs.n_query} points of {zs.query_split or 'every split'}, "
          f"{len(zs.prompts)} prompt(s): {' | '.join(zs.prompts)}")
    if alone:
        print(f"accuracy {zs.accuracy:.4f}, macro-F1 {zs.macro_f1:.4f}")
    rows = [[name, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
            for name, c in zip(zs.class_names, zs.per_class, strict=True)]
    print(text_table(["class", "P", "R", "F1", "support"], rows, {1, 2, 3, 4}))
