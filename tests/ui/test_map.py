"""The Explore tab's map without a browser: loading every point, colourings, selections, tags,
export and the linked marks, on the real store backends."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_map import CLASSES, build_collection
from embedscope.errors import UsageError
from embedscope.store import Where
from tests.ui.conftest import Built

NAME = "synthetic__fake"


def rows_event(rows: list[int], token: str | None = None) -> dict:
    """What the map's 'selection' event carries: base64 little-endian uint32 rows."""
    raw = np.asarray(rows, "<u4").tobytes()
    return {"token": token, "rows": base64.b64encode(raw).decode(), "count": len(rows)}


@pytest.fixture
def synthetic(store):
    """A 300-point labelled collection with a stored 'umap' map, on every backend."""
    xy = build_collection(store, NAME, 300)
    return store, xy


def session_of(store):
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    return Session(UISettings(), store)


def test_load_map_reads_every_point_with_its_fields(synthetic) -> None:
    from embedscope.ui import explore

    store, xy = synthetic
    data = explore.load_map(store, NAME, "umap")
    assert data.n == data.total == 300
    assert data.colourings() == ["label", "split", "cluster_kmeans"]
    ids = data.ids_of(range(data.n))
    assert len(set(ids)) == 300
    stored = {r.id: r.payload for r in store.retrieve(NAME, ids, ["umap", "label", "split"])}
    for row in (0, 17, 299):
        p = stored[ids[row]]
        assert np.allclose(data.xy[row], p["umap"], atol=1e-5)
        assert data.labels[row] == p["label"]
        assert data.split_names[data.splits[row]] == p["split"]
    # id → row lookups, unknown and malformed ids left out
    assert data.rows_of([ids[5], ids[250], "00000000-0000-0000-0000-000000000000", "x"]).tolist() == [5, 250]
    label = data.colouring("label")
    assert label.names == CLASSES and label.counts() == [30] * 10
    assert sorted(data.colouring("split").names) == ["test", "train"]
    assert data.group_rows("label", "Bag").tolist() == np.flatnonzero(data.labels == 8).tolist()
    with pytest.raises(UsageError, match="cannot colour the map by 'nope'"):
        data.colouring("nope")
    with pytest.raises(UsageError, match="no 'pca' map"):
        explore.load_map(store, NAME, "pca")
    assert explore.load_map(store, NAME, "umap", limit=50).n == 50


def test_knn_scores_and_tags_become_colourings(synthetic) -> None:
    from embedscope.ui import explore

    store, _ = synthetic
    data = explore.load_map(store, NAME, "umap")
    ids = data.ids_of(range(data.n))
    store.set_payloads(NAME, {pid: {"knn_correct": i % 2, "knn_confidence": i / 300,
                                    "label_error": float(i), "tags": ["a", "b"] if i < 3 else []}
                              for i, pid in enumerate(ids[:100])})
    data = explore.load_map(store, NAME, "umap")
    assert data.colourings()[-5:] == ["knn_correct", "knn_confidence", "label_error", "tag: a",
                                      "tag: b"]
    correct = data.colouring("knn_correct")
    assert correct.names == ["wrong", "correct", "not scored"] and correct.counts() == [50, 50, 200]
    error = data.colouring("label_error")
    assert error.kind == "continuous" and error.names == ["0", "99"]
    assert error.codes[data.rows_of([ids[99]])[0]] == pytest.approx(1.0)
    assert data.colouring("tag: a").counts() == [297, 3]
    assert sorted(data.rows_of(ids[:3]).tolist()) == np.flatnonzero(data.tags["a"]).tolist()


def test_tagging_merges_with_existing_tags_and_is_a_filter(synthetic) -> None:
    from embedscope.ui import selection

    store, _ = synthetic
    session = session_of(store)
    ids = [r.id for r in store.scroll(NAME, Where(label=3), False)]
    store.set_payloads(NAME, {ids[0]: {"tags": ["old"]}})
    assert selection.tag_points(session, NAME, ids, " review ") == (30, 0)
    assert selection.tag_points(session, NAME, ids[:10], "review") == (0, 10)
    assert store.count(NAME, Where(tag="review")) == 30
    assert {r.id for r in store.scroll(NAME, Where(tag="review"), False)} == set(ids)
    kept = store.retrieve(NAME, [ids[0]], ["tags", "label"])[0].payload
    assert kept == {"tags": ["old", "review"], "label": 3}
    for bad in ("", "   ", "-x", "a" * 65, "no,commas"):
        with pytest.raises(UsageError, match="tag"):
            selection.tag_points(session, NAME, ids, bad)
    with pytest.raises(UsageError, match="nothing selected"):
        selection.tag_points(session, NAME, [], "ok")


