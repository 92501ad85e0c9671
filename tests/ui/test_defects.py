"""The Search tab's fixes without a browser: upload checks, stale results, ties, tags, pivots."""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest

from embedscope.errors import UsageError
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


def test_stale_results_are_named() -> None:
    from embedscope.ui.service import ALL, Filters, stale_note

    old = Filters.of(10, ALL, ALL, None)
    assert stale_note(None, old) == "" and stale_note(old, Filters(10)) == ""
    note = stale_note(old, Filters.of(5, "test", ALL, ALL))
    assert "results are for k=10, split (all), class (all), tag (all)" in note
    assert "k=5, split test" in note and "Press **Search**" in note


def test_ties_and_class_filters_are_noted(built: Built, session_on, query_png: Path) -> None:
    from embedscope.ui.service import vote_notes

    tie = vote_notes({"Shirt": 2, "Dress": 2, "Bag": 1}, None)
    assert len(tie) == 1 and "Tie between Shirt and Dress** (2 votes each)" in tie[0]
    three = vote_notes({"A": 1, "B": 1, "C": 1}, "(all)")
    assert "Tie between A, B and C" in three[0]
    assert vote_notes({"Shirt": 3, "Dress": 1}, None) == []
    s = session_on(built)
    result = s.search_upload("fashion", query_png, k=4, label="Dress")
    assert "prediction is Dress by construction" in result.prediction
    unfiltered = s.search_upload("fashion", query_png, k=2)  # 2 voters: a tie unless they agree
    counts = [h.payload["label_name"] for h in unfiltered.hits]
    assert ("Tie between" in unfiltered.prediction) == (counts[0] != counts[1])
    assert "by construction" not in unfiltered.prediction


def test_a_stored_query_shows_itself_and_links_its_neighbours(built: Built, session_on) -> None:
    from embedscope.ui.service import similar_request

    s = session_on(built)
    point = s.pick_point("fashion", "random of a class", "Bag", rng=random.Random(3))
    result = s.search_point("fashion", point, k=6)
    assert result.query_id == point and result.query_caption.startswith("Bag · ")
    assert any(split in result.query_caption for split in ("train #", "test #"))
    linked = result.linked("fashion")
    assert linked == {"collection": "fashion", "query_id": point,
                      "neighbour_ids": [h.id for h in result.hits]}
    # Pivot: the first neighbour becomes the query.
    pivot = s.search_point("fashion", linked["neighbour_ids"][0], k=6)
    assert pivot.query_id == linked["neighbour_ids"][0] and pivot.query_id not in {
        h.id for h in pivot.hits}
    assert similar_request(f"{point} 1712345") == point and similar_request("  ") is None
    with pytest.raises(UsageError, match="no point with id 'nope'"):
        s.search_point("fashion", "nope", k=3)
    with pytest.raises(UsageError, match="select a search result to see and copy its id"):
        s.pick_point("fashion", "by id", "")


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


def test_tags_list_and_filter(built: Built, session_on, tmp_path: Path, query_png: Path) -> None:
    from embedscope.store.edge import EdgeStore

    copy = built.copy(tmp_path / "data")
    with EdgeStore(copy.qdrant_dir) as store:
        ids = [r.id for r in store.scroll("fashion", None, False)][:12]
        store.set_payloads("fashion", {i: {"tags": ["keep", "odd" if n % 2 else "even"]}
                                       for n, i in enumerate(ids)})
    s = session_on(copy)
    assert s.tags("fashion") == ["even", "keep", "odd"]
    result = s.search_upload("fashion", query_png, k=6, tag="odd")
    assert {h.id for h in result.hits} <= set(ids[1::2]) and len(result.hits) == 6
    assert len(s.search_upload("fashion", query_png, k=12, tag="keep").hits) == 12
    with pytest.raises(UsageError, match="k=13 is larger than the 12 candidate points"):
        s.search_upload("fashion", query_png, k=13, tag="keep")
    assert len(s.search_upload("fashion", query_png, k=20, tag="(all)").hits) == 20


def test_default_collection_is_the_latest_analysed(
    built: Built, analysed: Built, session_on, tmp_path: Path
) -> None:
    from embedscope.store.edge import EdgeStore

    for b, expected in ((built, "aaa"), (analysed, "fashion")):
        copy = b.copy(tmp_path / f"data-{expected}")
        with EdgeStore(copy.qdrant_dir) as store:
            store.ensure_collection("aaa", store.get_meta("fashion"))  # first by name, no analysis
        s = session_on(copy)
        names = s.collections()
        assert names == ["aaa", "fashion"]
        assert s.default_collection(names) == expected
    assert session_on(copy, collection="aaa").default_collection(names) == "aaa"
