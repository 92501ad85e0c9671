"""What the page's tabs share: the tab registry, the context tabs build from, what they give back."""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from embedscope.registry import IDENTIFIER, Registry
from embedscope.ui.binding import Guard, usage
from embedscope.ui.config import UISettings
from embedscope.ui.service import Session

__all__ = ["TABS", "CollectionSync", "Tab", "TabBuilder", "TabContext", "TabHandles", "page_tabs",
           "register_tab", "usage"]


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
            stored point in the Search tab; ``"tabs"`` — the page's ``gr.Tabs``;
            ``"collection_info"`` — the page's line on the collection (its latest analysis
            among others), for an event that reads the collection again.
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


# --- the tab registry ------------------------------------------------------------------------

@dataclass(frozen=True)
class Tab:
    """A registered page tab.

    Attributes:
        name: The tab's id (``gr.Tab(id=…)``).
        build: Lays the tab out inside the page's ``gr.Tabs`` and wires its events.
        place: Tabs show in increasing ``place`` (the built-ins: search 10, explore 20, report
            30), ties in registration order. A tab is built after the tabs before it, so it can
            read what they put in ``TabContext.shared``.
    """

    name: str
    build: TabBuilder
    place: int = 100


def _builtin_tabs() -> None:
    for module in ("embedscope.ui.search_tab", "embedscope.ui.map.tab", "embedscope.ui.report_tab"):
        importlib.import_module(module)  # each registers itself on import


#: The page's tabs by id: one registration per tab module (``register_tab``); plugins add tabs
#: through the entry-point group ``embedscope.ui_tabs``.
TABS: Registry[Tab] = Registry("page tab", "embedscope.ui_tabs", builtins=_builtin_tabs,
                               pattern=IDENTIFIER, pattern_hint="a lower-case identifier")


def register_tab(name: str, place: int = 100) -> Callable[[TabBuilder], TabBuilder]:
    """Decorator: add ``build(ctx) -> TabHandles`` as the page tab ``name``.

    Args:
        name: The tab's id (lower-case identifier).
        place: Where the tab shows among the others (see ``Tab.place``).

    Raises:
        RegistrationError: the name is malformed or already registered.
    """

    def add(build: TabBuilder) -> TabBuilder:
        TABS.add(name, Tab(name, build, place))
        return build

    return add


def page_tabs() -> list[Tab]:
    """The registered tabs in the order the page shows them."""
    return sorted(TABS.values(), key=lambda tab: tab.place)
