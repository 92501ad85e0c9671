"""What the JSON API does, without HTTP: collections, embed, search and classify on a Session."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.store import Hit, Where
from embedscope.ui.images import MB, check_image, too_large
from embedscope.ui.service import Session

#: Payload fields a hit carries when the caller names none (no thumbnail: ask for it).
DEFAULT_FIELDS = [Payload.LABEL, Payload.LABEL_NAME, Payload.SPLIT, Payload.INDEX, Payload.SOURCE,
                  Payload.DATASET]
#: A phrase holds a character other than white space, for JSON Schema's `\s` (ECMA-262) and
#: for Python's ``str.strip`` alike (Python also counts U+001C–U+001F and U+0085 as white space).
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
#: Neighbours when a request names no ``k`` (at most the server's max_k).
DEFAULT_K = 10


def _exactly_one(queries: tuple[str, ...], text_only: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON-schema form of "exactly one of ``queries`` is given (not null)"; the fields in
    ``text_only`` may be given only beside ``text``."""
    branches = []
    for name in queries:
        others = [q for q in queries if q != name] + ([] if name == "text" else list(text_only))
        props: dict[str, Any] = {name: {"not": {"type": "null"}}}
        props.update({f: {"type": "null"} for f in others})
        branches.append({"required": [name], "properties": props})
    return {"oneOf": branches}


class EmbedRequest(BaseModel):
    """An image (base64) or a phrase to embed in a collection's space: exactly one of them."""

    #: The query fields; a request gives exactly one (a multipart `file` part counts as `image`;
    #: ``parse`` passes their number as the validation context's ``uploads``).
    QUERIES: ClassVar[tuple[str, ...]] = ("image", "text")
    model_config = ConfigDict(json_schema_extra=_exactly_one(QUERIES))

    collection: str = Field(min_length=1, description="The collection whose model embeds the "
                            "query (unknown: 404).")
    image: str | None = Field(default=None, description="The image file's bytes, base64 "
                              "(a data: URL prefix is accepted). Multipart: a `file` part.")
    text: Annotated[str, Field(json_schema_extra={"pattern": NOT_BLANK})] | None = Field(
        default=None, description="A phrase (not blank), embedded by the collection's own text "
        "tower (CLIP, SigLIP spaces; search and classify can also take it through `via`).")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        """The schema's NOT_BLANK pattern, said in words."""
        if value is not None and not value.strip():
            raise ValueError("`text` is blank: give a phrase, e.g. 'an ankle boot with laces'.")
        return value

    @model_validator(mode="after")
    def _one_query(self, info: ValidationInfo) -> EmbedRequest:
        """Exactly one query (the multipart upload counts, see ``parse``); `via` only with text."""
        given = [f for f in self.QUERIES if getattr(self, f) is not None]
        given += ["file"] * int((info.context or {}).get("uploads", 0))
        if len(given) != 1:
            raise ValueError(f"give exactly one of {_query_names(self.QUERIES)}; got "
                             f"{', '.join(f'`{g}`' for g in given) or 'none'}.")
        if getattr(self, "via", None) is not None and self.text is None:
            raise ValueError("`via` names the text space of a phrase: give `text` with it.")
        return self


