"""Search by words: a phrase embedded by a space that embeds text, its hits shown in any linked space.

The one text-query path the command line, the page and the API share (`phrase_vector`): the
text space is found holding the store, the phrase is embedded after letting it go (the text
model runs — and first loads — outside the store, so that other requests and waiting jobs get
the store meanwhile), and the caller searches with the vector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np

from embedscope.contract import CollectionMeta
from embedscope.errors import UsageError
from embedscope.search.neighbors import Vote, classify, neighbours
from embedscope.search.spaces import Shown, show_in, text_space, text_spaces
from embedscope.store import Store, Where

#: ``use()`` gives the store as a context manager, held until the block ends (the page's and the
#: API's shared hold; a command opens its store).
StoreUse = Callable[[], AbstractContextManager[Store]]


@dataclass(frozen=True)
class Phrase:
    """A phrase ready to embed: its text, the collection whose text tower embeds it (``space``)
    and that collection's metadata (all the model needs; no store)."""

    text: str
    space: str
    meta: CollectionMeta


def find_phrase_space(store: Store, collection: str, text: str, via: str | None = None,
                      linked: bool = False) -> Phrase:
    """The phrase with the space that embeds it for ``collection`` (reads metadata only).

    Args:
        store: An open store.
        collection: The collection the hits are shown in.
        text: The phrase.
        via: The text space (a collection of the same dataset); None: ``collection`` itself or,
            with ``linked``, the first of ``collection`` and its linked collections that embeds text.
        linked: Without ``via``, let a linked collection embed the phrase (the page does).

    Raises:
        UsageError: an empty phrase, or no text space (the message names the linked collections
            that can), or ``via`` holds another dataset.
    """
    phrase = (text or "").strip()
    if not phrase:
        raise UsageError("the phrase is empty: give one, e.g. 'an ankle boot with laces'.")
    space = None
    if via is None and linked:
        found = text_spaces(store, collection)
        space = found[0] if found else None
    if space is None:
        space = text_space(store, collection, via)  # raises, naming how to get a text space
    return Phrase(phrase, space, store.get_meta(space))


def embed_phrase(phrase: Phrase, device: str = "auto", int8: bool = False) -> np.ndarray:
    """The L2-normalised vector of the phrase in its space (the model only: no store).

    Raises:
        ModelError: the space's model has no text tower.
    """
    from embedscope.ingest.query import embed_texts

    return embed_texts(phrase.meta, [phrase.text], device, int8)[0]


def phrase_vector(use: Store | StoreUse, collection: str, text: str, via: str | None = None,
                  linked: bool = False, device: str = "auto", int8: bool = False,
                  check: Callable[[Phrase], None] | None = None) -> tuple[Phrase, np.ndarray]:
    """The one text-query path: the phrase's space found holding the store, its vector embedded
    after letting the store go.

    Args:
        use: The store, or a callable giving it as a context manager (held only to find the
            space: the model runs after).
        collection, text, via, linked: As for `find_phrase_space`.
        device: Where the text tower runs.
        int8: Quantized text tower (faster; vectors near the fp32 ones).
        check: Called with the phrase and its space before embedding (a caller's own rule, such
            as the page's tag filter); raises to refuse.

    Returns:
        The phrase (with the space that answers it) and its vector.

    Raises:
        UsageError: as for `find_phrase_space`, or from ``check``.
    """
    with _as_use(use)() as store:
        phrase = find_phrase_space(store, collection, text, via, linked)
    if check is not None:
        check(phrase)
    return phrase, embed_phrase(phrase, device, int8)


def _as_use(store: Store | StoreUse) -> StoreUse:
    if isinstance(store, Store):
        return lambda: nullcontext(store)
    return store


def text_vectors(store: Store, space: str, texts: Sequence[str], device: str = "auto",
                 int8: bool = False) -> np.ndarray:
    """L2-normalised vectors of ``texts`` in ``space`` (its model's own text tower; ``int8``:
    quantized, faster, near the fp32 vectors).

    Raises:
        UsageError: ``space`` cannot embed text (the message names the linked ones that can).
    """
    text_space(store, space)
    from embedscope.ingest.query import embed_texts

    return embed_texts(store.get_meta(space), list(texts), device, int8)


def search_text(store: Store, collection: str, text: str, k: int = 10, where: Where | None = None,
                exact: bool = False, via: str | None = None, device: str = "auto",
                int8: bool = False) -> Shown:
    """The k points nearest to a phrase, shown in ``collection``.

    The phrase is embedded by ``via`` (a collection of the same dataset whose model embeds
    text) or, without it, by ``collection`` itself; the nearest points of that space are shown
    with ``collection``'s payloads, ids the target lacks listed in ``missing``.

    Args:
        store: An open store.
        collection: The collection to show the hits in.
        text: The phrase.
        k: Number of hits.
        where: Filter on split / label (applied in the text space).
        exact: Brute-force search instead of HNSW.
        via: The text space (None: ``collection``).
        device: Where the text tower runs.
        int8: Quantized text tower (faster; vectors near the fp32 ones).

    Raises:
        UsageError: no text space (the message names the linked collections that can), or
            ``via`` holds another dataset; and as for `neighbours`.
    """
    phrase, vector = phrase_vector(store, collection, text, via, device=device, int8=int8)
    return show_in(store, neighbours(store, phrase.space, vector, None, k, where, exact),
                   phrase.space, collection)


def classify_text(store: Store, collection: str, text: str, k: int = 10,
                  where: Where | None = None, exact: bool = False, via: str | None = None,
                  device: str = "auto") -> tuple[Vote, Shown]:
    """k-NN vote of the points nearest to a phrase (in the text space), voters shown in ``collection``.

    Raises:
        UsageError, MissingLabelsError: as for `search_text` and `classify`.
    """
    phrase, vector = phrase_vector(store, collection, text, via, device=device)
    result = classify(store, phrase.space, vector, None, k, where, exact)
    return result, show_in(store, result.hits, phrase.space, collection)
