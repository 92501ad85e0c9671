"""Query uploads without a browser: files follow the ingest rules, refusals reported by the
browser become the page's messages, and the first upload says the query model loads."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from embedscope.ingest.errors import BadImageError
from tests.ui.conftest import Built


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A tiny file whose PNG header claims side × side pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def tiny_png(path: Path, side: int = 1) -> Path:
    from PIL import Image

    Image.new("L", (side, side), 128).save(path)
    return path


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("not an image at all\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    return {"text": text, "empty": empty, "bomb": bomb_png(tmp_path / "bomb.png"),
            "tiny": tiny_png(tmp_path / "one.png")}


def test_query_files_follow_the_ingest_rules_in_the_pages_words(
    built: Built, session_on, bad_files: dict[str, Path], query_png: Path
) -> None:
    s = session_on(built)
    expected = {
        "text": r"notes.txt cannot be used as a query image: not an image",
        "empty": r"empty.png cannot be used as a query image: empty file \(0 bytes\)",
        "bomb": r"bomb.png cannot be used as a query image: it has 400,000,000 pixels, more "
                r"than the 64,000,000 an image may have",
        "tiny": r"one.png cannot be used as a query image: image too small \(1×1; at least 4",
    }
    for kind, pattern in expected.items():
        with pytest.raises(BadImageError, match=pattern) as info:
            s.search_upload("fashion", bad_files[kind], k=5)
        text = str(info.value)
        assert "DOS attack" not in text and "could be decompression bomb" not in text, text
        assert str(bad_files[kind].parent) not in text  # no server paths
    assert s.search_upload("fashion", tiny_png(bad_files["tiny"].parent / "four.png", 4), k=3).hits


def test_refusals_reported_by_the_browser_become_messages() -> None:
    from embedscope.ui.images import refusal

    size = json.dumps({"name": "huge.png", "size": 3 * 1024 * 1024, "reason": "size",
                       "type": "image/png", "nonce": 1})
    assert refusal(size, 1.0) == ("huge.png is 3.0 MB; the upload limit is 1 MB. Upload a "
                                  "smaller image, or raise EMBEDSCOPE_UI_MAX_UPLOAD_MB.")
    kind = json.dumps({"name": "notes.txt", "size": 5, "reason": "type", "type": "text/plain"})
    message = refusal(kind, 1.0)
    assert message is not None and message.startswith(
        "notes.txt cannot be used as a query image: it is not an image file (text/plain)")
    empty = json.dumps({"name": "empty.png", "size": 0, "reason": "empty", "type": "image/png"})
    assert str(refusal(empty, 1.0)).startswith(
        "empty.png cannot be used as a query image: empty file (0 bytes)")
    assert refusal("", 1.0) is None and refusal("{not json", 1.0) is None


def test_the_first_upload_says_the_model_loads(
    built: Built, session_on, query_png: Path, tmp_path: Path
) -> None:
    s = session_on(built)
    with s.store() as store:
        assert s.model_to_load("fashion") == store.get_meta("fashion").model
    # A file the checks refuse gets its message at once, without a "loading model" note.
    fake = tmp_path / "fake.png"
    fake.write_text("not an image\n")
    assert s.usable_upload(query_png)
    assert not s.usable_upload(fake) and not s.usable_upload(tiny_png(tmp_path / "one.png"))
    assert not s.usable_upload(None) and not s.usable_upload(tmp_path / "gone.png")
    s.search_upload("fashion", query_png, k=3)
    assert s.model_to_load("fashion") is None