def test_selection_pages_counts_and_export(synthetic, tmp_path: Path) -> None:
    from embedscope.ui import explore, selection

    store, _ = synthetic
    session = session_of(store)
    data = explore.load_map(store, NAME, "umap")
    rows = np.flatnonzero(data.labels <= 3)[:100]
    s = selection.from_rows(data, rows)
    assert len(s.ids) == 100 and s.pages == 3
    assert sum(c for _, c in s.counts) == 100 and s.counts[0][1] >= s.counts[-1][1]
    assert "| T-shirt/top |" in selection.counts_markdown(s)
    tiles, line = selection.page_tiles(session, s)
    assert len(tiles) == 48 and "100 selected" in line and "page 1 of 3" in line
    assert selection.turn(s, 5).page == 2
    tiles, line = selection.page_tiles(session, s)
    assert len(tiles) == 4 and "images 97–100" in line and "page 3 of 3" in line
    assert selection.turn(s, -9).page == 0
    assert selection.clicked_id(s, 1) == s.ids[1]
    with pytest.raises(UsageError, match="click an image"):
        selection.clicked_id(s, 48)
    point, nonce = selection.find_similar_value(s.ids[0]).split()
    assert point == s.ids[0] and float(nonce) > 0

    path = selection.export(session, s, "csv", tmp_path)
    with path.open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["id"] for r in table] == s.ids
    assert "thumbnail" not in table[0] and {"label", "split", "umap", "index"} <= set(table[0])
    assert json.loads(table[0]["umap"]) == pytest.approx(
        store.retrieve(NAME, [s.ids[0]], ["umap"])[0].payload["umap"])
    dumped = json.loads(selection.export(session, s, "json", tmp_path).read_text())
    assert [d["id"] for d in dumped] == s.ids and "thumbnail" not in dumped[0]["payload"]
    with pytest.raises(UsageError, match="nothing selected"):
        selection.export(session, None, "csv", tmp_path)
    with pytest.raises(UsageError, match="cannot export as 'xml'"):
        selection.export(session, s, "xml", tmp_path)


def test_maps_service_selects_tags_marks_and_keeps_highlight(synthetic, tmp_path: Path) -> None:
    from embedscope.ui import mapview, webmap

    store, _ = synthetic
    session = session_of(store)
    maps = mapview.Maps(session, webmap.Registry(tmp_path / "pub"), cache=tmp_path / "cache")
    v, projections, note = maps.open(NAME, None, None)
    assert projections == ["umap"] and "300 points" in note and v.colour_by == "label"
    desc = json.loads(maps.descriptor(v))
    data = maps.registry.get(v.token).data
    xy = np.fromfile(tmp_path / "pub" / f"{v.token}-xy.bin", "<f4").reshape(2, -1)
    assert desc["n"] == 300 and np.allclose(xy.T, webmap.normalised(data.xy))
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
    fresh = mapview.Maps(session, webmap.Registry(tmp_path / "pub2"), cache=tmp_path / "cache")
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
    from embedscope.ui import mapview, webmap

    maps = mapview.Maps(session_on(built), webmap.Registry(tmp_path / "pub"))
    v, projections, note = maps.open(built.collection, None, None)
    assert v.token is None and projections == [] and "Run analysis" in note
    assert json.loads(maps.descriptor(v)) == {"token": None, "message": note}
    assert maps.open(None, None, None)[0].token is None


def test_the_page_builds_with_the_map_block(analysed: Built, session_on) -> None:
    from embedscope.ui.app import build_app
    from embedscope.ui.webmap import BUNDLE

    assert BUNDLE.is_file() and BUNDLE.stat().st_size > 50_000  # shipped, no CDN
    demo = build_app(session_on(analysed))
    config = demo.get_config_file()
    html = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "webmap"]
    assert html and "embedscope-map.js" in html[0]["props"]["head"]
    assert "cdn" not in html[0]["props"]["head"].lower()
