"""`embedscope push` / `pull`: move an embedded collection to a Qdrant server and back."""

from __future__ import annotations

import argparse
import json
from typing import Any

_EPILOG = (
    "The local side is the store EMBEDSCOPE_QDRANT_URL / EMBEDSCOPE_DATA_DIR point at "
    "(embedded Qdrant under the data directory when no URL is set). Counts, metadata and a "
    "sample of points are compared after the copy; a mismatch exits with code 8."
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collection", required=True, help="collection to copy")
    p.add_argument("--as", dest="target_collection", metavar="NAME",
                   help="name of the copy (default: the same name)")
    p.add_argument("--api-key", dest="remote_api_key",
                   help="API key of the remote server (default: EMBEDSCOPE_QDRANT_API_KEY)")
    p.add_argument("--data-dir", dest="data_dir", help="local data directory (EMBEDSCOPE_DATA_DIR)")
    p.add_argument("--batch", dest="transfer_batch", type=int,
                   help="points per request (EMBEDSCOPE_TRANSFER_BATCH, default 256)")
    p.add_argument("--verify-sample", dest="transfer_verify_sample", type=int,
                   help="points compared after the copy (EMBEDSCOPE_TRANSFER_VERIFY_SAMPLE, "
                   "default 256)")
    p.add_argument("--seed", dest="transfer_seed", type=int,
                   help="seed for the verified sample (EMBEDSCOPE_TRANSFER_SEED, default 0)")
    p.add_argument("--recreate", action="store_true",
                   help="replace the target collection if it exists")
    p.add_argument("--shard-number", type=int,
                   help="shards of the new collection on a server or cluster")
    p.add_argument("--replication-factor", type=int,
                   help="copies of each shard on a cluster")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def register(sub: Any) -> None:
    """Add the ``push`` and ``pull`` subcommands."""
    push = sub.add_parser(
        "push", help="copy a collection to a Qdrant server (no re-embedding)",
        description="Copy a collection (vectors, payloads, metadata) from the local store to a "
        "Qdrant server or cluster.", epilog=_EPILOG,
    )
    push.add_argument("--to", dest="remote_url", required=True, metavar="URL",
                      help="target Qdrant server, e.g. http://host:6333")
    _common(push)
    push.set_defaults(handler=_push)

    pull = sub.add_parser(
        "pull", help="copy a collection from a Qdrant server to the local store",
        description="Copy a collection (vectors, payloads, metadata) from a Qdrant server to "
        "the local store (embedded by default).", epilog=_EPILOG,
    )
    pull.add_argument("--from", dest="remote_url", required=True, metavar="URL",
                      help="source Qdrant server, e.g. http://host:6333")
    _common(pull)
    pull.set_defaults(handler=_pull)


def _push(args: argparse.Namespace) -> int:
    return _transfer(args, push=True)


def _pull(args: argparse.Namespace) -> int:
    return _transfer(args, push=False)


def _transfer(args: argparse.Namespace, push: bool) -> int:
    from search.config import QdrantSettings, settings_from_args
    from search.remote import RemoteStore, open_store
    from search.transfer import TransferSettings, copy_collection

    local_settings = settings_from_args(QdrantSettings, args)
    opts = settings_from_args(TransferSettings, args)
    key = args.remote_api_key or (
        local_settings.qdrant_api_key.get_secret_value() if local_settings.qdrant_api_key else None
    )
    remote = RemoteStore(
        args.remote_url, key, local_settings.qdrant_timeout, local_settings.qdrant_retry_seconds
    )
    local = open_store(local_settings)
    src, dst = (local, remote) if push else (remote, local)
    try:
        report = copy_collection(
            src, dst, args.collection, args.target_collection, batch=opts.transfer_batch,
            verify_sample=opts.transfer_verify_sample, recreate=args.recreate,
            shard_number=args.shard_number, replication_factor=args.replication_factor,
            seed=opts.transfer_seed,
        )
    finally:
        local.close()
        remote.close()
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0
