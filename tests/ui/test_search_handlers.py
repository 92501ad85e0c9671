"""The Search tab's handlers without a browser: values in, the page's new values out, by name."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.ui.conftest import Built


def test_a_collection_change_sets_the_filters_and_clears_the_results(built: Built, session_on) -> None:
    from embedscope.ui import search_handlers as h

    out = h.on_collection(session_on(built), "fashion")
    assert out["split"]["choices"] == ["(all)", "test", "train"]
    assert out["label"]["choices"][0] == "(all)" and "Shirt" in out["label"]["choices"]
    assert out["pick_class"]["value"] == out["label"]["choices"][1]
    assert out["neighbours"]["value"] == [] and out["search_result"] is None and out["votes"].empty
    assert set(h.on_collection(session_on(built), None)) == set(h.cleared())


def test_an_upload_says_the_model_loads_then_shows_its_results(
    built: Built, session_on, query_png: Path, tmp_path: Path
) -> None:
    from embedscope.ui import search_handlers as h

    s = session_on(built)
    first, results = list(h.search_path(s, "fashion", str(query_png), 5, "(all)", "(all)", "(all)"))
    assert first == {"status": first["status"]} and "Loading the query model" in first["status"]
    assert results["status"] == "" and len(results["neighbours"]["value"]) == 5
    assert results["last"] == str(query_png) and "Predicted:" in results["prediction"]
    assert results["search_result"]["neighbour_ids"][0] and results["searched"].k == 5
    assert list(h.search_path(s, "fashion", None, 5, "(all)", "(all)", "(all)")) == []
    # A refused file: its message at once (no "loading" note), the results and the boxes emptied.
    fake = tmp_path / "fake.png"
    fake.write_text("not an image\n")
    with pytest.warns(UserWarning):
        (refused,) = h.search_path(s, "fashion", str(fake), 5, "(all)", "(all)", "(all)")
    assert "fake.png cannot be used as a query image" in refused["status"]
    assert refused["query_file"] is None and refused["query_img"] is None and refused["neighbours"]["value"] == []


def test_a_stored_query_a_neighbour_and_a_request_search_again(built: Built, session_on) -> None:
    from embedscope.ui import search_handlers as h

    s = session_on(built)
    out = h.search_stored(s, "fashion", "random of a class", "Bag", "", 6, "(all)", "(all)", "(all)")
    point = out["pick_id"]
    assert out["last"] == h.POINT + point and out["query_info"].startswith("**Query:** Bag · ")
    ids = out["search_result"]["neighbour_ids"]
    picked = h.selected(out["search_result"], SimpleNamespace(index=1, value=None))
    assert picked == {"selected_id": ids[1], "similar": {"__type__": "update", "interactive": True}}
    assert h.selected(None, SimpleNamespace(index=0, value=None))["selected_id"] == ""
    again = h.search_similar(s, "fashion", ids[1], 6, "(all)", "(all)", "(all)")
    assert again["search_result"]["query_id"] == ids[1]
    assert again["pick_id"] == ids[1]  # the Point id box shows the new query, not the old one
    asked = h.requested(s, "fashion", f"{point} 123", 6, "(all)", "(all)", "(all)")
    assert asked["search_result"]["query_id"] == point and asked["tabs"] is not None
    assert asked["pick_id"] == point
    assert h.requested(s, "fashion", "", 6, "(all)", "(all)", "(all)") == {}
    with pytest.warns(UserWarning):
        bad = h.search_stored(s, "fashion", "by id", "", "nope", 6, "(all)", "(all)", "(all)")
    assert "no point with id 'nope'" in bad["status"] and bad["neighbours"]["value"] == []
    assert bad["last"] == {"__type__": "update"}  # a failed pick keeps the previous query


def test_a_random_pick_avoids_the_point_in_the_id_box(built: Built, session_on,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from embedscope.ui import search_handlers as h

    s = session_on(built)
    avoided: list[str | None] = []
    pick = s.pick_point

    def recording(*args: Any, avoid: str | None = None, **kwargs: Any) -> str:
        avoided.append(avoid)
        return pick(*args, avoid=avoid, **kwargs)

    monkeypatch.setattr(s, "pick_point", recording)
    first = h.search_stored(s, "fashion", "random", "", "", 6, "(all)", "(all)", "(all)")
    second = h.search_stored(s, "fashion", "random", "", first["pick_id"], 6, "(all)", "(all)",
                             "(all)")
    by_id = h.search_stored(s, "fashion", "by id", "", second["pick_id"], 6, "(all)", "(all)",
                            "(all)")
    assert avoided == [None, first["pick_id"], None]
    assert second["pick_id"] != first["pick_id"] and by_id["pick_id"] == second["pick_id"]


def test_filters_mark_the_results_stale_and_browser_refusals_become_messages() -> None:
    from embedscope.ui import search_handlers as h
    from embedscope.ui.service import Filters

    assert h.marked(Filters(10), 10, "(all)", "(all)", "(all)") == {"stale": ""}
    assert "you chose k=5" in h.marked(Filters(10), 5, "(all)", "(all)", "(all)")["stale"]
    raw = json.dumps({"name": "huge.png", "size": 3 * 1024 * 1024, "reason": "size"})
    with pytest.warns(UserWarning):
        out = h.refused_upload(1.0, raw)
    assert out["status"].startswith("⚠️ huge.png is 3.0 MB") and out["query_file"] is None
    assert h.refused_upload(1.0, "") == {}


def test_a_k_that_is_not_a_whole_number_is_refused_by_name_never_cut(
        built: Built, session_on, query_png: Path) -> None:
    from embedscope.ui import search_handlers as h
    from embedscope.ui.service import Filters

    s = session_on(built)
    for kk, said in ((2.5, "got 2.5."), (None, "got nothing (the k box is empty)."),
                     ("", "got nothing"), ("ten", "got 'ten'."), (True, "got True.")):
        with pytest.warns(UserWarning):
            out = h.search_stored(s, "fashion", "random", "", "", kk, "(all)", "(all)", "(all)",
                                  Filters(7))
        assert f"k must be a whole number between 1 and 50, {said}" in out["status"], out["status"]
        assert out["k"] == 7  # the box goes back to the k of the results on screen
    with pytest.warns(UserWarning):  # an upload's search checks k too: 2.5 never runs as 2
        (up,) = list(h.search_path(s, "fashion", str(query_png), 2.5, "(all)", "(all)", "(all)"))[-1:]
    assert "k must be a whole number between 1 and 50, got 2.5." in up["status"]
    assert up["neighbours"]["value"] == [] and up["searched"] is None
    assert s.check_k(3.0) == 3 and s.check_k("4") == 4
    assert h.marked(Filters(10), 2.5, "(all)", "(all)", "(all)") == {"stale": ""}
