"""The JSON API (`/api/v1`): routes, errors as JSON, the docs page (its door: ui/door.py)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from embedscope.errors import (
    CollectionBusyError,
    CollectionNotFoundError,
    DamagedCollectionError,
    DiskFullError,
    EmbedscopeError,
    EmptyCollectionError,
    MissingLabelsError,
    MixedSpaceError,
    QdrantUnavailableError,
    UsageError,
)
from embedscope.ingest.errors import BadImageError
from embedscope.search.spaces import TextSpaceError
from embedscope.ui import api_schema as contract
from embedscope.ui.api_queries import (
    EmbedRequest,
    InvalidRequestError,
    QueryRequest,
    TooLargeError,
    classify,
    collections,
    embed,
    image_bytes,
    search,
)
from embedscope.ui.config import ServingSettings
from embedscope.ui.images import MB, too_large
from embedscope.ui.service import Session

PREFIX = "/api/v1"
#: How the API names a linked text space in its messages: the request field (the command line
#: says --via).
VIA_FIELD = '`"via": "{}"`'
#: Seconds a client should wait before retrying a busy collection (a job has it).
RETRY_AFTER = 5
#: HTTP status of each error class (the first match along the class's MRO); others: 500. A request
#: that breaks the schema is a 400; one the schema accepts but the collection cannot answer, a 422.
STATUS: dict[type[Exception], int] = {
    TooLargeError: 413, InvalidRequestError: 400, UsageError: 422, BadImageError: 422,
    MixedSpaceError: 422,
    CollectionNotFoundError: 404, EmptyCollectionError: 404, MissingLabelsError: 409,
    CollectionBusyError: 503, QdrantUnavailableError: 503, DiskFullError: 507,
    DamagedCollectionError: 500,
}


def error_code(exc: Exception) -> str:
    """``CollectionBusyError`` → ``collection_busy`` (a request that breaks the schema: ``usage``,
    as every other usage error)."""
    if isinstance(exc, InvalidRequestError):
        return "usage"
    name = type(exc).__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_body(code: str, message: str, exit_code: int | None = None) -> dict[str, Any]:
    """The JSON every error answers with: a code and the CLI's one-line message."""
    body: dict[str, Any] = {"code": code, "message": message}
    if exit_code is not None:
        body["exit_code"] = exit_code
    return {"error": body}


def status_of(exc: Exception) -> int:
    """The HTTP status of an embedscope error."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500




def _fail(status: int, code: str, message: str, exit_code: int | None = None,
          headers: dict[str, str] | None = None) -> Any:
    """An error response: ``{"error": {"code", "message", "exit_code"}}``."""
    from fastapi.responses import JSONResponse

    return JSONResponse(error_body(code, message, exit_code), status, headers=headers)


async def _form_request(request: Request, model: Any, context: dict[str, Any],
                        max_part: int) -> tuple[Any, str | bytes | None, str]:
    """A multipart request: its fields as ``model``, the image (a `file` part, or an `image` part:
    base64 text or a file) and the file's name. Lists (`vector`, `fields`) are repeated parts."""
    from starlette.datastructures import UploadFile

    form = await request.form(max_part_size=max_part)
    values: dict[str, list[Any]] = {}
    for key, value in form.multi_items():
        values.setdefault(key, []).append(value)
    files = values.pop("file", []) + [v for v in values.get("image", []) if isinstance(v, UploadFile)]
    values["image"] = [v for v in values.get("image", []) if isinstance(v, str)]
    fields: dict[str, Any] = {}
    for key, got in values.items():
        if key not in model.model_fields:
            continue  # unknown parts are ignored, as unknown JSON fields are
        if key in LIST_FIELDS:
            fields[key] = got
        elif len(got) > 1:
            raise InvalidRequestError(f"`{key}` is given {len(got)} times: give it once.")
        elif got:
            fields[key] = got[0]
    req = model.model_validate(fields, context={**context, "uploads": len(files)})
    if not files:
        return req, req.image, "the image"
    if isinstance(files[0], str):  # a `file` part sent without a file name
        return req, files[0].encode("utf-8", "surrogateescape"), "the file"
    return req, await files[0].read(), files[0].filename or "the image"


#: Request fields that are lists: repeated parts in a multipart form.
LIST_FIELDS = ("vector", "fields")


def _max_body(settings: ServingSettings) -> int:
    """The largest body (or form part) read: the upload limit, base64-inflated, plus the fields."""
    return int(settings.max_upload_mb * MB * 4 / 3 + 65536)


async def parse(request: Request, model: Any, settings: ServingSettings) -> tuple[Any, bytes | None]:
    """The request (JSON, or multipart with a `file` part) and its image's checked bytes.

    The model checks what the schema says (types, ranges, exactly one query), so a request the
    schema accepts passes here.

    Raises:
        TooLargeError: the request is over the upload limit.
        InvalidRequestError: the body is not valid JSON or form data for ``model``.
        UsageError, BadImageError: the image is not base64, or not a usable image.
    """
    from pydantic import ValidationError
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    limit = settings.max_upload_mb
    length = int(request.headers.get("content-length") or 0)
    if length > _max_body(settings):  # base64 inflates by a third
        raise TooLargeError(too_large("the request", length, limit))
    context = {"max_k": settings.max_k}
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            req, raw, name = await _form_request(request, model, context, _max_body(settings))
        else:
            req = model.model_validate_json(await request.body(), strict=True, context=context)
            raw, name = req.image, "the image"
    except ValidationError as exc:
        raise InvalidRequestError(_validation_message(exc.errors())) from None
    except (ValueError, HTTPException) as exc:
        detail = getattr(exc, "detail", None) or exc
        raise InvalidRequestError(f"the request body is not valid JSON or form data ({detail}).") from None
    data = await run_in_threadpool(image_bytes, raw, limit, name)
    return req, data


