"""The JSON API's OpenAPI contract: the answers' models, the statuses of each route, the bodies."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, Field

from embedscope.ui.api_queries import DEFAULT_K
from embedscope.ui.config import ServingSettings

# --- answers -----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """What went wrong: a code, the command line's one-line message and its exit code."""

    code: str = Field(description="e.g. `usage`, `bad_image`, `collection_not_found`, "
                      "`collection_busy`, `missing_token`.")
    message: str = Field(description="The one-line message the command line prints: the bad "
                         "value, what was expected, the fix.")
    exit_code: int | None = Field(default=None, description="The command line's exit code for "
                                  "this error (absent for HTTP-only errors such as auth).")


class Error(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "exit_code"?}}``, never a traceback."""

    error: ErrorDetail


class Collection(BaseModel):
    """A collection and its vector space."""

    name: str
    points: int | None = Field(description="Points stored (the last recorded count while a job "
                               "holds the collection; null when unknown).")
    model: str
    revision: str | None
    pooling: str
    image_size: int | None
    dimension: int
    labels: list[str] = Field(description="Class names; index = label id.")
    analysis: str | None = Field(description="The run id of the last analysis, if any.")


class Collections(BaseModel):
    """The embedscope collections of the store."""

    collections: list[Collection]


class Space(BaseModel):
    """What defines a vector space: vectors compare only within one."""

    model: str
    revision: str | None
    pooling: str
    image_size: int | None


class Embedded(BaseModel):
    """A query's vector in a collection's space (L2-normalised)."""

    collection: str
    vector: list[float]
    dimension: int
    space: Space
    model: str


class Hit(BaseModel):
    """A neighbour: its id, cosine similarity and the payload fields asked for."""

    id: str
    score: float
    payload: dict[str, Any]


class Linked(BaseModel):
    """With `via` naming another collection: which collection answered, and what it found that
    the asked collection does not hold (never dropped silently)."""

    space: str | None = Field(default=None, description="The collection the phrase was searched "
                              "in (only when `via` names another collection).")
    missing: list[str] | None = Field(default=None, description="Ids found there that "
                                      "`collection` does not hold (only with `space`).")


class Found(Linked):
    """The top-k neighbours of a query, best first."""

    collection: str
    k: int
    hits: list[Hit]
    note: str | None = Field(default=None, description="Present when fewer than `k` points "
                             "match: fewer hits come back, and this says so.")


class Classified(Linked):
    """The k-NN vote of a query: majority and similarity-weighted, with the voters."""

    collection: str
    k: int
    note: str | None = Field(default=None, description="Present when fewer than `k` points "
                             "match: fewer hits come back, and this says so.")
    label: int = Field(description="The majority class id (-1: no labelled voter).")
    label_name: str
    weighted_label: int
    weighted_label_name: str
    majority: dict[str, float] = Field(description="Class name → share of the k votes.")
    weighted: dict[str, float] = Field(description="Class name → share of the summed similarity.")
    counts: dict[str, int] = Field(description="Class name → votes.")
    neighbours: list[dict[str, Any]] = Field(description="The voters: id, score and payload "
                                             "fields (no thumbnail).")
    hits: list[Hit]


# --- statuses ----------------------------------------------------------------------------------

#: What each error status means here (the codes a client sees with it).
ERRORS: dict[int, str] = {
    400: "The request breaks this schema: not JSON or form data, a field of the wrong type or "
         "out of range (`k` above --max-k), not exactly one query, `via` without `text`. Code "
         "`usage`.",
    401: "A server with an API key and no bearer token: send `Authorization: Bearer KEY`. "
         "Codes `missing_token`, `no_api_key` (a server off loopback without a key).",
    403: "A bearer token that is not the server's key (`wrong_token`), or a request the server "
         "refuses to serve from where it came.",
    404: "No such collection (`collection_not_found`), or no point matches the filters "
         "(`empty_collection`).",
    409: "Classify on a collection without labels (`missing_labels`).",
    413: "The body or the image is over --max-upload-mb (`too_large`).",
    422: "A request this schema accepts that the collection cannot answer: an image that is not "
         "one or not base64 (`bad_image`, `usage`), a phrase in a space without a text tower, a "
         "`via` of another dataset, a vector of another dimension, an unknown point, split or "
         "class, a collection name the store cannot hold (`usage`), a mix of spaces "
         "(`mixed_space`).",
    500: "A damaged collection (`damaged_collection`) or a bug (`internal`).",
    503: "A job holds the embedded collection (`collection_busy`, with Retry-After) or the "
         "Qdrant server is unreachable (`qdrant_unavailable`).",
    507: "The disk of the embedded store is full (`disk_full`).",
}
#: The statuses each route can answer besides 200.
ROUTE_ERRORS: dict[str, tuple[int, ...]] = {
    "collections": (401, 403, 500, 503, 507),
    "embed": (400, 401, 403, 404, 413, 422, 500, 503, 507),
    "search": (400, 401, 403, 404, 413, 422, 500, 503, 507),
    "classify": (400, 401, 403, 404, 409, 413, 422, 500, 503, 507),
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying a busy collection.",
                          "schema": {"type": "string"}}},
}


def responses(route: str, answer: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: its 200 answer and every error status it can give."""
    out: dict[int | str, dict[str, Any]] = {200: {"model": answer, "description": answer.__doc__}}
    for status in ROUTE_ERRORS[route]:
        out[status] = {"model": Error, "description": ERRORS[status]}
        if status in _HEADERS:
            out[status]["headers"] = _HEADERS[status]
    return out


