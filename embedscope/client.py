"""A client of the JSON API (`embedscope ui` / `embedscope serve`): embed, search, classify."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from embedscope.errors import EmbedscopeError


class APIError(EmbedscopeError):
    """The server answered an error: its HTTP status, code and one-line message."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


class Client:
    """``Client("http://127.0.0.1:7860", api_key=None)``: the API at ``url``/api/v1.

    Images are a path, ``bytes`` or a file's base64 text; every call returns the server's JSON.

    Args:
        url: The server's base URL (where the page is, or `embedscope serve`).
        api_key: The server's --api-key (sent as a bearer token), if it has one.
        timeout: Seconds one request may take.
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/") + "/api/v1"
        self.api_key = api_key
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                err = json.loads(raw)["error"]
                code, message = str(err["code"]), str(err["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http", f"HTTP {exc.code}: {raw[:200]!r}"
            after = exc.headers.get("Retry-After")
            raise APIError(exc.code, code, message, float(after) if after else None) from None
        except urllib.error.URLError as exc:
            raise APIError(0, "unreachable", f"cannot reach {self.url}: {exc.reason}") from None

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
