"""A thumbnail payload is drawn only when it is base64 of a PNG/JPEG/WebP/GIF image that decodes."""

from __future__ import annotations

import base64
import io

import pytest

from embedscope.thumbnails import (
    MAX_PIXELS,
    read_thumbnail,
    thumbnail_data_url,
    thumbnail_image,
    thumbnail_problem,
)


def encoded(fmt: str, size: tuple[int, int] = (6, 4), mode: str = "RGB") -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 60) if mode == "RGB" else 128).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode("ascii")


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"),
                                           ("GIF", "gif")])
def test_an_image_of_each_format_is_drawn_with_its_own_kind(fmt: str, kind: str) -> None:
    raw = encoded(fmt)
    url = thumbnail_data_url(raw)
    assert url == f"data:image/{kind};base64,{raw}"
    img = thumbnail_image(raw)
    assert img is not None and img.size == (6, 4) and img.mode == "RGB"


def test_a_data_url_is_rebuilt_from_the_image_it_holds() -> None:
    png = encoded("PNG", mode="L")
    # the kind the URL claims is not trusted: the image's own format names it
    assert thumbnail_data_url(f"data:image/jpeg;base64,{png}") == f"data:image/png;base64,{png}"
    # base64 wrapped over lines (as MIME writes it) is the same image
    wrapped = "\n".join(png[i:i + 20] for i in range(0, len(png), 20))
    assert thumbnail_data_url(wrapped) == f"data:image/png;base64,{png}"


@pytest.mark.parametrize("raw", [
    'data:x" onerror="window.__pwned=11" x="',
    "data:image/svg+xml;base64," + base64.b64encode(b"<svg onload='alert(1)'/>").decode(),
    "data:text/html;base64," + base64.b64encode(b"<script>alert(1)</script>").decode(),
    'data:image/png;base64,AAAA" onerror="alert(1)',
    "javascript:alert(1)",
    '"><img src=x onerror=alert(1)>',
    base64.b64encode(b"not an image").decode(),
    base64.b64encode(b"\x89PNG\r\n\x1a\n truncated").decode(),
    "%%%",
    123,
    ["a list"],
])
def test_anything_but_a_decodable_image_is_refused(raw: object) -> None:
    assert read_thumbnail(raw) is None
    assert thumbnail_data_url(raw) is None and thumbnail_image(raw) is None
    assert thumbnail_problem(raw)


def test_an_absent_thumbnail_is_none_without_a_problem_to_report() -> None:
    assert read_thumbnail(None) is None and read_thumbnail("") is None
    assert thumbnail_problem(encoded("PNG")) is None


def test_an_image_of_another_format_or_too_many_pixels_is_refused() -> None:
    assert "BMP" in str(thumbnail_problem(encoded("BMP")))
    side = int(MAX_PIXELS ** 0.5) + 1
    assert thumbnail_image(encoded("PNG", (side, side), "L")) is None
    assert "pixels" in str(thumbnail_problem(encoded("PNG", (side, side), "L")))
