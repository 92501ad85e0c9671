"""Images for the page: upload checks, decoded thumbnails and their captions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.thumbnails import thumbnail_image

#: A gallery entry: (PIL image, caption).
Tile = tuple[Any, str]
#: Bytes in a megabyte, as Gradio counts them (its own upload check uses the same limit).
MB = 1024 * 1024
#: Thumbnails smaller than this are enlarged (nearest neighbour) so the gallery shows pixels.
MIN_SIDE = 112


def check_upload(path: str | Path | None, max_mb: float) -> Path:
    """The uploaded file, if there is one and it is within the size limit.

    Raises:
        UsageError: nothing was uploaded, or the file is larger than ``max_mb`` megabytes.
    """
    if path is None or str(path) == "":
        raise UsageError("no query image: upload, paste or drop an image first.")
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"the upload {file.name!r} is gone; upload it again.")
    size = file.stat().st_size
    if size > max_mb * MB:
        raise UsageError(too_large(file.name, size, max_mb))
    return file


def too_large(name: str, size: int, max_mb: float) -> str:
    """The page's words for an upload over the limit (the server's check and the browser's)."""
    return (f"{name} is {size / MB:.1f} MB; the upload limit is {max_mb:g} MB. Upload a "
            "smaller image, or raise EMBEDSCOPE_UI_MAX_UPLOAD_MB.")


def not_usable(name: str, reason: str) -> str:
    """The page's words for a file that cannot be a query image."""
    return (f"{name} cannot be used as a query image: {reason}. Upload a PNG, JPEG, WebP, GIF, "
            "BMP or TIFF image.")


def refusal(raw: str | None, max_mb: float) -> str | None:
    """The page's message for a file the browser refused before uploading it.

    Args:
        raw: What the page's script reports: JSON ``{"name", "size", "reason": "size" | "empty" | "type",
            "type", "nonce"}`` (empty: nothing refused).
        max_mb: The upload limit.
    """
    import json

    if not raw:
        return None
    try:
        info = json.loads(raw)
        name, size = str(info.get("name") or "the file"), int(info.get("size") or 0)
    except (ValueError, TypeError, AttributeError):
        return None
    if info.get("reason") == "size":
        return too_large(name, size, max_mb)
    if info.get("reason") == "empty":
        return not_usable(name, "empty file (0 bytes)")
    kind = info.get("type") or "an unknown type"
    return not_usable(name, f"it is not an image file ({kind})")


def check_image(file: Path | bytes, name: str | None = None) -> None:
    """Apply ingestion's rules (readable, not a decompression bomb, big enough) to a query file
    (a path, or the bytes of an upload called ``name``).

    The ingest decoder does the checking, with the ingest defaults of --max-pixels and
    --min-side, so a query is refused exactly when ingesting the same file would reject it.

    Raises:
        BadImageError: the file would be rejected by ingestion (the message names the file).
    """
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.decode import decode
    from embedscope.ingest.errors import BadImageError

    fields = IngestSettings.model_fields
    max_pixels, min_side = fields["max_pixels"].default, fields["min_side"].default
    try:
        decode(file, "L", 8, max_pixels=max_pixels, min_side=min_side, thumbnail_size=8)
    except BadImageError as exc:
        reason = str(exc)
        if reason.startswith("decompression bomb"):
            found = re.search(r"(\d[\d,]*) pixels", reason)
            count = f"{int(found.group(1).replace(',', '')):,} pixels" if found else "too many pixels"
            reason = (f"it has {count}, more than the {max_pixels:,} an image may have "
                      "(the ingest limit, which guards against decompression bombs)")
        label = name or (file.name if isinstance(file, Path) else "the image")
        raise BadImageError(not_usable(label, reason)) from exc


def decode_thumbnail(raw: str | None) -> Any:
    """A stored thumbnail as an RGB PIL image, enlarged when tiny (None if absent or unusable:
    embedscope/thumbnails.py decides)."""
    img = thumbnail_image(raw)
    return None if img is None else enlarged(img)


def enlarged(img: Any, limit: int = MIN_SIDE) -> Any:
    """``img`` scaled by a whole factor (nearest neighbour) to about ``limit`` pixels, or shrunk."""
    from PIL import Image

    side = max(img.size)
    if side > limit:
        img = img.copy()
        img.thumbnail((limit, limit))
    elif side < limit // 2 or side < MIN_SIDE:
        factor = max(1, limit // side)
        img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
    return img


def placeholder(text: str = "no thumbnail") -> Any:
    """A grey tile for a point without a thumbnail."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (MIN_SIDE, MIN_SIDE), (200, 200, 200))
    ImageDraw.Draw(img).text((8, MIN_SIDE // 2 - 6), text, fill=(80, 80, 80))
    return img


def caption(payload: dict[str, Any], score: float | None = None) -> str:
    """'Dress · 0.93 · test #12': class, similarity (for hits), split and row."""
    parts = []
    name = payload.get(Payload.LABEL_NAME)
    if name is None and payload.get(Payload.LABEL) is not None:
        name = str(payload[Payload.LABEL])
    parts.append(str(name) if name is not None else "unlabelled")
    if score is not None:
        parts.append(f"{score:.3f}")
    where = " ".join(
        str(v) for v in (payload.get(Payload.SPLIT), f"#{payload[Payload.INDEX]}"
                         if payload.get(Payload.INDEX) is not None else None) if v is not None
    )
    if where:
        parts.append(where)
    return " · ".join(parts)


def tiles(points: Sequence[Any]) -> list[Tile]:
    """Gallery tiles of hits or records (anything with ``payload`` and maybe ``score``)."""
    out: list[Tile] = []
    for p in points:
        img = decode_thumbnail(p.payload.get(Payload.THUMBNAIL)) or placeholder()
        out.append((img, caption(p.payload, getattr(p, "score", None))))
    return out

