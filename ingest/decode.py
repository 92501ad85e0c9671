"""Robust image decoding: every odd file is either turned into clean uint8 pixels or rejected with a reason."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.ingest.errors import BadImageError

ImageSource = str | Path | bytes | bytearray | np.ndarray | Any  # Any: a PIL image


@dataclass
class Decoded:
    """A decoded image ready for the model, plus what the payload records about it."""

    pixels: np.ndarray  # uint8, H×W (mode L) or H×W×3 (mode RGB), square
    width: int  # original size, after EXIF rotation
    height: int
    thumbnail: str  # base64 PNG or JPEG


def _open(source: ImageSource, max_pixels: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        arr = source
        if arr.dtype != np.uint8:
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = ((arr - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return Image.fromarray(arr)
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise BadImageError("empty image (0 bytes)")
        stream: Any = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise BadImageError(f"no such image file: {path}")
        if path.stat().st_size == 0:
            raise BadImageError("empty file (0 bytes)")
        stream = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(stream)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if "decompression bomb" in str(exc).lower() or "exceeds limit" in str(exc).lower():
            raise BadImageError(f"decompression bomb refused: {exc}") from exc
        raise BadImageError("not an image (format not recognised)") from exc
    except OSError as exc:
        raise BadImageError(f"cannot read image: {exc}") from exc
    width, height = img.size
    if width * height > max_pixels:
        raise BadImageError(
            f"decompression bomb refused: {width}×{height} = {width * height:,} pixels exceeds "
            f"the limit of {max_pixels:,} (--max-pixels)"
        )
    return img


def _to_mode(img: Any, mode: str) -> Any:
    """Normalise any PIL mode (P, RGBA, LA, I;16, I, F, CMYK, 1 …) to 8-bit ``mode`` ('RGB' or 'L')."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert(mode) if img.mode != mode else img


def _square(img: Any, size: int | None) -> Any:
    """Center crop to a square; shrink (antialiased) so the side is at most ``size``."""
    from PIL import Image

    width, height = img.size
    if size is not None and min(width, height) > size:
        scale = size / min(width, height)
        img = img.resize((max(size, round(width * scale)), max(size, round(height * scale))),
                         Image.Resampling.BICUBIC, reducing_gap=3.0)
        width, height = img.size
    side = min(width, height)
    if width != height:
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    return img


def thumbnail_b64(img: Any, size: int) -> str:
    """Small PNG (grayscale or tiny images) or JPEG thumbnail, base64-encoded."""
    from PIL import Image

    thumb = img.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    if thumb.mode == "L" or max(img.size) <= size:
        thumb.save(buf, format="PNG", optimize=True)
    else:
        thumb.convert("RGB").save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode(source: ImageSource, mode: str = "RGB", size: int | None = None, *,
           max_pixels: int = 64_000_000, min_side: int = 4, thumbnail_size: int = 64) -> Decoded:
    """Decode one image for a model that takes ``mode`` input at up to ``size`` pixels.

    Raises:
        BadImageError: the image is empty, not an image, truncated, too small or too large.
    """
    from PIL import ImageOps

    img = _open(source, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.seek(0)  # first frame of animations
            img.load()
            img = ImageOps.exif_transpose(img) or img
            width, height = img.size
            if min(width, height) < min_side:
                raise BadImageError(
                    f"image too small ({width}×{height}; at least {min_side} pixels a side, --min-side)"
                )
            img = _to_mode(img, mode)
    except BadImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImageError(f"corrupt or truncated image data: {exc}") from exc
    thumb = thumbnail_b64(img, thumbnail_size)
    pixels = np.asarray(_square(img, size), dtype=np.uint8)
    return Decoded(np.ascontiguousarray(pixels), width, height, thumb)
