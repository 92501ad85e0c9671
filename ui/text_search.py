"""Search by words on the page: a phrase embedded by the collection's or a linked text space."""

from __future__ import annotations

import functools
from typing import Any

from embedscope.errors import UsageError
from embedscope.ui.binding import escape
from embedscope.ui.images import tiles
from embedscope.ui.results import SearchResult
from embedscope.ui.service import Session


def text_space(session: Session, collection: str) -> str | None:
    """The collection that embeds a phrase for ``collection`` (itself first, else a linked one)."""
    from embedscope.search.spaces import text_spaces

    with session.store() as s:
        spaces = text_spaces(s, collection)
    return spaces[0] if spaces else None


def search_text(session: Session, collection: str, text: str, k: int, split: str | None = None,
                label: str | None = None, tag: str | None = None) -> SearchResult:
    """Neighbours and k-NN prediction of a phrase, shown in ``collection``.

    The phrase is embedded by the text space (`text_space`) through the one text-query path
    (search/text.py: the model runs outside the store's hold); its nearest points are shown with
    ``collection``'s thumbnails and captions, and a hit the collection does not hold is named.

    Raises:
        UsageError: an empty phrase, or no space of the dataset embeds text (naming how to get one).
    """
    from embedscope.search.spaces import show_in
    from embedscope.search.text import phrase_vector

    phrase = (text or "").strip()
    if not phrase:
        raise UsageError("type a phrase to search by, e.g. 'an ankle boot with laces'.")
    found, vector = phrase_vector(session.store, collection, phrase, linked=True,
                                  device=session.settings.device, int8=session.settings.text_int8,
                                  check=functools.partial(_own_points_only, collection, tag))
    space = found.space
    where = session.where(collection, split, label, tag)
    result = session.search_vector(space, k, where, label, vector)
    with session.store() as s:
        shown = show_in(s, result.hits, space, collection)
    result.hits, result.gallery = shown.hits, tiles(shown.hits)
    via = f" (embedded by {space})" if space != collection else ""
    result.query_caption = f"“{phrase}”{via}"
    if shown.missing:
        result.prediction += (f"\n\n⚠️ {len(shown.missing)} of the hits of {escape(space)} are "
                              f"not in {escape(collection)}: {escape(', '.join(shown.missing))}")
    return result


def _own_points_only(collection: str, tag: str | None, found: Any) -> None:
    """Refuse a tag filter on a phrase another collection answers (tags are per collection)."""
    if found.space != collection and tag not in (None, "", "(all)"):
        raise UsageError(f"the tag filter applies to {collection}'s own points, and this phrase "
                         f"is searched in {found.space}: set Tag to (all) for a search by words.")
