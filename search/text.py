"""Search by words: a phrase embedded by a space that embeds text, its hits shown in any linked space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedscope.search.neighbors import Vote, classify, neighbours
from embedscope.search.spaces import Shown, show_in, text_space
from embedscope.store import Store, Where


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
    space = text_space(store, collection, via)
    vector = text_vectors(store, space, [text], device, int8)[0]
    return show_in(store, neighbours(store, space, vector, None, k, where, exact), space, collection)


def classify_text(store: Store, collection: str, text: str, k: int = 10,
                  where: Where | None = None, exact: bool = False, via: str | None = None,
                  device: str = "auto") -> tuple[Vote, Shown]:
    """k-NN vote of the points nearest to a phrase (in the text space), voters shown in ``collection``.

    Raises:
        UsageError, MissingLabelsError: as for `search_text` and `classify`.
    """
    space = text_space(store, collection, via)
    vector = text_vectors(store, space, [text], device)[0]
    result = classify(store, space, vector, None, k, where, exact)
    return result, show_in(store, result.hits, space, collection)
