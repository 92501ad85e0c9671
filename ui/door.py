"""The serving process's one door: every request — the page, Gradio's routes (config, info,
queue, upload, files), the API, websockets — passes a Host / Origin check, the credentials check
and a body limit counted while the body streams, in this one ASGI middleware."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from embedscope.ui.config import LOOPBACK, ServingSettings
from embedscope.ui.images import MB
from embedscope.ui.login import LOGIN_SECONDS, Keys, local_path, login_url, page

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/v1"
#: Gradio's upload route (the page is mounted at /).
UPLOAD_PATH = "/gradio_api/upload"
LOGIN_PATH, LOGOUT_PATH = "/login", "/logout"
#: Room for a multipart body's boundaries and part headers around the file.
MULTIPART_SLACK = 64 * 1024
#: The page's own events (a map selection is 4 bytes a point) may be this large at least.
PAGE_EVENT_FLOOR = 64 * MB
#: The login form's body.
FORM_LIMIT = 16 * 1024
#: A failed login waits this long before its answer (slows guessing).
FAILED_LOGIN_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    """The largest body each route reads, in bytes."""

    api: int
    upload: int
    other: int

    @classmethod
    def of(cls, max_upload_mb: float) -> Limits:
        """The API: one image as base64 plus the JSON around it (as ``api.parse`` counts it);
        Gradio's upload route: one file plus its multipart framing; other page routes: as the
        API, but at least :data:`PAGE_EVENT_FLOOR`."""
        upload = int(max_upload_mb * MB)
        api = int(max_upload_mb * MB * 4 / 3 + 65536)
        return cls(api=api, upload=upload + MULTIPART_SLACK, other=max(api, PAGE_EVENT_FLOOR))

    def of_path(self, path: str) -> int:
        """The limit of ``path``."""
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return self.api
        if path == UPLOAD_PATH:
            return self.upload
        return self.other


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"Host"`` header → (name in lower case, port or None); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
    if not name or (port and not port.isdigit()):
        return None
    return name, int(port) if port else None


def is_ip(name: str) -> bool:
    """Whether ``name`` is an IP address literal (a name no DNS answer can re-point)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Door:
    """The ASGI middleware around the whole serving app.

    - **Host**: a server bound to loopback answers only requests whose Host is a loopback name
      (DNS rebinding); one off loopback without credentials (--insecure) only IP literals and
      loopback names; one with credentials any Host.
    - **Origin**: a request whose Origin is present and not this server's own is refused (403),
      on every route (another site's page never drives this one).
    - **Credentials** (where an API key or --auth is set, on every route but /login and
      /logout): ``Authorization: Bearer KEY``, or the cookie that /login gives for the key or
      the --auth pair. Without: a browser's page request is sent to /login, anything else
      answers 401 in the API's error JSON; a wrong bearer token answers 403.
    - **Bodies**: Content-Length over the route's limit answers 413 before reading; otherwise the
      bytes are counted as they arrive and reading stops at the limit with 413.
    """

    def __init__(self, app: ASGIApp, settings: ServingSettings,
                 login: tuple[str, str] | None = None) -> None:
        key = settings.api_key.get_secret_value().strip() if settings.api_key is not None else None
        self.app = app
        self.keys = Keys(api_key=key, login=login)
        self.hosts = ("loopback" if settings.loopback()
                      else "any" if self.keys.locked else "ip")
        self.limits = Limits.of(settings.max_upload_mb)
        self.max_upload_mb = settings.max_upload_mb
        self.bind = settings.host
        #: Cookies are per host, not per port: the port in the name keeps two servers apart.
        self.cookie = f"embedscope_login_{settings.port}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers

        headers = Headers(scope=scope)
        foreign = self.foreign(headers)
        if foreign is not None:
            await self._refuse(scope, receive, send, 403, *foreign)
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and path in (LOGIN_PATH, LOGOUT_PATH):
            await self._login(scope, receive, send, headers)
            return
        if self.keys.locked:
            refused = self.credentials(headers)
            if refused is not None:
                await self._unauthenticated(scope, receive, send, headers, *refused)
                return
        if scope["type"] == "http":
            await self._bounded(scope, receive, send, headers, self.limits.of_path(path))
        else:
            await self.app(scope, receive, send)

    # --- the checks --------------------------------------------------------------------------

    def foreign(self, headers: Any) -> tuple[str, str] | None:
        """(code, message) when the Host or the Origin is not one this server answers."""
        host = headers.get("host")
        if host is not None:
            parsed = split_host(host)
            name = parsed[0] if parsed else ""
            if self.hosts == "loopback" and name not in LOOPBACK:
                return ("foreign_host", f"refused: Host {host!r} is not a loopback name "
                        f"(127.0.0.1, localhost, [::1]); this server listens on {self.bind} only, "
                        "so another name means a re-pointed DNS answer. Open it as "
                        "http://127.0.0.1:PORT/.")
            if self.hosts == "ip" and name not in LOOPBACK and not is_ip(name):
                return ("foreign_host", f"refused: Host {host!r} is a name, and this server has "
                        "no credentials (--insecure), so it answers IP addresses and loopback "
                        "names only (a re-pointed DNS name could reach it from another site). "
                        "Open it by its IP address, or give it --api-key.")
        origin = headers.get("origin")
        if origin is not None and not self.same_origin(
                origin, host, headers.get("x-forwarded-host")):
            return ("foreign_origin", f"refused: a page of {origin!r} may not use this server "
                    "(its Origin is not this server's own).")
        return None

    @staticmethod
    def same_origin(origin: str, host: str | None, forwarded: str | None) -> bool:
        """Whether ``origin`` names this server: the Host, or a proxy's X-Forwarded-Host."""
        try:
            o = urlsplit(origin.strip())
            port = o.port
        except ValueError:
            return False
        if o.scheme not in ("http", "https") or not o.hostname:
            return False
        default = 443 if o.scheme == "https" else 80
        for candidate in (host, (forwarded or "").split(",")[0]):
            parsed = split_host(candidate) if candidate else None
            if parsed is not None and parsed[0] == o.hostname.lower() and (
                    (parsed[1] or default) == (port or default)):
                return True
        return False

    def credentials(self, headers: Any) -> tuple[int, str, str] | None:
        """(status, code, message) when the request carries no credentials that open the door."""
        from starlette.requests import cookie_parser

        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            if self.keys.bearer(token.strip()):
                return None
            return (403, "wrong_token", "the bearer token is not this server's API key.")
        cookie = cookie_parser(headers.get("cookie") or "").get(self.cookie)
        if cookie and self.keys.valid(cookie):
            return None
        if self.keys.api_key is None:
            return (401, "no_api_key", "this server needs its page's login: open /login in a "
                    "browser. It has no API key for services: restart it with --api-key KEY.")
        return (401, "missing_token", "this server needs its API key: send `Authorization: "
                "Bearer KEY` (the server's --api-key), or log in at /login in a browser.")

    # --- answers -----------------------------------------------------------------------------

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, code: str,
                      message: str, headers: dict[str, str] | None = None) -> None:
        if scope["type"] == "websocket":  # closed before accept: the client sees HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": code})
            return
        from starlette.responses import JSONResponse

        from embedscope.ui.api import error_body

        await JSONResponse(error_body(code, message), status, headers=headers)(scope, receive, send)

    async def _unauthenticated(self, scope: Scope, receive: Receive, send: Send, headers: Any,
                               status: int, code: str, message: str) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "http" and status == 401 and scope["method"] in ("GET", "HEAD")
                and "text/html" in headers.get("accept", "") and not path.startswith(API_PREFIX)):
            from starlette.responses import RedirectResponse

            query = scope.get("query_string", b"").decode("latin-1")
            await RedirectResponse(login_url(path, query), 303)(scope, receive, send)
            return
        extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await self._refuse(scope, receive, send, status, code, message, extra)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int,
                         size: int | None) -> None:
        from starlette.responses import JSONResponse

        from embedscope.ui.api import error_body

        what = f"{size / MB:.1f} MB" if size is not None else "over it"
        message = (f"the request body is {what}; this route reads at most {limit / MB:.1f} MB "
                   f"(--max-upload-mb {self.max_upload_mb:g}). Send a smaller image, or raise "
                   "--max-upload-mb.")
        response = JSONResponse(error_body("too_large", message, 2), 413,
                                headers={"Connection": "close"})
        await response(scope, receive, send)

    # --- bounded bodies ----------------------------------------------------------------------

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, headers: Any,
                       limit: int) -> None:
        """Run the app with a ``receive`` that stops at ``limit`` bytes and answers 413."""
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = 0
        if length > limit:
            await self._too_large(scope, receive, send, limit, length)
            return
        state = {"read": 0, "over": False, "started": False, "answered": False}

        async def counted() -> Message:
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True
                    if not state["started"]:
                        state["answered"] = True
                        await self._too_large(scope, receive, send, limit, None)
                    return {"type": "http.disconnect"}  # the app stops reading here
            return message

        async def sending(message: Message) -> None:
            if state["over"]:
                return  # the 413 went out; what the app says after a disconnect is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except Exception:
            if not state["over"]:
                raise  # a body cut short may make the app fail; that is the 413's doing
        if state["over"] and not state["answered"] and not state["started"]:
            await self._too_large(scope, receive, send, limit, None)

    # --- /login and /logout ------------------------------------------------------------------

    async def _login(self, scope: Scope, receive: Receive, send: Send, headers: Any) -> None:
        from starlette.requests import cookie_parser
        from starlette.responses import HTMLResponse, RedirectResponse, Response

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        target = local_path((query.get("next") or ["/"])[0])
        response: Response
        if scope["path"] == LOGOUT_PATH:
            token = cookie_parser(headers.get("cookie") or "").get(self.cookie)
            if token:
                self.keys.revoke(token)
            response = RedirectResponse(LOGIN_PATH, 303)
            response.delete_cookie(self.cookie, path="/", httponly=True, samesite="strict")
        elif not self.keys.locked:  # nothing to log into
            response = RedirectResponse(target, 303)
        elif scope["method"] in ("GET", "HEAD"):
            response = HTMLResponse(page(target, user_field=self.keys.login is not None),
                                    headers={"Cache-Control": "no-store"})
        elif scope["method"] != "POST":
            response = HTMLResponse("method not allowed", 405, headers={"Allow": "GET, POST"})
        else:
            body = await _read_small(receive, FORM_LIMIT)
            if body is None:
                await self._too_large(scope, receive, send, FORM_LIMIT, None)
                return
            form = parse_qs(body.decode("utf-8", "replace"))
            target = local_path((form.get("next") or [target])[0])
            user = (form.get("username") or [""])[0]
            password = (form.get("password") or [""])[0]
            if self.keys.opens(user, password):
                response = RedirectResponse(target, 303)
                response.set_cookie(self.cookie, self.keys.issue(), max_age=LOGIN_SECONDS,
                                    path="/", httponly=True, samesite="strict",
                                    secure=scope.get("scheme") == "https")
            else:
                await asyncio.sleep(FAILED_LOGIN_SECONDS)
                message = ("wrong user or password." if self.keys.login is not None
                           else "wrong key.")
                response = HTMLResponse(page(target, message, self.keys.login is not None), 401,
                                        headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


async def _read_small(receive: Receive, limit: int) -> bytes | None:
    """A short body (a form), or None past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
