"""The page's "Run analysis": offered only where no map exists, never replaces one nor drops a
field another run wrote, runs in the background with a progress line while the page serves."""

from __future__ import annotations

import time

import pytest

from embedscope.errors import UsageError
from embedscope.store.edge import EdgeStore
from embedscope.ui.config import UISettings
from embedscope.ui.service import Session
from embedscope.ui.tabs import CollectionSync
from tests.ui.conftest import Built


def _maps(b: Built, tmp_path):
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.published import PublishedMaps

    session = Session(UISettings(), EdgeStore(b.qdrant_dir, serving=True))
    return Maps(session, PublishedMaps(tmp_path / "pub"))


def _sync(session: Session) -> CollectionSync:
    return CollectionSync(["info"], lambda name: {"info": session.describe(name) if name else ""})


def test_run_analysis_is_offered_only_where_no_map_exists(fresh: Built, analysed: Built,
                                                          tmp_path) -> None:
    from embedscope.ui.map import handlers
    from embedscope.ui.runs import Runs

    bare, done = _maps(fresh, tmp_path / "a"), _maps(analysed.copy(tmp_path / "b"), tmp_path / "c")
    try:
        offered = handlers.follow(bare, fresh.collection, None, None)
        assert offered["analyse"]["interactive"] is True
        # the button that works is the highlighted one; a grey one says why
        assert offered["analyse"]["variant"] == "primary"
        assert offered["show_map"]["variant"] == "secondary" and offered["analysis_note"] == ""
        out = handlers.follow(done, analysed.collection, None, None)
        assert out["analyse"]["interactive"] is False and out["projection"]["choices"] == ["pca"]
        assert out["analyse"]["variant"] == "secondary" and out["show_map"]["variant"] == "primary"
        assert "has one (pca)" in out["analysis_note"]
        assert f"`embedscope analyze --collection {analysed.collection}`" in out["analysis_note"]
        # "Show map (reload)" reads the collection's line again: a terminal's analysis shows
        with done.session.store() as s:
            analysis = s.get_meta(analysed.collection).analysis
            s.update_meta(analysed.collection, analysis={**analysis, "created_at": "2031-02-03"})
        again = handlers.reload_map(done, analysed.collection, out["view"], None)
        assert "latest analysis 2031-02-03" in again["collection_info"]
        with pytest.raises(UsageError, match="already has a map .pca.; the page does not replace"):
            handlers.start_analysis(done, Runs(done.session), UISettings(), analysed.collection)
    finally:
        bare.session.shutdown()
        done.session.shutdown()


def test_the_page_analysis_keeps_the_fields_another_run_wrote(fresh: Built) -> None:
    from embedscope.ui.report import run_quick

    with EdgeStore(fresh.qdrant_dir) as store:
        ids = [r.id for r in store.scroll(fresh.collection, None, False)]
        store.set_payloads(fresh.collection, {i: {"cluster_hdbscan": n % 3}
                                              for n, i in enumerate(ids)})
        store.update_meta(fresh.collection, analysis={"run_id": "earlier",
                                                      "fields": ["cluster_hdbscan"]})
        run_quick(store, fresh.collection, UISettings())
        fields = store.get_meta(fresh.collection).analysis["fields"]
        # the map file is written for the kept fields: the page opens it with them
        from embedscope.maparrays import map_key
        from embedscope.mapfiles import MapFiles, maps_dir

        written = MapFiles(maps_dir()).load(map_key(store, fresh.collection, "pca"))
    assert {"pca", "cluster_kmeans", "cluster_hdbscan"} <= set(fields)
    assert written is not None and {"cluster_kmeans", "cluster_hdbscan"} <= set(written.clusters)


def test_the_analysis_runs_in_the_background_while_other_requests_are_served(
        fresh: Built, tmp_path) -> None:
    from embedscope.ui.map import handlers
    from embedscope.ui.report import run_quick
    from embedscope.ui.runs import Runs

    maps = _maps(fresh, tmp_path)
    session = maps.session
    reading = []

    def slow(store, collection, settings, stages):  # the analysis, with a long stretch of computing
        reading.append(store.count(collection))
        with stages.stage("thinking"):
            time.sleep(3)
        return run_quick(store, collection, settings, stages)

    runs = Runs(session, slow)
    try:
        point = session.pick_point(fresh.collection, "random")
        out = handlers.start_analysis(maps, runs, UISettings(), fresh.collection)
        assert out["ticker"]["active"] is True and out["analyse"]["interactive"] is False
        assert "running" in out["map_note"]
        time.sleep(0.5)
        started = time.perf_counter()
        result = session.search_point(fresh.collection, point, 5)  # another browser's search
        assert time.perf_counter() - started < 1.5 and len(result.hits) == 5
        assert session.collections() == [fresh.collection]  # a reload lists the collection
        sync = _sync(session)
        ticking = handlers.analysis_progress(maps, runs, sync, fresh.collection, None, None)
        assert "running for" in ticking["map_note"] and ": thinking" in ticking["map_note"]
        assert "ticker" not in ticking
        runs.wait(fresh.collection)
        done = handlers.analysis_progress(maps, runs, sync, fresh.collection, None, None)
        assert done["ticker"]["active"] is False and done["map_note"].startswith("✅ Analysis")
        assert done["projection"]["choices"] == ["pca"] and done["view"].token is not None
        assert done["analyse"]["interactive"] is False and "latest analysis" in done["info"]
        assert reading == [300]
    finally:
        session.shutdown()
