"""The index stage: when the HNSW index of an embedded collection is built, and what the summary says.

Qdrant Edge builds its index only when asked (``optimize()``), synchronously, and holding the
GIL for the whole build (measured with qdrant-edge-py 0.9: a Python thread beside it does not
run at all), so it cannot overlap the embedding in this process. Until it is built, points are
searched by brute force, i.e. exactly. Hence the modes:

- ``after`` (default): the run reports a complete, searchable collection first (the CLI prints
  the summary), then builds the index with a visible line. Interrupting the build (Ctrl-C,
  kill -9) loses nothing: the next ingest of the same dataset skips every stored image and
  builds the index.
- ``wait``: build it before the summary (the run's time includes it).
- ``skip``: leave it; searches stay exact. A later ingest with ``after`` or ``wait`` builds it.

A Qdrant server builds its indexes itself, in the background: nothing to do there.
"""

from __future__ import annotations

import time

from embedscope.ingest.summary import IngestSummary
from embedscope.store import Store

INDEX_MODES = ("after", "wait", "skip")


def build_index(store: Store, name: str, summary: IngestSummary) -> None:
    """Build the collection's index now (a no-op where the server does it) and record it in ``summary``."""
    if store.backend != "embedded":
        summary.index = "server"
        return
    started = time.perf_counter()
    store.optimize(name)
    summary.index_seconds = time.perf_counter() - started
    summary.index = "built"
    summary.indexed_vectors = store.indexed_vectors(name)
