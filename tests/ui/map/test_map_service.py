"""The maps a page serves, without a browser: publishing, restyling, selecting, tagging and
marking a search's results; the hint when there is no map; the page with the map block."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_map import CLASSES
from embedscope.errors import UsageError
from embedscope.store import Where
from tests.ui.conftest import Built
from tests.ui.map.conftest import NAME, rows_event, session_of


def test_maps_service_selects_tags_marks_and_keeps_highlight(synthetic, tmp_path: Path) -> None:
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.points import normalised
    from embedscope.ui.map.published import PublishedMaps

    store, _ = synthetic
    session = session_of(store)
    maps = Maps(session, PublishedMaps(tmp_path / "pub"), cache=tmp_path / "cache")
    v, projections, note = maps.open(NAME, None, None)
    assert projections == ["umap"] and "300 points" in note and v.colour_by == "label"
    desc = json.loads(maps.descriptor(v))
    data = maps.published.get(v.token).data
    xy = np.fromfile(tmp_path / "pub" / f"{v.token}-xy.bin", "<f4").reshape(2, -1)
    assert desc["n"] == 300 and np.allclose(xy.T, normalised(data.xy))
    assert np.abs(xy).max() <= 0.95 + 1e-6
    colour = desc["colourings"]["label"]
    codes = np.fromfile(tmp_path / "pub" / Path(colour["url"]).name, "<u2")
    assert codes.tolist() == data.labels.tolist() and colour["names"] == CLASSES

    # Highlight survives "Show map" (a reload of the same collection), resets on a new colouring
    v = maps.restyle(v, "label", "Bag")
    assert json.loads(maps.descriptor(v))["highlight"] == 8
    again, _, _ = maps.open(NAME, "umap", v, reload=True)
    assert again.highlight == "Bag" and again.token != v.token
    assert maps.restyle(again, "split", "Bag").highlight == "(none)"

    # a selection event → the selected ids, in map order
    s = maps.select(again, rows_event([5, 3, 3, 7], again.token))
    assert s.ids == data.ids_of([3, 5, 7])
    # the page hands its latest selection over first (by seq); the event names the page only
    assert maps.put_selection({"page": "p1", "seq": 2, **rows_event([9, 8], again.token)})["kept"]
    assert not maps.put_selection({"page": "p1", "seq": 1, **rows_event([1], again.token)})["kept"]
    assert maps.select(again, {"page": "p1", "seq": 1}).ids == data.ids_of([8, 9])
    with pytest.raises(UsageError, match="map changed"):
        maps.select(again, rows_event([1], "stale-token"))
    with pytest.raises(UsageError, match="row 300 of a 300-point map"):
        maps.select(again, rows_event([300], again.token))

    # tagging colours the map by the tag, in the store and in the colouring file
    tagged, note = maps.tag(again, s, "look")
    assert tagged.colour_by == "tag: look" and "Tagged **3** points" in note
    assert store.count(NAME, Where(tag="look")) == 3
    entry = json.loads(maps.descriptor(tagged))["colourings"]["tag: look"]
    assert entry["counts"] == [297, 3] and entry["version"] == 1
    # the saved map (disk cache) knows the tag: a fresh service finds it without the store
    fresh = Maps(session, PublishedMaps(tmp_path / "pub2"), cache=tmp_path / "cache")
    v2, _, _ = fresh.open(NAME, None, None)
    assert "tag: look" in fresh.colourings(v2)

    # linked views: a search's query and neighbours become marks on this collection only
    result = {"collection": NAME, "query_id": s.ids[0], "neighbour_ids": s.ids[1:] + ["gone"]}
    marked = maps.mark(tagged, result)
    assert (marked.query, marked.neighbours) == (3, [5, 7])
    assert json.loads(maps.descriptor(marked))["marks"] == {"query": 3, "neighbours": [5, 7]}
    assert maps.mark(marked, {**result, "collection": "other"}).query is None

    # the hover tooltip: thumbnail as a data URL, label, split and row
    info = fresh.point_info(v2.token, 3)
    assert info["src"].startswith("data:image/png;base64,") and info["id"] == data.id_of(3)
    assert info["caption"].split(" · ")[0] in CLASSES


def test_a_collection_without_a_map_gives_a_hint(built: Built, session_on, tmp_path: Path) -> None:
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.published import PublishedMaps

    maps = Maps(session_on(built), PublishedMaps(tmp_path / "pub"))
    v, projections, note = maps.open(built.collection, None, None)
    assert v.token is None and projections == [] and "Run analysis" in note
    assert json.loads(maps.descriptor(v)) == {"token": None, "message": note}
    assert maps.open(None, None, None)[0].token is None


def test_the_page_builds_with_the_map_block(analysed: Built, session_on) -> None:
    from embedscope.ui.app import build_app
    from embedscope.ui.map.block import BUNDLE

    assert BUNDLE.is_file() and BUNDLE.stat().st_size > 50_000  # shipped, no CDN
    demo = build_app(session_on(analysed))
    config = demo.get_config_file()
    html = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "webmap"]
    assert html and "embedscope-map.js" in html[0]["props"]["head"]
    assert "cdn" not in html[0]["props"]["head"].lower()
