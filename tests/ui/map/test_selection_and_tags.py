"""A selection on the map without a browser: gallery pages, counts per label, export, and tags
stored as payload lists that filter searches, on the real store backends."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from embedscope.errors import UsageError
from embedscope.store import Where
from tests.ui.map.conftest import NAME, session_of


def test_tagging_merges_with_existing_tags_and_is_a_filter(synthetic) -> None:
    from embedscope.ui.map import selection

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
    from embedscope.ui.map import points, selection

    store, _ = synthetic
    session = session_of(store)
    data = points.load_map(store, NAME, "umap")
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


def test_two_visitors_exporting_the_same_count_never_overwrite_each_other(
        synthetic, tmp_path: Path) -> None:
    from embedscope.ui.map import points, selection

    store, _ = synthetic
    session = session_of(store)
    data = points.load_map(store, NAME, "umap")
    first = selection.from_rows(data, np.arange(10))
    second = selection.from_rows(data, np.arange(10, 20))
    mine = selection.export(session, first, "csv", tmp_path)
    theirs = selection.export(session, second, "csv", tmp_path)
    assert mine != theirs and mine.name == theirs.name == f"{NAME}-selection-10.csv"
    with mine.open() as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == first.ids  # still the first visitor's
    assert mine.parent.parent == tmp_path and mine.parent.stat().st_mode & 0o077 == 0
