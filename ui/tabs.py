"""What the page's tabs share: the context they build from and the handles they give back."""

# No `from __future__ import annotations` (see ui/app.py), like the tab modules built on it.

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from embedscope.errors import EmbedscopeError, UsageError
from embedscope.ui.config import UISettings
from embedscope.ui.service import Session

Handler = Callable[..., dict]
Guard = Callable[[Handler], Handler]


@dataclass
class TabContext:
    """The shared pieces every tab builds from.

    Attributes:
        session: The store and model session behind the page.
        settings: The UI settings.
        collection: The collection dropdown (an input of most handlers).
        status: The status Markdown (every handler's last output; written by ``guard``).
        guard: ``guarded(status)``: wraps a handler returning ``{component: value}`` so that
            an EmbedscopeError becomes a message in ``status``.
        shared: Components tabs share by name, for linked views (a tab built earlier puts
            them here, a later tab reads them): ``"search_result"`` — a ``gr.State`` the
            Search tab sets after each search to ``{"collection": str, "query_id": str | None,
            "neighbour_ids": list[str]}`` (or None); ``"find_similar"`` — a hidden
            ``gr.Textbox``: any tab writes ``"<point id> <nonce>"`` to it to search by that
            stored point in the Search tab; ``"tabs"`` — the page's ``gr.Tabs``.
    """

    session: Session
    settings: UISettings
    collection: Any
    status: Any
    guard: Guard
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass
class CollectionSync:
    """The page's answer to a collection change, for tab events that change the collection.

    Attributes:
        outputs: Every component a collection change writes, ``status`` last.
        values: Collection name (or None) → ``{component: value}`` for those components.
    """

    outputs: list[Any]
    values: Callable[[str | None], dict]


@dataclass
class TabHandles:
    """What a tab gives back to the page.

    Attributes:
        outputs: The tab's components that ``on_collection`` writes, in a fixed order.
        on_collection: Collection name (or None when there is none) → ``{component: value}``
            for ``outputs``: the tab's part of a collection change (no guard: the page guards).
        wire: Called once every tab is built, with the page's CollectionSync, for events of
            this tab that refresh the whole page.
    """

    outputs: list[Any] = field(default_factory=list)
    on_collection: Callable[[str | None], dict] | None = None
    wire: Callable[[CollectionSync], None] | None = None


TabBuilder = Callable[[TabContext], TabHandles]


def usage(message: str) -> EmbedscopeError:
    """A UsageError for a handler to raise (the guard shows it in the status line).

    Args:
        message: What the user should do, e.g. "choose a collection first.".

    Returns:
        The error, to be raised.
    """
    return UsageError(message)
