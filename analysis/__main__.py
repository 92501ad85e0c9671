"""`python -m analysis`: the analysis job as a service, configured by EMBEDSCOPE_* variables."""

from __future__ import annotations

import sys


def main() -> int:
    """Run one analysis with settings from the environment; errors become an exit code."""
    from analysis.config import AnalysisSettings
    from analysis.job import run
    from search.config import QdrantSettings
    from search.errors import EmbedscopeError
    from search.remote import open_store

    try:
        settings = AnalysisSettings()
        settings.check()
        with open_store(QdrantSettings()) as store:
            _, out = run(store, settings)
    except EmbedscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(out / "report.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
