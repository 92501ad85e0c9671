"""The store: one interface (store.base) and the factory that opens the backend the settings name.

Everything outside the store imports from here: ``from embedscope.store import Store, open_store``.
"""

from __future__ import annotations

from typing import Any

from embedscope.store.base import CollectionSummary, PayloadFields, Store, Where
from embedscope.store.facets import Facet
from embedscope.store.points import Hit, Record, as_matrix


def open_store(settings: Any = None, batch: bool = False, serving: bool = False) -> Store:
    """The store the settings point at: a server when a URL is set, embedded otherwise.

    Args:
        settings: QdrantSettings (default: from EMBEDSCOPE_* variables).
        batch: A batch command (ingest, analyze, push, pull): an unreachable server is retried
            for ``qdrant_retry_seconds``. Otherwise (interactive commands, the UI) the command
            fails after ``qdrant_interactive_seconds``.
        serving: A serving process (ui, serve): an embedded collection is let go when a job
            asks for it, and never waited for. Other commands wait ``lock_wait_seconds`` for a
            serving process to let go (the protocol: store/locks.py).
    """
    from embedscope.settings import QdrantSettings
    from embedscope.store.edge import EdgeStore
    from embedscope.store.remote import RemoteStore

    settings = settings or QdrantSettings()
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        wire = {"grpc": settings.qdrant_grpc, "grpc_port": settings.qdrant_grpc_port,
                "upload_parallel": settings.qdrant_upload_parallel}
        if batch:
            return RemoteStore(settings.qdrant_url, key, settings.qdrant_timeout,
                               settings.qdrant_retry_seconds, **wire)
        return RemoteStore(settings.qdrant_url, key, settings.qdrant_timeout,
                           settings.qdrant_interactive_seconds, interactive=True, **wire)
    return EdgeStore(settings.embedded_dir, disk_reserve_mb=settings.disk_reserve_mb,
                     serving=serving, lock_wait=settings.lock_wait_seconds)


__all__ = [
    "CollectionSummary", "Facet", "Hit", "PayloadFields", "Record", "Store", "Where", "as_matrix", "open_store",
]