class QueryRequest(EmbedRequest):
    """What to search with (exactly one of image, text, point_id, vector) and how."""

    QUERIES: ClassVar[tuple[str, ...]] = ("image", "text", "point_id", "vector")
    model_config = ConfigDict(json_schema_extra=_exactly_one(QUERIES, ("via",)))

    via: str | None = Field(default=None, min_length=1, description="With `text` only: a "
                            "collection of the same dataset whose model embeds text; the phrase is "
                            "searched there and the hits carry `collection`'s payloads (ids it "
                            "lacks are listed in `missing`). Default: `collection` itself.")

    point_id: Annotated[str, Field(json_schema_extra={"format": "uuid"})] | None = Field(
        default=None, description="A stored point's id, a UUID (it is left out of its own hits).")
    vector: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        default=None, min_length=1, description="A vector of the collection's dimension.")
    k: int = Field(default=DEFAULT_K, ge=1, description="Neighbours (and voters), 1 to the "
                   "server's --max-k.")
    split: str | None = Field(default=None, description="Only candidates of this split.")
    label: str | None = Field(default=None, description="Only candidates of this class (id or "
                              "name).")
    tag: str | None = Field(default=None, description="Only candidates carrying this tag.")
    fields: list[str] | None = Field(default=None, description="Payload fields each hit carries "
                                     f"(default: {', '.join(DEFAULT_FIELDS)}; add `thumbnail` "
                                     "for the base64 thumbnail).")

    @field_validator("point_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError:
                raise ValueError(f"point ids are UUIDs, like '1b4e28ba-2fa1-11d2-883f-"
                                 f"0016d3cca427'; got {value!r}.") from None
        return value

    @field_validator("k", mode="before")
    @classmethod
    def _integral(cls, value: Any) -> Any:
        """JSON Schema counts 17.0 as an integer: so does the API."""
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @field_validator("k")
    @classmethod
    def _k_at_most_max_k(cls, value: int, info: ValidationInfo) -> int:
        top = (info.context or {}).get("max_k")
        if top is not None and value > top:
            raise ValueError(f"k must be between 1 and {top} (the server's --max-k), got {value}.")
        return value

    @model_validator(mode="after")
    def _default_k(self, info: ValidationInfo) -> QueryRequest:
        """Without `k`: DEFAULT_K, or the server's max_k where that is smaller."""
        top = (info.context or {}).get("max_k")
        if "k" not in self.model_fields_set and top is not None:
            self.k = min(self.k, top)
        return self


def _query_names(queries: tuple[str, ...]) -> str:
    names = ["an image (base64 `image` or a multipart `file`)"]
    names += [f"`{q}`" for q in queries if q != "image"]
    return ", ".join(names[:-1]) + " and " + names[-1]


class InvalidRequestError(UsageError):
    """A request that breaks the API's schema: not JSON or form data, or a field out of its
    type or range (HTTP 400; a schema-valid request that cannot be answered is a 422)."""


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
                points: int | None = s.points(name)  # the engine's counter, not a pass over N
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
        UsageError: neither or both of image and text, or text in a space without a text tower
            (the message names the collections of the same dataset that have one).
    """
    if (data is None) == (req.text is None):
        raise UsageError("give exactly one of an image (base64 `image` or a multipart `file`) "
                         "and `text`.")
    with session.store() as s:
        meta = s.get_meta(req.collection)
    if req.text is not None:
        vector = _phrase_vector(session, req.collection, req.text, None)[1]
    if data is not None:
        vector = session.embed_image(meta, data)
    return {"collection": req.collection, "vector": [float(x) for x in vector],
            "dimension": int(len(vector)), "space": space(meta), "model": meta.model}


def _phrase_vector(session: Session, collection: str, text: str,
                   via: str | None) -> tuple[Any, np.ndarray]:
    """A phrase's text space and vector through the one text-query path (search/text.py: the
    model runs outside the store's hold), with the page's device and precision."""
    from embedscope.search.text import phrase_vector

    if not text.strip():
        raise UsageError("`text` is empty: give a phrase, e.g. 'an ankle boot with laces'.")
    return phrase_vector(session.store, collection, text, via, device=session.settings.device,
                         int8=bool(getattr(session.settings, "text_int8", False)))


def _query(session: Session, req: QueryRequest,
           data: bytes | None) -> tuple[Any, Where | None, str | None, str]:
    """The query vector (or stored point), the filter, and the collection that answers it (the
    text space for a phrase)."""
    given = [x for x in (data, req.text, req.point_id, req.vector) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of an image (base64 `image` or a multipart `file`), "
                         "`text`, `point_id` and `vector`.")
    if req.via is not None and req.text is None:
        raise UsageError("`via` names the text space of a phrase: give `text` with it.")
    k = session.check_k(req.k)  # the page's bounds: 1..max_k
    req.k = k
    where = session.where(req.collection, req.split, req.label, req.tag)
    answering = req.collection
    vector = None
    if req.text is not None:
        if req.via not in (None, req.collection) and req.tag is not None:
            raise UsageError("`tag` filters the collection's own points: it cannot filter a "
                             "phrase searched through another collection (`via`).")
        phrase, vector = _phrase_vector(session, req.collection, req.text, req.via)
        answering = phrase.space
    elif data is not None:
        with session.store() as s:
            meta = s.get_meta(req.collection)
        vector = session.embed_image(meta, data)
    elif req.vector is not None:
        vector = np.asarray(req.vector, dtype=np.float32)
    return vector, where, req.point_id, answering


def search(session: Session, req: QueryRequest, data: bytes | None) -> dict[str, Any]:
    """The top-k neighbours of an image, phrase, stored point or vector."""
    from embedscope.search import knn
    from embedscope.search.spaces import show_in

    vector, where, point_id, answering = _query(session, req, data)
    with session.store() as s:
        hits = knn.neighbours(s, answering, vector, point_id, req.k, where)
        shown = show_in(s, hits, answering, req.collection)
        return {"collection": req.collection, "k": req.k,
                "hits": _hits(s, req.collection, shown.hits, req.fields, _fetched(shown)),
                **_note(hits, req.k, answering, where), **_linked(shown)}


def classify(session: Session, req: QueryRequest, data: bytes | None) -> dict[str, Any]:
    """The k-NN vote of an image, phrase, stored point or vector."""
    from embedscope.search import knn
    from embedscope.search.spaces import show_in

    vector, where, point_id, answering = _query(session, req, data)
    with session.store() as s:
        vote = knn.classify(s, answering, vector, point_id, req.k, where)
        shown = show_in(s, vote.hits, answering, req.collection)
        out = vote.to_json()
        out["hits"] = _hits(s, req.collection, shown.hits, req.fields, _fetched(shown))
    return {"collection": req.collection, "k": req.k, **out,
            **_note(vote.hits, req.k, answering, where), **_linked(shown)}


def _note(hits: list[Hit], k: int, collection: str, where: Any) -> dict[str, Any]:
    """``{"note": …}`` when fewer than k hits came back (read from the result; nothing counted)."""
    from embedscope.search import knn

    note = knn.shortfall(hits, k, collection, where)
    return {"note": note} if note else {}


def _linked(shown: Any) -> dict[str, Any]:
    """For a phrase searched through another collection: which answered, and its hits the
    collection does not hold (never dropped silently)."""
    if shown.space == shown.target:
        return {}
    return {"space": shown.space, "missing": list(shown.missing)}


def _fetched(shown: Any) -> tuple[str, ...]:
    """The payload fields the search already read for each hit (a field absent from a hit's
    payload then is absent from the point): none when the hits were shown in another space."""
    from embedscope.search.neighbors import HIT_FIELDS

    return HIT_FIELDS if shown.space == shown.target else ()


def _hits(store: Any, collection: str, hits: list[Hit], fields: list[str] | None,
          fetched: tuple[str, ...] = ()) -> list[dict]:
    wanted = list(DEFAULT_FIELDS if fields is None else fields)
    missing = [f for f in wanted if f not in fetched and any(f not in h.payload for h in hits)]
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
