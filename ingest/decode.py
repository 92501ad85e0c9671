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


def _open(source: ImageSource, max_pixels: int) -> tuple[Any, bytes | Path | None]:
    """The opened (not yet loaded) image and its encoded form (bytes or path) when it has one."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, Image.Image):
        return source, None
    if isinstance(source, np.ndarray):
        arr = source
        if arr.dtype != np.uint8:
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = ((arr - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return Image.fromarray(arr), None
    encoded: bytes | Path
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise BadImageError("empty image (0 bytes)")
        encoded = bytes(source)
        stream: Any = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise BadImageError(f"no such image file: {path}")
        if path.stat().st_size == 0:
            raise BadImageError("empty file (0 bytes)")
        stream = encoded = path
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
    return img, encoded


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


#: A source this small (bytes) in one of these formats and modes is stored as its own thumbnail.
_OWN_THUMB_BYTES = 16_384
_OWN_THUMB_FORMATS = {"PNG": ("L", "RGB"), "JPEG": ("L", "RGB")}


def own_thumbnail(img: Any, encoded: bytes | Path | None, size: int) -> str | None:
    """The source's own bytes, base64, when it already is a small PNG/JPEG thumbnail (else None).

    ``img`` is the image as opened (before any EXIF rotation); a 28×28 PNG is its own thumbnail,
    stored as it is without decoding or re-encoding it.
    """
    if encoded is None or max(img.size) > size or img.mode not in _OWN_THUMB_FORMATS.get(img.format, ()):
        return None
    if isinstance(encoded, Path):
        try:
            if encoded.stat().st_size > _OWN_THUMB_BYTES:
                return None
            encoded = encoded.read_bytes()
        except OSError:
            return None
    if len(encoded) > _OWN_THUMB_BYTES:
        return None
    return base64.b64encode(encoded).decode("ascii")


def thumbnail_b64(img: Any, size: int) -> str:
    """Small PNG (grayscale or tiny images) or JPEG thumbnail, base64-encoded (one encode)."""
    from PIL import Image

    if max(img.size) > size:
        img = img.copy()
        img.thumbnail((size, size), Image.Resampling.BICUBIC)
        small = False
    else:
        small = True
    buf = io.BytesIO()
    if img.mode == "L" or small:
        img.save(buf, format="PNG", compress_level=1)
    else:
        img.convert("RGB").save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _orientation(img: Any) -> int:
    """The EXIF orientation (1 = as stored); PNGs without EXIF chunks skip the EXIF parse."""
    if img.format == "PNG" and "exif" not in img.info and "Raw profile type exif" not in img.info:
        return 1
    try:
        value = int(img.getexif().get(0x0112, 1))
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _draft(img: Any, size: int | None) -> None:
    """JPEG: let libjpeg decode at 1/2, 1/4 or 1/8 scale when the image is that much larger than needed.

    The shorter side stays at least ``size``, so the model still gets an antialiased downscale.
    """
    if size is None or img.format != "JPEG" or min(img.size) < 2 * size:
        return
    img.draft(None, (size, size))


def decode(source: ImageSource, mode: str = "RGB", size: int | None = None, *,
           max_pixels: int = 64_000_000, min_side: int = 4, thumbnail_size: int = 64) -> Decoded:
    """Decode one image for a model that takes ``mode`` input at up to ``size`` pixels.

    Raises:
        BadImageError: the image is empty, not an image, truncated, too small or too large.
    """
    from PIL import ImageOps

    img, encoded = _open(source, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.seek(0)  # first frame of animations
            full = img.size
            own = own_thumbnail(img, encoded, thumbnail_size)
            _draft(img, size)
            img.load()
            width, height = full
            orientation = _orientation(img)
            if orientation in (5, 6, 7, 8):  # turned by 90°: the size shown is the other way round
                width, height = height, width
            if orientation != 1:
                img = ImageOps.exif_transpose(img)
            if min(width, height) < min_side:
                raise BadImageError(
                    f"image too small ({width}×{height}; at least {min_side} pixels a side, --min-side)"
                )
            thumb = own if orientation == 1 else None
            img = _to_mode(img, mode)
    except BadImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImageError(f"corrupt or truncated image data: {exc}") from exc
    thumb = thumb or thumbnail_b64(img, thumbnail_size)
    pixels = np.asarray(_square(img, size), dtype=np.uint8)
    return Decoded(np.ascontiguousarray(pixels), width, height, thumb)
