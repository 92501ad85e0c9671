"""`python -m analysis`: the analysis job as a service; flags or EMBEDSCOPE_* variables configure it."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run one analysis (the same flags as `embedscope analyze`); errors become an exit code."""
    from analysis.cli import _add_settings_flags, _analyze
    from embedscope.cli import run

    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="embedscope analysis job: maps, clusters and a report for one collection "
        "(EMBEDSCOPE_COLLECTION or --collection).",
    )
    _add_settings_flags(parser, set())
    parser.set_defaults(handler=_analyze)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
