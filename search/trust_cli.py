"""`embedscope check | snapshot | restore`: verify collections, back them up, bring them back."""

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
    """Add the ``check``, ``snapshot`` and ``restore`` subcommands."""
    from embedscope.search.config import BackupSettings, OutputSettings, add_store_flags
    from embedscope.search.flags import add_settings_flags

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
    add_settings_flags(p, BackupSettings, skip={"target_collection", "recreate"})
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
    add_settings_flags(p, BackupSettings, skip={"collection", "output"})
    add_settings_flags(p, OutputSettings)
    add_store_flags(p)
    p.set_defaults(handler=handle_restore)


def _settings(args: argparse.Namespace) -> tuple[Any, Any, bool]:
    from embedscope.search.config import BackupSettings, OutputSettings, store_settings
    from embedscope.search.flags import settings_from_args

    return (settings_from_args(BackupSettings, args), store_settings(args),
            settings_from_args(OutputSettings, args).json_output)


def handle_check(args: argparse.Namespace) -> int:
    """Check one or every collection; exit 10 when any is damaged."""
    from embedscope.search.check import check_collection
    from embedscope.search.errors import DamagedCollectionError
    from embedscope.search.integrity import way_out
    from embedscope.search.store import open_store

    opts, qdrant, as_json = _settings(args)
    with open_store(qdrant) as store:
        if opts.collection:
            store.require(opts.collection)
            names = [opts.collection]
        else:
            names = store.list_collections()
        reports = [check_collection(store, name) for name in names]
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
    from embedscope.search.errors import UsageError
    from embedscope.search.snapshots import default_path, snapshot
    from embedscope.search.store import open_store

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
    from embedscope.search.snapshots import restore
    from embedscope.search.store import open_store

    opts, qdrant, as_json = _settings(args)
    with open_store(qdrant) as store:
        report = restore(store, args.snapshot, opts.target_collection, opts.recreate)
    print(json.dumps(report.as_json(), indent=2) if as_json else "\n".join(report.lines()))
    return 0
