"""Cluster captions on the map: the report's captions at their clusters' centres, a toggle, a note."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.job import run
from embedscope.store.edge import EdgeStore
from embedscope.ui.config import UISettings
from embedscope.ui.map.captions import NO_CAPTIONS
from embedscope.ui.map.maps import Maps
from embedscope.ui.map.points import normalised
from embedscope.ui.service import Session
from tests.search.test_text_search import PIXELS, ingest_spaces


def analysed(store, tmp_path: Path) -> None:
    run(store, AnalysisSettings(collection=PIXELS, out=tmp_path / "report", projections="pca",
                                clusterers="kmeans", clusters="4", knn_ks="1", progress=False))


def test_captions_are_drawn_at_cluster_centres_and_toggle(tmp_path: Path, sample_dir: Path,
                                                         tiny_siglip_dir: Path):
    with EdgeStore(tmp_path / "q") as store:
        ingest_spaces(sample_dir, tiny_siglip_dir, store=store)
        analysed(store, tmp_path)
        report = json.loads((tmp_path / "report" / "report.json").read_text())
        maps = Maps(Session(UISettings(), store))
        v, _, _ = maps.open(PIXELS, "pca", None)
        v = maps.restyle(v, "cluster_kmeans", None)
        desc = json.loads(maps.descriptor(v))
        data = maps.published.get(v.token).data
        want = {c["cluster"]: c["caption"] for c in report["captions"]["clusterings"]["kmeans"]}
        assert {c["cluster"]: c["text"] for c in desc["captions"]} == want
        xy = normalised(data.xy)
        for c in desc["captions"]:
            rows = np.flatnonzero(data.clusters["cluster_kmeans"] == c["cluster"])
            centre = xy[rows].mean(axis=0)
            assert c["x"] == pytest.approx(centre[0], abs=1e-5) and c["y"] == pytest.approx(centre[1], abs=1e-5)
            assert c["row"] == rows[np.argmin(((xy[rows] - centre) ** 2).sum(axis=1))]
        assert "captions_note" not in desc
        assert json.loads(maps.descriptor(maps.show_captions(v, False)))["captions"] == []
        v = maps.restyle(maps.show_captions(v, True), "label", None)
        assert json.loads(maps.descriptor(v))["captions"] == []  # only a clustering has captions


def test_without_a_text_space_the_map_says_how_to_get_captions(tmp_path: Path, sample_dir: Path):
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest

    with EdgeStore(tmp_path / "q") as store:
        run_ingest(IngestSettings(dataset=str(sample_dir), model="pixels", limit=25, progress=False),
                   store=store)
        analysed(store, tmp_path)
        maps = Maps(Session(UISettings(), store))
        v, _, _ = maps.open(PIXELS, "pca", None)
        desc = json.loads(maps.descriptor(maps.restyle(v, "cluster_kmeans", None)))
    assert desc["captions"] == [] and desc["captions_note"] == NO_CAPTIONS
