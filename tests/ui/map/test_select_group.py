"""A whole class in the gallery ("Select group" on the highlighted class), most unique or most
typical first — not only a lasso's selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_map import CLASSES
from embedscope.errors import UsageError
from tests.ui.map.conftest import NAME, session_of


@pytest.fixture
def scored(synthetic, tmp_path: Path):
    """The synthetic map with uniqueness and representativeness stored on every point."""
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.published import PublishedMaps

    store, _ = synthetic
    records = list(store.scroll(NAME, None, ["label"], False))
    rng = np.random.default_rng(3)
    values = {r.id: (float(rng.random()), float(rng.random()), int(r.payload["label"]))
              for r in records}
    store.set_payloads(NAME, {pid: {"uniqueness": u, "representativeness": t}
                              for pid, (u, t, _) in values.items()})
    store.update_meta(NAME, analysis={**store.get_meta(NAME).analysis, "run_id": "scored",
                                      "fields": ["umap", "cluster_kmeans", "uniqueness",
                                                 "representativeness"]})
    return Maps(session_of(store), PublishedMaps(tmp_path / "pub")), values


@pytest.mark.parametrize(("order", "column"), [("most unique first", 0),
                                               ("most typical first", 1)])
def test_select_group_fills_the_gallery_with_the_class_in_score_order(scored, order, column) -> None:
    from embedscope.ui.map import handlers

    maps, values = scored
    v = handlers.follow(maps, NAME, None, None)["view"]
    v = handlers.restyle(maps, v, "label", "Bag")["view"]
    out = handlers.select_group(maps, v, order)
    bag = CLASSES.index("Bag")
    members = [pid for pid, (*_, label) in values.items() if label == bag]
    expected = sorted(members, key=lambda pid: -values[pid][column])
    assert out["chosen"].ids == expected
    assert len(out["gallery"]["value"]) == min(48, len(expected))
    assert f"| Bag | {len(expected):,} |" in out["counts"]


def test_select_group_needs_a_highlighted_group(scored) -> None:
    from embedscope.ui.map import handlers

    maps, _ = scored
    v = handlers.follow(maps, NAME, None, None)["view"]
    with pytest.raises(UsageError, match="Highlight"):
        handlers.select_group(maps, v, "map order")
