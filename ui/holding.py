"""The page's hold on the store: the core's serving hold (embedscope/store/hold.py; the whole
sharing protocol is told in store/locks.py) over a serving store, let go after the page's idle
setting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embedscope.settings import QdrantSettings
from embedscope.store import Store
from embedscope.store.hold import StoreHold

__all__ = ["StoreHold", "page_hold", "serving_store"]


def serving_store(qdrant: QdrantSettings | None = None) -> Store:
    """The store the page and the API serve from: a serving one (it lets go of an embedded
    collection a job asks for and never waits for one); an unreachable server is waited for
    ``qdrant_interactive_seconds``, as every interactive command does."""
    from embedscope.store import open_store

    return open_store(qdrant or QdrantSettings(), serving=True)


def page_hold(settings: Callable[[], Any], open_store: Callable[[], Store] | None = None,
              store: Store | None = None, qdrant: QdrantSettings | None = None) -> StoreHold:
    """The hold every page visitor and API request shares.

    Args:
        settings: The page's current settings (``idle_release_seconds`` is read at each check).
        open_store: The store's factory (default: `serving_store` over ``qdrant``).
        store: An already open store to start with.
        qdrant: Where the store is (default: EMBEDSCOPE_QDRANT_URL / EMBEDSCOPE_DATA_DIR).
    """
    return StoreHold(open_store or (lambda: serving_store(qdrant)),
                     lambda: float(settings().idle_release_seconds), store)
