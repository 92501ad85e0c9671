"""`embedscope ingest`: flags in, a progress bar and a summary out."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ingest flags, from IngestSettings (each also read from EMBEDSCOPE_<NAME>)."""
    from embedscope.ingest.config import FLAG_GROUPS, IngestSettings
    from embedscope.search.config import OutputSettings, add_store_flags
    from embedscope.search.flags import add_settings_flags

    add_settings_flags(p, IngestSettings, groups=FLAG_GROUPS, title="output")
    add_settings_flags(p, OutputSettings, title="output")
    add_store_flags(p)


def register(sub: Any) -> None:
    """Add the `ingest` subcommand."""
    p = sub.add_parser(
        "ingest", help="embed a dataset into a Qdrant collection (resumable)",
        description="Embed every image of a dataset with a pretrained model and upsert the "
        "L2-normalised vectors with their labels into Qdrant (embedded by default; a server when "
        "EMBEDSCOPE_QDRANT_URL is set). Re-running resumes: stored images are skipped.",
    )
    add_arguments(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the ingest and print its summary; 0 when the run completed (rejects are listed)."""
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.search.config import OutputSettings, store_settings
    from embedscope.search.flags import settings_from_args

    summary = run_ingest(settings_from_args(IngestSettings, args), store_settings(args))
    if settings_from_args(OutputSettings, args).json_output:
        data = {k: v for k, v in summary.__dict__.items() if k != "rejected"}
        data["rejected"] = [r.__dict__ for r in summary.rejected]
        data["images_per_second"] = summary.images_per_second
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(summary.lines()))
    return 0