def _add_error_handlers(app: Any, settings: ServingSettings) -> None:
    """The one translation of errors into JSON (credentials: the door, ui/door.py)."""
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(EmbedscopeError)
    async def embedscope_error(request: Request, exc: EmbedscopeError) -> Any:
        status = status_of(exc)
        headers = {"Retry-After": str(RETRY_AFTER)} if status == 503 else None
        message = exc.worded(VIA_FIELD) if isinstance(exc, TextSpaceError) else str(exc)
        return _fail(status, error_code(exc), message, exc.exit_code, headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Any:
        return _fail(400, "usage", _validation_message(exc.errors()), 2)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Any:
        import logging

        logging.getLogger(__name__).exception("API request failed")
        return _fail(500, "internal", f"the server failed: {type(exc).__name__}: "
                     f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")


def _add_routes(app: Any, session: Session, settings: ServingSettings) -> None:
    """The routes: each parses, then runs its query (api_queries) off the event loop."""
    from fastapi.responses import HTMLResponse
    from starlette.concurrency import run_in_threadpool

    @app.get(f"{PREFIX}/collections", summary="The collections, with model, dimension and points",
             responses=contract.responses("collections", contract.Collections),
             response_model=None)
    async def get_collections() -> dict[str, Any]:
        return {"collections": await run_in_threadpool(collections, session)}

    @app.post(f"{PREFIX}/embed", summary="An image's (or phrase's) vector in a collection's space",
              openapi_extra=contract.body(EmbedRequest, settings),
              responses=contract.responses("embed", contract.Embedded),
              response_model=None)
    async def post_embed(request: Request) -> dict[str, Any]:
        req, data = await parse(request, EmbedRequest, settings)
        return await run_in_threadpool(embed, session, req, data)

    @app.post(f"{PREFIX}/search", summary="Top-k neighbours of an image, phrase, point or vector",
              openapi_extra=contract.body(QueryRequest, settings),
              responses=contract.responses("search", contract.Found),
              response_model=None)
    async def post_search(request: Request) -> dict[str, Any]:
        req, data = await parse(request, QueryRequest, settings)
        return await run_in_threadpool(search, session, req, data)

    @app.post(f"{PREFIX}/classify", summary="k-NN vote of an image, phrase, point or vector",
              openapi_extra=contract.body(QueryRequest, settings),
              responses=contract.responses("classify", contract.Classified),
              response_model=None)
    async def post_classify(request: Request) -> dict[str, Any]:
        req, data = await parse(request, QueryRequest, settings)
        return await run_in_threadpool(classify, session, req, data)

    @app.get(f"{PREFIX}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi()))


def build_api(session: Session, settings: ServingSettings) -> Any:
    """The FastAPI app of the API alone (`embedscope serve`); `ui` mounts the page on it."""
    from fastapi import FastAPI

    app = FastAPI(
        title="embedscope API", version="1",
        description="Embed an image or a phrase with a collection's own model, search a collection "
        "by image, phrase, point or vector, classify by k-NN. Errors are JSON: "
        "`{\"error\": {\"code\", \"message\", \"exit_code\"}}`; 400: the request breaks this schema, "
        "422: the schema accepts it but the collection cannot answer it.",
        openapi_url=f"{PREFIX}/openapi.json", docs_url=None, redoc_url=None,
    )
    app.state.session = session
    _add_error_handlers(app, settings)
    _add_routes(app, session, settings)
    _add_security(app)
    return app


def _add_security(app: Any) -> None:
    """The schema names the bearer scheme (a key when the server has one)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract.security(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes))
        return dict(app.openapi_schema)

    app.openapi = openapi


def _validation_message(errors: Any) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {str(err.get('msg')).removeprefix('Value error, ')}")
    return "bad request: " + "; ".join(parts)


def _text(text: str) -> str:
    """Schema text as HTML: escaped, with `inline code` shown as code."""
    import html

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def docs_page(schema: dict[str, Any]) -> str:
    """A self-contained HTML page describing every route of the OpenAPI schema (no CDN)."""
    import html

    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            fields = ""
            for kind, spec in body.items():
                props = spec.get("schema", {}).get("properties", {})
                items = "".join(f"<li><code>{html.escape(k)}</code>: "
                                f"{_text(str(v.get('description', v.get('type', ''))))}</li>"
                                for k, v in props.items())
                fields += f"<p><b>{html.escape(kind)}</b></p><ul>{items}</ul>"
            answers = "".join(f"<li><b>{html.escape(str(status))}</b>: "
                              f"{_text(str(r.get('description', '')))}</li>"
                              for status, r in op.get("responses", {}).items())
            rows.append(f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                        f"<p>{_text(op.get('summary', ''))}</p>{fields}"
                        f"<p><b>answers</b></p><ul>{answers}</ul>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>embedscope API</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}</style></head>"
            f"<body><h1>embedscope API</h1><p>{_text(schema['info'].get('description', ''))}"
            f"</p><p>Schema: <a href='{PREFIX}/openapi.json'>{PREFIX}/openapi.json</a>. A busy "
            "collection answers 503 with <code>Retry-After</code>.</p>" + "".join(rows)
            + "</body></html>")
