"""`python -m embedscope.analysis`: the analysis job as a service; flags or EMBEDSCOPE_ANALYSIS_* configure it."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run one analysis (the same flags as `embedscope analyze`); errors become an exit code."""
    from embedscope.analysis.cli import add_arguments, analyze
    from embedscope.cli import run

    parser = argparse.ArgumentParser(
        prog="python -m embedscope.analysis",
        description="embedscope analysis job: maps, clusters and a report for one collection "
        "(EMBEDSCOPE_ANALYSIS_COLLECTION or --collection).",
    )
    add_arguments(parser)
    parser.set_defaults(handler=analyze)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
