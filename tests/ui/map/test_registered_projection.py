"""A projection registered with the analysis reaches the Explore tab with no edit under ui/: the
analysis computes it, the tab offers it and draws the coordinates the analysis wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.ui.conftest import Built

NAME = "seeded_random"


@pytest.fixture
def seeded_random() -> Iterator[str]:
    """A seeded random linear projection, registered for the test only."""
    from embedscope.analysis.registry import register_projection, unregister_projection

    @register_projection(NAME, title="Seeded random")
    def project(X: np.ndarray, s: Any, a: Any) -> np.ndarray:
        return X @ np.random.default_rng(s.seed).normal(size=(X.shape[1], 2))

    yield NAME
    unregister_projection(NAME)


def test_a_registered_projection_is_offered_and_drawn_on_the_explore_tab(
    fresh: Built, session_on, seeded_random: str, tmp_path: Path
) -> None:
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run
    from embedscope.contract import Payload
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map import handlers, methods
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.points import normalised
    from embedscope.ui.map.published import PublishedMaps

    settings = AnalysisSettings(collection=fresh.collection, projections=f"pca,{seeded_random}",
                                clusterers="kmeans", progress=False, write_back=True)
    with EdgeStore(fresh.qdrant_dir) as store:
        report, _ = run(store, settings, data_dir=tmp_path)
    assert seeded_random in report["payload_fields"]

    session = session_on(fresh)
    maps = Maps(session, PublishedMaps(tmp_path / "pub"))
    opened = handlers.follow(maps, fresh.collection, None, None)
    assert opened["projection"]["choices"] == ["pca", seeded_random]  # registration order
    assert opened["view"].projection == "pca"
    colours = opened["colour_by"]["choices"]
    assert colours[:3] == [Payload.LABEL, Payload.SPLIT, Payload.cluster("kmeans")]
    assert colours[3:] == [f for f in methods.score_fields() if f in report["payload_fields"]]

    # choosing it in the Map dropdown draws the coordinates the analysis wrote
    shown = handlers.reload_map(maps, fresh.collection, opened["view"], seeded_random)
    view, desc = shown["view"], json.loads(shown["map"])
    assert view.projection == desc["projection"] == seeded_random and desc["n"] == 300
    assert view.colour_by == opened["view"].colour_by == Payload.LABEL  # the colouring carries over
    data = maps.published.get(view.token).data
    with session.store() as s:
        stored = {r.id: r.payload[seeded_random]
                  for r in s.scroll(fresh.collection, None, [seeded_random])}
    expected = np.asarray([stored[i] for i in data.ids_of(range(data.n))], np.float32)
    drawn = np.fromfile(tmp_path / "pub" / f"{view.token}-xy.bin", "<f4").reshape(2, -1).T
    assert np.allclose(drawn, normalised(expected), atol=1e-6)
    assert "SEEDED\\_RANDOM" in shown["map_note"] and "300 points" in shown["map_note"]
