"""`embedscope ingest`: flags in, a progress bar and a summary out."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ingest flags, from IngestSettings (each also read from EMBEDSCOPE_INGEST_<NAME>)."""
    from embedscope.flags import add_settings_flags
    from embedscope.ingest.config import FLAG_GROUPS, IngestSettings
    from embedscope.settings import OutputSettings, add_store_flags

    add_settings_flags(p, IngestSettings, groups=FLAG_GROUPS, title="output")
    add_settings_flags(p, OutputSettings, title="output")
    add_store_flags(p, batch=True)


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
    from embedscope.flags import settings_from_args
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.ingest.summary import IngestSummary
    from embedscope.settings import OutputSettings, store_settings

    as_json = settings_from_args(OutputSettings, args).json_output
    printed = False

    def searchable(summary: IngestSummary) -> None:
        nonlocal printed
        if not as_json:
            print("\n".join(summary.lines()), flush=True)
            printed = True
        print("building index… (the collection is already complete; search is exact until the index "
              "exists; interrupting is safe: the next ingest builds it)", file=sys.stderr, flush=True)

    summary = run_ingest(settings_from_args(IngestSettings, args), store_settings(args),
                         on_searchable=searchable)
    if as_json:
        print(json.dumps(summary.as_json(), indent=2))
    elif printed:
        print(summary.index_line())
    else:
        print("\n".join(summary.lines()))
    return 0
