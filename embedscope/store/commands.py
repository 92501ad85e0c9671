"""`embedscope collections | check | snapshot | restore`: list, verify, back up and bring back collections."""

from __future__ import annotations

import argparse
import json
from typing import Any

_CHECK = (
    "Verify collections: point count against the integrity record, every vector finite, of the "
    "collection's dimension and unit length, payload fields present and typed, thumbnails "
    "decode. Exits 10 when a collection is damaged (the way out: `embedscope restore` a "
    "snapshot, or re-ingest with --recreate)."
)


def register(sub: Any) -> None:
    """Add the ``collections``, ``check``, ``snapshot`` and ``restore`` subcommands."""
    from embedscope.flags import add_settings_flags
    from embedscope.settings import BackupSettings, OutputSettings, add_store_flags

    p = sub.add_parser(
        "collections", help="list collections by dataset: size, model, text, classes, shared points",
        description="Collections grouped by dataset. The collections of one dataset (under "
        "several models) share point ids: the command says how many points each pair shares, "
        "and which spaces embed text (search them with --text, or others with --via).")
    add_settings_flags(p, OutputSettings)
    add_store_flags(p)
    p.set_defaults(handler=handle_collections)

    p = sub.add_parser("check", help="verify counts, vectors and payloads of collections",
                       description=_CHECK)
    add_settings_flags(p, BackupSettings, skip={"output", "target_collection", "recreate"})
    add_settings_flags(p, OutputSettings)
    add_store_flags(p)
    p.set_defaults(handler=handle_check)

    p = sub.add_parser(
        "snapshot", help="write a backup file of a collection (embedded or server)",
        description="Write a snapshot (a byte-faithful backup with the collection's metadata "
        "and a sample of vectors for verification) of one collection.",
    )
    add_settings_flags(p, BackupSettings, skip={"target_collection", "recreate", "reindex"})
    add_settings_flags(p, OutputSettings)
    add_store_flags(p)
    p.set_defaults(handler=handle_snapshot)

    p = sub.add_parser(
        "restore", help="restore a collection from a snapshot file, verified",
        description="Restore a snapshot into the store (embedded, or a server with --qdrant-url), "
        "then verify the point count, the metadata and the sampled vectors. An embedded snapshot "
        "restored into a server is unpacked locally and its points copied.",
    )
    p.add_argument("snapshot", metavar="PATH", help="snapshot file written by `embedscope snapshot`")
    add_settings_flags(p, BackupSettings, skip={"collection", "output", "reindex"})
    add_settings_flags(p, OutputSettings)
    add_store_flags(p)
    p.set_defaults(handler=handle_restore)


def handle_collections(args: argparse.Namespace) -> int:
    """List the collections."""
    from embedscope.flags import settings_from_args
    from embedscope.settings import OutputSettings, store_settings
    from embedscope.store import open_store
    from embedscope.store.linked import dataset_groups
    from embedscope.text import text_table

    with open_store(store_settings(args)) as store:
        summaries = {n: store.summary(n).as_json() for n in store.list_collections()}
        groups = dataset_groups(store, list(summaries))
        location = store.location
    for group in groups:
        for name in group.collections:
            summaries[name]["dataset_key"] = group.dataset
            summaries[name]["shared"] = {b if a == name else a: n for (a, b), n in group.shared.items()
                                         if name in (a, b)}
    if settings_from_args(OutputSettings, args).json_output:
        print(json.dumps(list(summaries.values()), indent=2))
    elif not summaries:
        print(f"no collections in {location}: run `embedscope ingest` first.")
    else:
        for i, group in enumerate(groups):
            print(("\n" if i else "") + f"dataset {group.dataset}")
            rows = [[s["name"], s["points"], s["model"] or "?", s["dimension"] or "?",
                     "yes" if s["text"] else "no", s["stored"] or "?",
                     ", ".join(s["labels"]) or "(unlabelled)"]
                    for s in (summaries[n] for n in group.collections)]
            print(text_table(["name", "points", "model", "dim", "text", "stored", "classes"], rows,
                             {1, 3}))
            for (a, b), n in group.shared.items():
                print(f"  {a} and {b} share {n} points")
    return 0


def _settings(args: argparse.Namespace) -> tuple[Any, Any, bool]:
    from embedscope.flags import settings_from_args
    from embedscope.settings import BackupSettings, OutputSettings, store_settings

    return (settings_from_args(BackupSettings, args), store_settings(args),
            settings_from_args(OutputSettings, args).json_output)


def handle_check(args: argparse.Namespace) -> int:
    """Check one or every collection; exit 10 when any is damaged."""
    from embedscope.errors import DamagedCollectionError
    from embedscope.store import open_store
    from embedscope.store.check import check_collection, reindex
    from embedscope.store.integrity import way_out

    opts, qdrant, as_json = _settings(args)
    with open_store(qdrant) as store:
        if opts.collection:
            store.require(opts.collection)
            names = [opts.collection]
        else:
            names = store.list_collections()
        reports = [check_collection(store, name) for name in names]
        if opts.reindex:
            for report in reports:
                if report.ok:
                    reindex(store, report.collection, report)
        location = store.location
    if as_json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    elif not reports:
        print(f"no collections in {location}: nothing to check.")
    else:
        for report in reports:
            print("\n".join(report.lines()))
    bad = [r.collection for r in reports if not r.ok]
    if bad:
        raise DamagedCollectionError(
            f"{len(bad)} of {len(reports)} collections damaged: {', '.join(bad)}. "
            + way_out(bad[0] if len(bad) == 1 else "NAME"))
    return 0


def handle_snapshot(args: argparse.Namespace) -> int:
    """Write a snapshot file of one collection."""
    from embedscope.errors import UsageError
    from embedscope.store import open_store
    from embedscope.store.snapshots import default_path, snapshot

    opts, qdrant, as_json = _settings(args)
    if not opts.collection:
        raise UsageError("no collection given: pass --collection NAME "
                         "(`embedscope collections` lists them)")
    output = opts.output or default_path(qdrant.data_dir, opts.collection)
    with open_store(qdrant) as store:
        report = snapshot(store, opts.collection, output)
    print(json.dumps(report.as_json(), indent=2) if as_json else "\n".join(report.lines()))
    return 0


def handle_restore(args: argparse.Namespace) -> int:
    """Restore a snapshot file and verify it."""
    from embedscope.store import open_store
    from embedscope.store.snapshots import restore

    opts, qdrant, as_json = _settings(args)
    with open_store(qdrant) as store:
        report = restore(store, args.snapshot, opts.target_collection, opts.recreate)
    print(json.dumps(report.as_json(), indent=2) if as_json else "\n".join(report.lines()))
    return 0
