"""`analyze --first-map`: a drawn map before the index and the full report, replaced by the full run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import fetch, stratified_indices
from embedscope.analysis.projections import place, umap_map
from embedscope.cli import main
from embedscope.errors import UsageError
from embedscope.store.edge import EdgeStore


@pytest.mark.parametrize("stream_from", ["0", "1"])  # vectors in memory, or streamed
def test_a_first_map_draws_every_point_and_the_full_run_replaces_it(
    data_env: Path, sample800: dict[str, Any], make_collection: Any, capsys: Any,
    stream_from: str,
) -> None:
    from embedscope.analysis.job import run
    from embedscope.analysis.update import run_update

    with EdgeStore(data_env / "qdrant") as store:
        make_collection(store, "first", sample800, n=600)
        assert store.indexed_vectors("first") == 0  # no index needed
    rc = main(["analyze", "--collection", "first", "--first-map", "--first-map-points", "250",
               "--umap-neighbors", "10", "--stream-from", stream_from, "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "first map of 600 points" in out and "fitted on 250" in out
    assert not (data_env / "reports" / "first" / "report.json").exists()  # no report yet
    s = AnalysisSettings(collection="first", umap_neighbors=10, first_map_points=250,
                         progress=False, out=data_env / "r")
    with EdgeStore(data_env / "qdrant") as store:
        record = store.get_meta("first").analysis
        assert record["first_map"] and record["fields"] == ["umap", "pca"]
        data = fetch(store, "first", fields=("umap", "pca"), progress=False)
        files = list((data_env / "maps").glob("first-*.npz"))
        assert {f.name.split("-")[1] for f in files} >= {"umap", "pca"}
        with pytest.raises(UsageError, match="only a first map"):
            run_update(store, s.model_copy(update={"update": True}), data_dir=data_env)
        # the map: the fitted sample's UMAP, every other point at its nearest fitted points
        fit = stratified_indices(600, 250, 0, data.labels)
        expected = place(data.X, fit, umap_map(data.X[fit], 10, 0.1, 0), 10)
        np.testing.assert_allclose(np.asarray(data.extra["umap"]), expected, atol=1e-4)
        pca = np.asarray(data.extra["pca"])
        centred = data.X - data.X.mean(axis=0)
        top = np.linalg.svd(centred, full_matrices=False)[2][:2]
        np.testing.assert_allclose(np.abs(pca), np.abs(centred @ top.T), atol=1e-4)
        # the full run replaces it, and a first map then refuses to draw over the full one
        run(store, s.model_copy(update={"projections": "pca", "clusterers": "kmeans"}),
            data_dir=data_env)
        assert not store.get_meta("first").analysis.get("first_map")
        with pytest.raises(UsageError, match="already has a full analysis"):
            from embedscope.analysis.first_map import first_map

            first_map(store, s.model_copy(update={"first_map": True}), data_dir=data_env)
