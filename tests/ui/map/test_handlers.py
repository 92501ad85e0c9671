"""The Explore tab's handlers without a browser: values in, the page's new values out, by name."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.bench_map import CLASSES
from embedscope.errors import UsageError
from embedscope.store import Where
from tests.ui.map.conftest import NAME, rows_event, session_of


@pytest.fixture
def maps(synthetic, tmp_path: Path):
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.published import PublishedMaps

    store, _ = synthetic
    return Maps(session_of(store), PublishedMaps(tmp_path / "pub"))


def test_following_the_collection_shows_its_map_and_resets_the_selection(maps) -> None:
    from embedscope.ui.map import handlers

    out = handlers.follow(maps, NAME, None, None)
    v = out["view"]
    assert v.projection == "umap" and v.colour_by == "label" and v.highlight == "(none)"
    assert json.loads(out["map"])["token"] == v.token and "300 points" in out["map_note"]
    assert out["projection"]["choices"] == ["umap"] and out["projection"]["value"] == "umap"
    assert out["colour_by"]["choices"] == ["label", "split", "cluster_kmeans"]
    assert out["highlight"]["choices"] == ["(none)", *CLASSES]
    assert out["chosen"] is None and out["gallery"]["value"] == [] and out["similar"]["visible"] is False
    assert "Nothing selected" in out["page_note"]

    none = handlers.follow(maps, None, None, None)
    assert none["view"].token is None and none["projection"]["choices"] == []
    assert json.loads(none["map"]) == {"token": None, "message": none["map_note"]}


def test_restyling_keeps_a_group_only_where_it_exists(maps) -> None:
    from embedscope.ui.map import handlers

    v = handlers.follow(maps, NAME, None, None)["view"]
    out = handlers.restyle(maps, v, "label", "Bag")
    assert out["view"].highlight == "Bag" and json.loads(out["map"])["highlight"] == 8
    out = handlers.restyle(maps, out["view"], "split", "Bag")
    assert out["view"].highlight == "(none)" and out["highlight"]["choices"] == ["(none)", "test", "train"]
    assert handlers.restyle(maps, None, "label", None) == {}


def test_a_selection_pages_clicks_tags_and_exports(maps, tmp_path: Path) -> None:
    from embedscope.ui.map import handlers

    v = handlers.follow(maps, NAME, None, None)["view"]
    event = SimpleNamespace(_data=rows_event(list(range(60)), v.token))
    out = handlers.on_selection(maps, v, None, event)
    s = out["chosen"]
    assert len(s.ids) == 60 and len(out["gallery"]["value"]) == 48 and "60 selected" in out["page_note"]
    assert "| label | points |" in out["counts"]
    with pytest.raises(UsageError, match="no map shown"):
        handlers.on_selection(maps, None, None, event)

    turned = handlers.turn(maps.session, 1, s)
    assert "page 2 of 2" in turned["page_note"] and len(turned["gallery"]["value"]) == 12
    clicked = handlers.on_click(True, s, SimpleNamespace(index=0, value={"caption": "Bag · test #0"}))
    assert clicked["picked"] == s.page_ids()[0] and clicked["similar"]["visible"] is True
    assert clicked["clicked_note"] == f"`{s.page_ids()[0]}` · Bag · test #0"
    alone = handlers.on_click(False, s, SimpleNamespace(index=0, value=None))
    assert "pick 'by id'" in alone["clicked_note"] and alone["similar"]["visible"] is False
    assert handlers.pivot(s.ids[0])["find_similar"].startswith(s.ids[0] + " ")

    tagged = handlers.tag(maps, v, s, "look")
    assert tagged["view"].colour_by == "tag: look" and "Tagged **60** points" in tagged["tag_note"]
    assert "tag: look" in tagged["colour_by"]["choices"]
    with maps.session.store() as store:
        assert store.count(NAME, Where(tag="look")) == 60
    path = Path(handlers.export(maps.session, tmp_path / "out", s, "json")["export_file"])
    assert [d["id"] for d in json.loads(path.read_text())] == s.ids


def test_a_search_is_marked_and_the_banner_kept(maps) -> None:
    from embedscope.ui.map import handlers

    v = handlers.follow(maps, NAME, None, None)["view"]
    data = maps.published.get(v.token).data
    ids = data.ids_of([4, 2, 9])
    out = handlers.mark(maps, v, {"collection": NAME, "query_id": ids[0], "neighbour_ids": ids[1:]})
    assert json.loads(out["map"])["marks"] == {"query": 4, "neighbours": [2, 9]}
    assert out["status"] == {"__type__": "update"}  # the banner is left as it is
    assert handlers.mark(maps, None, None) == {"status": {"__type__": "update"}}
    hover = handlers.hover(maps, {"token": v.token, "row": 4})
    assert hover["id"] == ids[0] and hover["src"].startswith("data:image/png")
    names = [fn.__name__ for fn in handlers.server_functions(maps)]
    assert names == ["point_info", "put_selection"]  # what the map's JavaScript calls
