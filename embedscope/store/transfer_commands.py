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


def _parser(sub: Any, name: str, url_flag: str, help_text: str, description: str, handler: Any) -> None:
    from embedscope.flags import add_settings_flags
    from embedscope.settings import OutputSettings, add_store_flags
    from embedscope.store.transfer import TransferSettings

    p = sub.add_parser(name, help=help_text, description=description, epilog=_EPILOG)
    add_settings_flags(p, TransferSettings, flags={"remote_url": url_flag})
    add_settings_flags(p, OutputSettings)
    add_store_flags(p, batch=True)
    p.set_defaults(handler=handler)


def register(sub: Any) -> None:
    """Add the ``push`` and ``pull`` subcommands."""
    _parser(sub, "push", "--to", "copy a collection to a Qdrant server (no re-embedding)",
            "Copy a collection (vectors, payloads, metadata) from the local store to a "
            "Qdrant server or cluster.", _push)
    _parser(sub, "pull", "--from", "copy a collection from a Qdrant server to the local store",
            "Copy a collection (vectors, payloads, metadata) from a Qdrant server to "
            "the local store (embedded by default).", _pull)


def _push(args: argparse.Namespace) -> int:
    return _transfer(args, push=True)


def _pull(args: argparse.Namespace) -> int:
    return _transfer(args, push=False)


def _transfer(args: argparse.Namespace, push: bool) -> int:
    from embedscope.flags import settings_from_args
    from embedscope.settings import OutputSettings, store_settings
    from embedscope.store import open_store
    from embedscope.store.remote import RemoteStore
    from embedscope.store.transfer import TransferSettings, copy_collection

    local_settings = store_settings(args)
    opts = settings_from_args(TransferSettings, args)
    opts.check()
    key = opts.remote_api_key or local_settings.qdrant_api_key
    remote = RemoteStore(
        str(opts.remote_url), key.get_secret_value() if key else None,
        local_settings.qdrant_timeout, local_settings.qdrant_retry_seconds,
    )
    local = open_store(local_settings, batch=True)
    src, dst = (local, remote) if push else (remote, local)
    try:
        report = copy_collection(
            src, dst, str(opts.collection), opts.target_collection, batch=opts.batch,
            verify_sample=opts.verify_sample, recreate=opts.recreate,
            shard_number=opts.shard_number, replication_factor=opts.replication_factor,
            seed=opts.seed,
        )
    finally:
        local.close()
        remote.close()
    if settings_from_args(OutputSettings, args).json_output:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0
