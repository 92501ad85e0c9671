"""The JSON API (`/api/v1`): routes, errors as JSON, the docs page (its door: ui/door.py)."""

from __future__ import annotations

import json
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
from embedscope.ui.api_queries import (
    EmbedRequest,
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
#: Seconds a client should wait before retrying a busy collection (a job has it).
RETRY_AFTER = 5
#: HTTP status of each error class (the first match along the class's MRO); others: 500.
STATUS: dict[type[Exception], int] = {
    TooLargeError: 413, UsageError: 400, BadImageError: 400, MixedSpaceError: 400,
    CollectionNotFoundError: 404, EmptyCollectionError: 404, MissingLabelsError: 409,
    CollectionBusyError: 503, QdrantUnavailableError: 503, DiskFullError: 507,
    DamagedCollectionError: 500,
}


def error_code(exc: Exception) -> str:
    """``CollectionBusyError`` → ``collection_busy``."""
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


def _body_schema(model: Any, multipart: bool = True) -> dict[str, Any]:
    schema = model.model_json_schema()
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if multipart:
        form = json.loads(json.dumps(schema))
        form["properties"].pop("image", None)
        form["properties"] = {"file": {"type": "string", "format": "binary",
                                       "description": "the image file"}, **form["properties"]}
        content["multipart/form-data"] = {"schema": form}
    return {"requestBody": {"required": True, "content": content}}


def _fail(status: int, code: str, message: str, exit_code: int | None = None,
          headers: dict[str, str] | None = None) -> Any:
    """An error response: ``{"error": {"code", "message", "exit_code"}}``."""
    from fastapi.responses import JSONResponse

    return JSONResponse(error_body(code, message, exit_code), status, headers=headers)


async def _form_request(request: Request, model: Any) -> tuple[Any, str | bytes | None, str]:
    """A multipart request: its fields as ``model``, the `file` (or `image`) part and its name."""
    form = await request.form()
    upload = form.get("file") or form.get("image")
    fields: dict[str, Any] = {k: v for k, v in form.items() if k not in ("file", "image")}
    if "fields" in fields:
        fields["fields"] = [f.strip() for f in str(fields["fields"]).split(",") if f.strip()]
    if "vector" in fields:
        fields["vector"] = json.loads(str(fields["vector"]))
    req = model.model_validate(fields)
    raw: str | bytes | None = None
    name = "the image"
    if upload is not None and hasattr(upload, "read"):
        raw = await upload.read()
        name = getattr(upload, "filename", None) or name
    elif isinstance(upload, str):
        raw = upload
    return req, raw, name


async def parse(request: Request, model: Any, settings: ServingSettings) -> tuple[Any, bytes | None]:
    """The request (JSON, or multipart with a `file` part) and its image's checked bytes.

    Raises:
        TooLargeError: the request is over the upload limit.
        UsageError: the body is not valid JSON or form data for ``model``.
    """
    from pydantic import ValidationError
    from starlette.concurrency import run_in_threadpool

    limit = settings.max_upload_mb
    length = int(request.headers.get("content-length") or 0)
    if length > limit * MB * 4 / 3 + 65536:  # base64 inflates by a third
        raise TooLargeError(too_large("the request", length, limit))
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            req, raw, name = await _form_request(request, model)
        else:
            req = model.model_validate_json(await request.body())
            raw, name = req.image, "the image"
    except ValidationError as exc:
        raise UsageError(_validation_message(exc.errors())) from None
    except ValueError as exc:
        raise UsageError(f"the request body is not valid JSON or form data ({exc}).") from None
    data = await run_in_threadpool(image_bytes, raw, limit, name)
    return req, data


def _add_error_handlers(app: Any, settings: ServingSettings) -> None:
    """The one translation of errors into JSON (credentials: the door, ui/door.py)."""
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(EmbedscopeError)
    async def embedscope_error(request: Request, exc: EmbedscopeError) -> Any:
        status = status_of(exc)
        headers = {"Retry-After": str(RETRY_AFTER)} if status == 503 else None
        return _fail(status, error_code(exc), str(exc), exc.exit_code, headers)

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

    @app.get(f"{PREFIX}/collections", summary="The collections, with model, dimension and points")
    async def get_collections() -> dict[str, Any]:
        return {"collections": await run_in_threadpool(collections, session)}

    @app.post(f"{PREFIX}/embed", summary="An image's vector in a collection's space",
              openapi_extra=_body_schema(EmbedRequest))
    async def post_embed(request: Request) -> dict[str, Any]:
        req, data = await parse(request, EmbedRequest, settings)
        return await run_in_threadpool(embed, session, req, data)

    @app.post(f"{PREFIX}/search", summary="Top-k neighbours of an image, point or vector",
              openapi_extra=_body_schema(QueryRequest))
    async def post_search(request: Request) -> dict[str, Any]:
        req, data = await parse(request, QueryRequest, settings)
        return await run_in_threadpool(search, session, req, data)

    @app.post(f"{PREFIX}/classify", summary="k-NN vote of an image, point or vector",
              openapi_extra=_body_schema(QueryRequest))
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
        description="Embed an image with a collection's own model, search a collection by image, "
        "point or vector, classify by k-NN. Errors are JSON: {\"error\": {\"code\", \"message\"}}.",
        openapi_url=f"{PREFIX}/openapi.json", docs_url=None, redoc_url=None,
    )
    app.state.session = session
    _add_error_handlers(app, settings)
    _add_routes(app, session, settings)
    return app


def _validation_message(errors: Any) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "bad request: " + "; ".join(parts)


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
                                f"{html.escape(str(v.get('description', v.get('type', ''))))}</li>"
                                for k, v in props.items())
                fields += f"<p><b>{html.escape(kind)}</b></p><ul>{items}</ul>"
            rows.append(f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                        f"<p>{html.escape(op.get('summary', ''))}</p>{fields}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>embedscope API</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}</style></head>"
            f"<body><h1>embedscope API</h1><p>{html.escape(schema['info'].get('description', ''))}"
            f"</p><p>Schema: <a href='{PREFIX}/openapi.json'>{PREFIX}/openapi.json</a>. Errors: "
            "<code>{\"error\": {\"code\", \"message\", \"exit_code\"}}</code>; a busy collection "
            "answers 503 with <code>Retry-After</code>.</p>" + "".join(rows) + "</body></html>")
