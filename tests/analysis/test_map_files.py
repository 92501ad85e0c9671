"""The analysis writes the map files when it writes its payloads (a full run and --update), and
the page opens them after a start without reading the store; tagging keeps them valid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.job import run
from embedscope.analysis.update import run_update
from embedscope.contract import row_point_id
from embedscope.maparrays import map_key
from embedscope.mapfiles import MapFiles
from embedscope.store.edge import EdgeStore

NAME = "files__pixels"


@contextmanager
def _page(store: Any, folder: Path, tmp_path: Path) -> Iterator[Any]:
    """A page's map service after a start: nothing published, the map files under ``folder``
    (shut down after use: its idle release must not close the store under the jobs)."""
    from embedscope.ui.config import UISettings
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.published import PublishedMaps
    from embedscope.ui.service import Session

    maps = Maps(Session(UISettings(), store), PublishedMaps(tmp_path / "pub"), cache=folder)
    try:
        yield maps
    finally:
        maps.session.shutdown()


def _no_store_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from embedscope import maparrays

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the page read the map from the store")

    monkeypatch.setattr(maparrays, "read_maps", refuse)


def test_the_page_opens_the_analysis_maps_without_reading_the_store(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from embedscope.ui.map.points import load_map

    data_dir = tmp_path / "data"
    folder = data_dir / "maps"
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, NAME, sample800, n=300)
        s = AnalysisSettings(collection=NAME, projections="pca,umap", clusterers="kmeans",
                             progress=False, out=tmp_path / "report")
        run(store, s, data_dir=data_dir)
        assert sorted(p.name.split("-")[1] for p in folder.glob("*.npz")) == ["pca", "umap"]
        stored = {p: load_map(store, NAME, p) for p in ("pca", "umap")}
        tag_rows = np.arange(0, 300, 7)
        with monkeypatch.context() as mp, _page(store, folder, tmp_path / "a") as maps:
            _no_store_read(mp)
            for projection, want in stored.items():
                v, projections, note = maps.open(NAME, projection, None)
                got = maps.published.get(v.token).data
                assert projections == ["umap", "pca"] and "300 points" in note
                np.testing.assert_array_equal(got.ids, want.ids)
                np.testing.assert_array_equal(got.xy, want.xy)
                np.testing.assert_array_equal(got.labels, want.labels)
                assert got.colourings() == want.colourings()
                assert "cluster_kmeans" in got.clusters and "knn_correct" in got.scores
            # tagging on the page keeps the file of the map shown valid
            from embedscope.ui.map import selection

            picked = selection.from_rows(got, tag_rows)
            maps.tag(v, picked, "look")
        with monkeypatch.context() as mp, _page(store, folder, tmp_path / "b") as restarted:
            _no_store_read(mp)
            v, _, _ = restarted.open(NAME, "umap", None)
            again = restarted.published.get(v.token).data
            assert "tag: look" in again.colourings()
            assert sorted(again.ids_of(np.flatnonzero(again.tags["look"]))) == sorted(picked.ids)

        # new points, then --update: the files follow the new key and hold the new points
        ids = [row_point_id("fashion_mnist_sample", "train", i) for i in range(300, 340)]
        payloads = [{"dataset": "fashion_mnist_sample", "split": "train", "index": i,
                     "label": int(sample800["labels"][i])} for i in range(300, 340)]
        store.upsert(NAME, ids, sample800["X"][300:340], payloads)
        assert MapFiles(folder).load(map_key(store, NAME, "umap")) is None  # stale: not used
        run_update(store, s.model_copy(update={"update": True}), data_dir=data_dir)
        with monkeypatch.context() as mp, _page(store, folder, tmp_path / "c") as page:
            _no_store_read(mp)
            v, _, note = page.open(NAME, "umap", None)
        assert "340 points" in note
        updated = MapFiles(folder).load(map_key(store, NAME, "umap"))
        assert updated is not None and set(ids) <= set(updated.ids_of(range(updated.n)))
        assert int(updated.tags["look"].sum()) == len(tag_rows)  # the tags were kept


def test_no_write_back_writes_no_map_file(tmp_path: Path, sample800: dict[str, Any],
                                          make_collection: Any) -> None:
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, NAME, sample800, n=120)
        s = AnalysisSettings(collection=NAME, projections="pca", clusterers="kmeans",
                             progress=False, out=tmp_path / "report", write_back=False)
        run(store, s, data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "maps").exists()
