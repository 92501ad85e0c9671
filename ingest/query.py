"""Embed a query image (or text) exactly as ingestion embedded the collection (model loaded once per process)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from embedscope.contract import CollectionMeta
from embedscope.ingest.decode import ImageSource, decode
from embedscope.ingest.models import Embedder, load_embedder


@functools.lru_cache(maxsize=4)
def _embedder(model: str, pooling: str, image_size: int | None, revision: str | None,
              device: str, int8: bool = False) -> Embedder:
    # the model family that built the collection rebuilds the embedder from its metadata alone
    embedder = load_embedder(model, pooling=pooling, image_size=image_size, device=device,
                             revision=revision)
    if int8:
        embedder.quantize_text()
    return embedder


def embedder_for(meta: CollectionMeta, device: str = "auto", int8: bool = False) -> Embedder:
    """The (cached) embedder that built a collection with this metadata (``int8``: its text
    tower quantized, a separate cached copy used for text queries only)."""
    return _embedder(meta.model, meta.pooling, meta.image_size, meta.revision, device, int8)


def query_pixels(meta: CollectionMeta, image: ImageSource, device: str = "auto") -> Any:
    """``image`` decoded as the collection's embedder takes it (mode and size): what
    ``embedder_for(meta).embed_batch`` embeds, alone or batched with other queries.

    Raises:
        BadImageError: the image cannot be decoded (the message says why).
    """
    embedder = embedder_for(meta, device)
    return decode(image, embedder.mode, embedder.decode_size, min_side=1).pixels


def embed_query(meta: CollectionMeta, image: ImageSource, device: str = "auto") -> np.ndarray:
    """One L2-normalised vector for ``image`` in the collection's space.

    Raises:
        BadImageError: the image cannot be decoded (the message says why).
    """
    return embedder_for(meta, device).embed_batch([query_pixels(meta, image, device)])[0]


def embed_texts(meta: CollectionMeta, texts: Sequence[str], device: str = "auto",
                int8: bool = False) -> np.ndarray:
    """L2-normalised vectors for ``texts`` in the collection's space (its model's text tower).

    ``int8``: the text tower's linear layers in int8 (dynamic quantization on the CPU): several
    times faster, vectors near the fp32 ones (a cosine of about 0.99 to them).

    Raises:
        ModelError: the collection's model has no text tower.
    """
    return embedder_for(meta, device, int8).embed_texts(texts)
