"""Images for the page: upload checks, decoded thumbnails and their captions."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedscope.search.errors import UsageError

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
    size_mb = file.stat().st_size / MB
    if size_mb > max_mb:
        raise UsageError(
            f"{file.name} is {size_mb:.1f} MB; the upload limit is {max_mb:g} MB. Upload a "
            "smaller image, or raise EMBEDSCOPE_UI_MAX_UPLOAD_MB."
        )
    return file


def decode_thumbnail(raw: str | None) -> Any:
    """A base64 PNG/JPEG thumbnail as an RGB PIL image, enlarged when tiny (None if unusable)."""
    from PIL import Image

    if not raw:
        return None
    if raw.startswith("data:"):
        raw = raw.split(",", 1)[1]
    try:
        img = Image.open(io.BytesIO(base64.b64decode(raw))).convert("RGB")
    except (ValueError, OSError):
        return None
    return enlarged(img)


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
    name = payload.get("label_name")
    if name is None and payload.get("label") is not None:
        name = str(payload["label"])
    parts.append(str(name) if name is not None else "unlabelled")
    if score is not None:
        parts.append(f"{score:.3f}")
    where = " ".join(
        str(v) for v in (payload.get("split"), f"#{payload['index']}"
                         if payload.get("index") is not None else None) if v is not None
    )
    if where:
        parts.append(where)
    return " · ".join(parts)


def tiles(points: Sequence[Any]) -> list[Tile]:
    """Gallery tiles of hits or records (anything with ``payload`` and maybe ``score``)."""
    out: list[Tile] = []
    for p in points:
        img = decode_thumbnail(p.payload.get("thumbnail")) or placeholder()
        out.append((img, caption(p.payload, getattr(p, "score", None))))
    return out

