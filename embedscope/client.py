"""A client of the JSON API (`embedscope ui` / `embedscope serve`): embed, search, classify."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from embedscope.errors import EmbedscopeError, UsageError


class APIError(EmbedscopeError):
    """The server answered an error: its HTTP status, code and one-line message."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


class Client:
    """``Client("http://127.0.0.1:7860", api_key=None)``: the API at ``url``/api/v1.

    Images are a path, ``bytes`` or a file's base64 text; every call returns the server's JSON.
    Each thread keeps one connection open between calls (a new connection costs a request
    ~0.5 ms more); a connection the server closed while idle is opened again once.

    Args:
        url: The server's base URL (where the page is, or `embedscope serve`).
        api_key: The server's --api-key (sent as a bearer token), if it has one.
        timeout: Seconds one request may take.
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/") + "/api/v1"
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"not an http(s) URL: {url!r} (e.g. http://127.0.0.1:7860)")
        self._https = parts.scheme == "https"
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path
        self.api_key = api_key
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and fresh:
            conn.close()
        if conn is None or fresh:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next call opens one again)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in (0, 1):
            conn = self._connection(fresh=attempt > 0)
            reused = conn.sock is not None
            try:
                conn.request(method, self._path + path, data, headers)
                answer = conn.getresponse()
                raw = answer.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused and attempt == 0:  # the server closed it while idle: every call reads
                    continue
                raise APIError(0, "unreachable", f"cannot reach {self.url}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out, no such host
                conn.close()
                raise APIError(0, "unreachable", f"cannot reach {self.url}: {exc}") from None
        if answer.status < 400:
            return json.loads(raw)
        try:
            err = json.loads(raw)["error"]
            code, message = str(err["code"]), str(err["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "http", f"HTTP {answer.status}: {raw[:200]!r}"
        after = answer.getheader("Retry-After")
        raise APIError(answer.status, code, message, float(after) if after else None)

    def collections(self) -> list[dict[str, Any]]:
        """Every collection: name, model, dimension, points, classes."""
        return list(self._call("GET", "/collections")["collections"])

    def embed(self, collection: str, image: str | Path | bytes | None = None,
              text: str | None = None) -> dict[str, Any]:
        """``{"vector", "dimension", "model", "space"}`` of an image in a collection's space."""
        return dict(self._call("POST", "/embed", {"collection": collection,
                                                  "image": _b64(image), "text": text}))

    def search(self, collection: str, image: str | Path | bytes | None = None, *,
               point_id: str | None = None, vector: list[float] | None = None,
               text: str | None = None, k: int = 10, split: str | None = None,
               label: str | int | None = None, tag: str | None = None,
               fields: list[str] | None = None, via: str | None = None) -> list[dict[str, Any]]:
        """The top-k hits (``{"id", "score", "payload"}``) of one query (exactly one of image,
        point_id, vector, text; ``via``: the linked collection that embeds the text)."""
        return list(self._call("POST", "/search", _query(collection, image, point_id, vector, text,
                                                         k, split, label, tag, fields, via))["hits"])

    def classify(self, collection: str, image: str | Path | bytes | None = None, *,
                 point_id: str | None = None, vector: list[float] | None = None,
                 text: str | None = None, k: int = 10, split: str | None = None,
                 label: str | int | None = None, tag: str | None = None,
                 fields: list[str] | None = None, via: str | None = None) -> dict[str, Any]:
        """The k-NN vote: ``label_name``, ``weighted_label_name``, shares, counts and hits
        (with ``via``: also ``space`` and the ``missing`` ids)."""
        return dict(self._call("POST", "/classify", _query(collection, image, point_id, vector,
                                                           text, k, split, label, tag, fields,
                                                           via)))


def _b64(image: str | Path | bytes | None) -> str | None:
    if image is None:
        return None
    if isinstance(image, bytes):
        return base64.b64encode(image).decode()
    try:
        is_file = isinstance(image, Path) or Path(image).is_file()
    except OSError:  # a long base64 text is no file name
        is_file = False
    if is_file:
        return base64.b64encode(Path(image).read_bytes()).decode()
    return str(image)  # already base64


def _query(collection: str, image: Any, point_id: str | None, vector: list[float] | None,
           text: str | None, k: int, split: str | None, label: Any, tag: str | None,
           fields: list[str] | None, via: str | None = None) -> dict[str, Any]:
    return {"collection": collection, "image": _b64(image), "point_id": point_id, "via": via,
            "vector": [float(x) for x in vector] if vector is not None else None, "text": text,
            "k": k, "split": split, "label": None if label is None else str(label), "tag": tag,
            "fields": fields}
