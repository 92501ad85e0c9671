"""Stored thumbnails read back: the one reader of a ``thumbnail`` payload, for every page and file.

A thumbnail is payload data, written by ingestion or by any other service with access to the
collection, so nothing is drawn from it unless it is what the collection contract promises:
base64 of a PNG, JPEG, WebP or GIF image that decodes (optionally as a
``data:image/<kind>;base64,`` URL). Anything else — another ``data:`` URL, text that is not
base64, bytes that are no image, an image too large to be a thumbnail — is refused: the reader
returns None and the caller shows no image. The data URL a browser gets is rebuilt from the
decoded image's own format and the checked base64 text, never passed through.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import Any

#: The image formats a thumbnail may have: Pillow's name → the data URL's MIME subtype.
KINDS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}
#: The longest base64 text read as a thumbnail (ingestion stores a few kB).
MAX_CHARS = 2 * 1024 * 1024
#: The most pixels a thumbnail may have (a larger "thumbnail" is refused before it is decoded).
MAX_PIXELS = 2048 * 2048

_PREFIX = re.compile(r"data:image/(png|jpeg|jpg|webp|gif);base64,", re.IGNORECASE)


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail that decoded: its format, its base64 text and the image."""

    kind: str  # png, jpeg, webp or gif
    b64: str  # base64 alphabet only
    image: Any  # PIL image, loaded

    def data_url(self) -> str:
        """``data:image/<kind>;base64,…`` for an ``<img src>``."""
        return f"data:image/{self.kind};base64,{self.b64}"


def _read(raw: Any) -> Thumbnail | str:
    """The thumbnail of a payload value, or why it is none."""
    from PIL import Image

    if not isinstance(raw, str):
        return f"not text but {type(raw).__name__}"
    text = raw.strip()
    if text[:5].lower() == "data:":
        prefix = _PREFIX.match(text)
        if prefix is None:
            return "a data: URL of no PNG/JPEG/WebP/GIF image"
        text = text[prefix.end():]
    text = "".join(text.split())  # base64 wrapped over lines
    if len(text) > MAX_CHARS:
        return f"{len(text):,} characters, more than the {MAX_CHARS:,} a thumbnail may have"
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "not base64"
    try:
        with Image.open(io.BytesIO(data)) as opened:
            kind = KINDS.get(str(opened.format))
            if kind is None:
                return f"a {opened.format} image, not PNG/JPEG/WebP/GIF"
            if opened.width * opened.height > MAX_PIXELS:
                return (f"a {opened.width}×{opened.height} image, more than the {MAX_PIXELS:,} "
                        "pixels a thumbnail may have")
            opened.load()
            image = opened.copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return "decodes to no PNG/JPEG/WebP/GIF image"
    return Thumbnail(kind, base64.b64encode(data).decode("ascii"), image)


def read_thumbnail(raw: Any) -> Thumbnail | None:
    """The thumbnail of a ``thumbnail`` payload value, or None when it is absent or unusable.

    Args:
        raw: The payload value: base64 of a PNG/JPEG/WebP/GIF image, bare or as a
            ``data:image/<kind>;base64,`` URL.
    """
    if raw is None or raw == "":
        return None
    found = _read(raw)
    return found if isinstance(found, Thumbnail) else None


def thumbnail_problem(raw: Any) -> str | None:
    """Why a (present) ``thumbnail`` payload value is unusable, or None when it is a thumbnail."""
    found = _read(raw)
    return None if isinstance(found, Thumbnail) else found


def thumbnail_image(raw: Any) -> Any:
    """The thumbnail as an RGB PIL image (None when absent or unusable)."""
    found = read_thumbnail(raw)
    return None if found is None else found.image.convert("RGB")


def thumbnail_data_url(raw: Any) -> str | None:
    """The thumbnail as a ``data:image/…;base64`` URL (None when absent or unusable)."""
    found = read_thumbnail(raw)
    return None if found is None else found.data_url()


__all__ = ["KINDS", "MAX_CHARS", "MAX_PIXELS", "Thumbnail", "read_thumbnail", "thumbnail_data_url",
           "thumbnail_image", "thumbnail_problem"]