# --- request bodies ----------------------------------------------------------------------------


def body(model: Any, settings: ServingSettings) -> dict[str, Any]:
    """The ``requestBody`` of a route taking ``model``: as JSON, or as multipart form data with
    the image as a `file` part; ``k`` bounded by the server's max_k."""
    schema = model.model_json_schema()
    if "k" in schema["properties"]:
        schema["properties"]["k"].update(maximum=settings.max_k,
                                         default=min(DEFAULT_K, settings.max_k))
    content = {"application/json": {"schema": schema},
               "multipart/form-data": {"schema": _form(schema, model.QUERIES)}}
    return {"requestBody": {"required": True, "content": content}}


def _form(schema: dict[str, Any], queries: tuple[str, ...]) -> dict[str, Any]:
    """The multipart form of a JSON request schema: no nulls (a part is given or not), lists as
    repeated parts, and a `file` part that counts as the image."""
    form = copy.deepcopy(schema)
    props: dict[str, Any] = {"file": {"type": "string", "contentMediaType": "application/octet-stream",
                                      "description": "The image file (counts as `image`)."}}
    for name, prop in form["properties"].items():
        kinds = [p for p in prop.pop("anyOf", []) if p.get("type") != "null"]
        if kinds:
            prop.update(kinds[0])
            prop.pop("default", None)
        if name == "image":
            prop["description"] = "The image as base64 text (or give a `file` part)."
        props[name] = prop
    form["properties"] = props
    given = ("file", *queries)
    text_only = [f for f in ("via",) if f in props]
    form["oneOf"] = [  # each query part excludes the others (a part is there or not: no nulls)
        {"required": [q], "properties": {o: False for o in given + tuple(text_only)
                                         if o != q and not (q == "text" and o in text_only)}}
        for q in given]
    form["description"] = (f"{schema.get('description', '')} Lists (`vector`, `fields`) are "
                           "repeated parts, one value each.").strip()
    return form


def security(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the bearer scheme: the server's key when it has one (none on loopback)."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http", "scheme": "bearer",
        "description": "The server's --api-key. A loopback server without a key needs none.",
    }
    for methods in schema.get("paths", {}).values():
        for op in methods.values():
            op["security"] = [{"bearer": []}, {}]
    return schema
