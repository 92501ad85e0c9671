"""The page's logic without a browser: search, classify, pick, errors, map and report."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest

from embedscope.errors import EmptyCollectionError, QdrantUnavailableError, UsageError
from embedscope.ingest.errors import BadImageError
from tests.ui.conftest import Built


def test_describe_and_filters(built: Built, session_on) -> None:
    s = session_on(built)
    assert s.collections() == ["fashion"]
    text = s.describe("fashion")
    assert "300 points" in text and "10 classes" in text and "not analysed yet" in text
    assert s.splits("fashion") == ["test", "train"]
    assert s.class_names("fashion")[6] == "Shirt"


def test_upload_finds_itself_and_votes(built: Built, session_on, query_png: Path) -> None:
    s = session_on(built)
    result = s.search_upload("fashion", query_png, k=7)
    assert len(result.gallery) == len(result.hits) == 7
    top = result.hits[0]
    assert top.payload["split"] == "test" and top.payload["index"] == 0
    assert top.score == pytest.approx(1.0, abs=1e-3)
    assert "Predicted:" in result.prediction
    assert sum(r["share"] for r in result.votes) == pytest.approx(1.0, abs=1e-3)
    assert result.gallery[0][1].startswith("Shirt · 1.000 · test #0")
    assert result.gallery[0][0].size[0] >= 112  # 28 px thumbnails are enlarged for the gallery


def test_filters_restrict_the_neighbours(built: Built, session_on, query_png: Path) -> None:
    s = session_on(built)
    by_split = s.search_upload("fashion", query_png, k=10, split="train")
    assert {h.payload["split"] for h in by_split.hits} == {"train"}
    by_class = s.search_upload("fashion", query_png, k=5, label="Dress")
    assert {h.payload["label_name"] for h in by_class.hits} == {"Dress"}
    assert "Predicted: Dress" in by_class.prediction


def test_stored_point_is_not_its_own_neighbour(built: Built, session_on) -> None:
    s = session_on(built)
    point = s.pick_point("fashion", "random", rng=random.Random(1))
    result = s.search_point("fashion", point, k=5)
    assert point not in {h.id for h in result.hits} and len(result.hits) == 5
    assert result.query is not None
    of_class = s.pick_point("fashion", "random of a class", "Bag", rng=random.Random(2))
    assert s.tiles_by_id("fashion", [of_class])[of_class][1].startswith("Bag")
    assert s.pick_point("fashion", "by id", point) == point
    with pytest.raises(UsageError, match="no point with id"):
        s.pick_point("fashion", "by id", "not-a-uuid")


def test_random_never_repeats_the_point_on_show(built: Built, session_on) -> None:
    """The engine draws the points (uniformly, among the class for "random of a class"), and a
    pick is never the point on show (pressing "random" twice must change the query)."""
    s = session_on(built)
    picks = [s.pick_point("fashion", "random") for _ in range(150)]
    assert len(set(picks)) > 75  # 150 draws of 300 points: about 118 distinct
    for first in picks[:20]:
        assert s.pick_point("fashion", "random", avoid=first) != first
    bags = [s.pick_point("fashion", "random of a class", "Bag") for _ in range(20)]
    assert len(set(bags)) > 5
    for bag in bags[:5]:
        again = s.pick_point("fashion", "random of a class", "Bag", avoid=bag)
        assert again != bag and s.tiles_by_id("fashion", [again])[again][1].startswith("Bag")


def test_bad_uploads_say_what_is_wrong(built: Built, session_on, tmp_path: Path,
                                       query_png: Path) -> None:
    s = session_on(built, max_upload_mb=0.001)
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not an image\n")
    with pytest.raises(BadImageError, match=r"notes.txt cannot be used as a query image: not an"):
        session_on(built).search_upload("fashion", text, k=5)
    big = tmp_path / "big.png"
    big.write_bytes(query_png.read_bytes() + b"\0" * 2000)
    with pytest.raises(UsageError, match=r"upload limit is 0.001 MB.*EMBEDSCOPE_UI_MAX_UPLOAD_MB"):
        s.search_upload("fashion", big, k=5)
    with pytest.raises(UsageError, match="no query image"):
        s.search_upload("fashion", None, k=5)
    with pytest.raises(UsageError, match="k must be between 1 and 50"):
        s.search_upload("fashion", query_png, k=0)


def test_empty_collection_is_reported(built: Built, session_on, tmp_path: Path,
                                      query_png: Path) -> None:
    from embedscope.store.edge import EdgeStore

    copy = built.copy(tmp_path / "data")
    with EdgeStore(copy.qdrant_dir) as store:
        meta = store.get_meta("fashion")
        store.ensure_collection("empty", meta)
    s = session_on(copy)
    assert "empty: ingest images into it first" in s.describe("empty")
    with pytest.raises(EmptyCollectionError, match="no points"):
        s.search_upload("empty", query_png, k=5)
    with pytest.raises(EmptyCollectionError):
        s.pick_point("empty", "random")


def test_qdrant_down_fails_fast_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("EMBEDSCOPE_QDRANT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS", "0.5")
    session = Session(UISettings())
    started = time.monotonic()
    with pytest.raises(QdrantUnavailableError, match="cannot reach the Qdrant server"):
        session.collections()
    assert time.monotonic() - started < 15
    session.close()


def test_report_lists_figures_and_findings(built: Built, analysed: Built, session_on) -> None:
    from embedscope.ui import report

    with session_on(built).store() as store, pytest.raises(UsageError, match="not been analysed"):
        report.load(store, "fashion")
    s = session_on(analysed)
    with s.store() as store:
        view = report.load(store, "fashion")
    assert view.summary.startswith("### Analysis") and "silhouette" in view.summary
    assert any(caption == "map pca" for _, caption in view.plots)
    assert all(p.is_file() for p, _ in view.plots)
    assert view.html is not None and report.downloadable(view.html, "fashion").endswith(".html")
    ids = [i for i, _ in view.label_errors]
    assert len(s.thumbnails("fashion", ids)) == len(ids)
    assert "analysis" in s.describe("fashion") and "not analysed" not in s.describe("fashion")
