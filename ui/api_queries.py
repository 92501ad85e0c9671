"""What the JSON API does, without HTTP: collections, embed, search and classify on a Session."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.store import Hit, Where
from embedscope.ui.images import MB, check_image, too_large
from embedscope.ui.service import Session

#: Payload fields a hit carries when the caller names none (no thumbnail: ask for it).
DEFAULT_FIELDS = [Payload.LABEL, Payload.LABEL_NAME, Payload.SPLIT, Payload.INDEX, Payload.SOURCE,
                  Payload.DATASET]


class EmbedRequest(BaseModel):
    """An image (base64) or a phrase to embed in a collection's space."""

    collection: str = Field(description="The collection whose model embeds the query.")
    image: str | None = Field(default=None, description="The image file's bytes, base64 "
                              "(a data: URL prefix is accepted). Multipart: a `file` part.")
    text: str | None = Field(default=None, description="A phrase (spaces with a text tower only).")


class QueryRequest(EmbedRequest):
    """What to search with (exactly one of image, text, point_id, vector) and how."""

    point_id: str | None = Field(default=None, description="A stored point's id (it is left "
                                 "out of its own hits).")
    vector: list[float] | None = Field(default=None, description="A vector of the collection's "
                                       "dimension.")
    k: int = Field(default=10, description="Neighbours (and voters).")
    split: str | None = Field(default=None, description="Only candidates of this split.")
    label: str | None = Field(default=None, description="Only candidates of this class (id or "
                              "name).")
    tag: str | None = Field(default=None, description="Only candidates carrying this tag.")
    fields: list[str] | None = Field(default=None, description="Payload fields each hit carries "
                                     f"(default: {', '.join(DEFAULT_FIELDS)}; add `thumbnail` "
                                     "for the base64 thumbnail).")


class TooLargeError(UsageError):
    """A query image over the upload limit (HTTP 413)."""


def image_bytes(raw: str | bytes | None, max_mb: float, name: str = "the image") -> bytes | None:
    """The image's bytes (base64 decoded), checked against the upload limit and ingestion's rules.

    Raises:
        UsageError: not valid base64; TooLargeError: over the limit;
        BadImageError: not a usable image (empty, not an image, a bomb, too small).
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw.split(",", 1)[1] if raw.startswith("data:") else raw
        if len(text) * 3 // 4 > max_mb * MB + 3:
            raise TooLargeError(too_large(name, len(text) * 3 // 4, max_mb))
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError("`image` is not valid base64: send the file's bytes base64-encoded, "
                             "or as a multipart `file` part.") from None
    else:
        data = raw
    if len(data) > max_mb * MB:
        raise TooLargeError(too_large(name, len(data), max_mb))
    check_image(data, name)
    return data


def collections(session: Session) -> list[dict[str, Any]]:
    """Every embedscope collection: name, model, dimension, points (the last recorded count
    while a job holds it), classes."""
    out = []
    with session.store() as s:
        for name in s.list_collections():
            meta = s.stored_meta(name)
            if meta is None:
                continue
            record = s.integrity_record(name)
            try:
                points: int | None = s.count(name)
            except Exception:  # busy or unreachable: the recorded count, if any
                points = record.points if record is not None else None
            out.append({"name": name, "points": points, **space(meta),
                        "dimension": meta.dimension, "labels": list(meta.labels),
                        "analysis": meta.analysis.get("run_id")})
    return out


def space(meta: Any) -> dict[str, Any]:
    """What defines a collection's vector space (a vector is comparable only within one)."""
    return {"model": meta.model, "revision": meta.revision, "pooling": meta.pooling,
            "image_size": meta.image_size}


def embed(session: Session, req: EmbedRequest, data: bytes | None) -> dict[str, Any]:
    """The vector of an image (or phrase) in a collection's space.

    Raises:
        UsageError: neither or both of image and text, or text in an image-only space.
    """
    with session.store() as s:
        meta = s.get_meta(req.collection)
    vector = _embed(session, meta, data, req.text)
    return {"collection": req.collection, "vector": [float(x) for x in vector],
            "dimension": int(len(vector)), "space": space(meta), "model": meta.model}


def _embed(session: Session, meta: Any, data: bytes | None, text: str | None) -> np.ndarray:
    if (data is None) == (text is None):
        raise UsageError("give exactly one of an image (base64 `image` or a multipart `file`) "
                         "and `text`.")
    if text is not None:
        raise UsageError(f"the model {meta.model} embeds images only: search it with an image, "
                         "a point id or a vector.")
    return session.embed_image(meta, data)


def _query(session: Session, req: QueryRequest, data: bytes | None) -> tuple[Any, Where | None, str | None]:
    given = [x for x in (data, req.text, req.point_id, req.vector) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of an image (base64 `image` or a multipart `file`), "
                         "`text`, `point_id` and `vector`.")
    k = session.check_k(req.k)  # the page's bounds: 1..max_k
    req.k = k
    where = session.where(req.collection, req.split, req.label, req.tag)
    vector = None
    if data is not None or req.text is not None:
        with session.store() as s:
            meta = s.get_meta(req.collection)
        vector = _embed(session, meta, data, req.text)
    elif req.vector is not None:
        vector = np.asarray(req.vector, dtype=np.float32)
    return vector, where, req.point_id


def search(session: Session, req: QueryRequest, data: bytes | None) -> dict[str, Any]:
    """The top-k neighbours of an image, phrase, stored point or vector."""
    from embedscope.search import knn

    vector, where, point_id = _query(session, req, data)
    with session.store() as s:
        hits = knn.neighbours(s, req.collection, vector, point_id, req.k, where)
        return {"collection": req.collection, "k": req.k,
                "hits": _hits(s, req.collection, hits, req.fields)}


def classify(session: Session, req: QueryRequest, data: bytes | None) -> dict[str, Any]:
    """The k-NN vote of an image, phrase, stored point or vector."""
    from embedscope.search import knn

    vector, where, point_id = _query(session, req, data)
    with session.store() as s:
        vote = knn.classify(s, req.collection, vector, point_id, req.k, where)
        out = vote.to_json()
        out["hits"] = _hits(s, req.collection, vote.hits, req.fields)
    return {"collection": req.collection, "k": req.k, **out}


def _hits(store: Any, collection: str, hits: list[Hit], fields: list[str] | None) -> list[dict]:
    wanted = list(DEFAULT_FIELDS if fields is None else fields)
    missing = [f for f in wanted if any(f not in h.payload for h in hits)]
    extra: dict[str, dict[str, Any]] = {}
    if missing and hits:
        found = store.retrieve(collection, [h.id for h in hits], missing)
        extra = {r.id: r.payload for r in found}
    out = []
    for h in hits:
        payload = {**h.payload, **extra.get(h.id, {})}
        out.append({"id": h.id, "score": round(float(h.score), 6),
                    "payload": {f: payload[f] for f in wanted if f in payload}})
    return out
