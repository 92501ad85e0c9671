"""What a search shows, without a browser: stale marks, notes on the vote, a stored query and
its linked neighbours, and tag filters."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from embedscope.errors import UsageError
from tests.ui.conftest import Built


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
    short = s.search_upload("fashion", query_png, k=13, tag="keep")  # all 12 tagged, and said
    assert len(short.hits) == 12 and "Only 12 of the k=13 neighbours" in short.prediction
    assert len(s.search_upload("fashion", query_png, k=20, tag="(all)").hits) == 20
