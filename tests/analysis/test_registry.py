"""A projection and a clusterer added by registration alone run end to end; unknown names fail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.errors import TooFewPointsError
from embedscope.analysis.job import compute, run
from embedscope.analysis.registry import (
    CLUSTERERS,
    PROJECTIONS,
    register_clusterer,
    register_projection,
    unregister_clusterer,
    unregister_projection,
)
from embedscope.analysis.result import Analysis, Clustering
from embedscope.errors import UsageError
from embedscope.store.edge import EdgeStore

N = 120
NOTE = "halves: the sign of the first principal component."


def _moments(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> np.ndarray:
    return np.column_stack([X.mean(axis=1), X.std(axis=1)])


def _halves(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> Clustering:
    assert a.pca is not None
    return Clustering("halves", (a.pca.scores[:, 0] > 0).astype(np.int64), {"component": 1})


@pytest.fixture
def plugins() -> Iterator[None]:
    """A 'moments' projection and a 'halves' clusterer, registered for one test."""
    register_projection("moments", title="row mean and spread")(_moments)
    register_clusterer("halves", title="PC1 sign", note=NOTE)(_halves)
    yield
    unregister_projection("moments")
    unregister_clusterer("halves")


@pytest.fixture
def reg_store(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> Iterator[EdgeStore]:
    """An embedded store with a labelled `reg` collection of N points."""
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "reg", sample800, n=N)
        yield store


def _settings(tmp_path: Path, **kw: Any) -> AnalysisSettings:
    return AnalysisSettings(collection="reg", out=tmp_path / "report", progress=False, **kw)


def test_registered_methods_join_compute(
    plugins: None, reg_store: EdgeStore, tmp_path: Path
) -> None:
    s = _settings(tmp_path, projections="moments,pca", clusterers="halves,kmeans")
    a = compute(reg_store, s)
    assert list(a.maps) == ["moments", "pca"] and list(a.clusterings) == ["halves", "kmeans"]
    np.testing.assert_allclose(a.maps["moments"], _moments(a.data.X, a.settings, a))
    assert a.pca is not None
    assert np.array_equal(a.clusterings["halves"].labels, a.pca.scores[:, 0] > 0)
    assert a.silhouette_embedding["halves"] is not None
    assert set(a.silhouette_maps["moments"]) == {"labels", "halves", "kmeans"}
    assert a.trust["moments"] is not None and "ari" in a.agreement["halves"]
    assert a.notes[-1] == NOTE


def test_registered_methods_reach_report_payloads_and_plots(
    plugins: None, reg_store: EdgeStore, tmp_path: Path
) -> None:
    report, out = run(reg_store, _settings(tmp_path, projections="moments", clusterers="halves"))
    assert report["payload_fields"] == ["moments", "cluster_halves", "knn_correct",
                                        "knn_confidence", "label_error", "uniqueness",
                                        "representativeness"]
    assert report["clusterings"]["halves"]["params"] == {"component": 1}
    for key in ("map_moments", "contingency_halves", "thumbnails_halves"):
        assert (out / report["files"][key]).stat().st_size > 0, key
    point = next(iter(reg_store.scroll("reg", with_payload=["moments", "cluster_halves"])))
    assert len(point.payload["moments"]) == 2 and point.payload["cluster_halves"] in (0, 1)


def test_registered_size_check_stops_the_run(reg_store: EdgeStore, tmp_path: Path) -> None:
    register_projection(
        "needs_many", check=lambda n, k, s: None if n >= 10_000 else f"needs_many: only {n}"
    )(_moments)
    try:
        with pytest.raises(TooFewPointsError, match=f"needs_many: only {N}"):
            compute(reg_store, _settings(tmp_path, projections="needs_many", clusterers=""))
    finally:
        unregister_projection("needs_many")


def test_unknown_names_list_the_registered_ones(plugins: None) -> None:
    with pytest.raises(UsageError, match=r"unknown projections mds: choose from "
                                         r"umap, tsne, pca, moments \("):
        AnalysisSettings(collection="c", projections="moments,mds").check()
    with pytest.raises(UsageError, match=r"unknown clusterers spectral: choose from "
                                         r"kmeans, kmedoids, hdbscan, halves \("):
        AnalysisSettings(collection="c", clusterers="spectral").check()


def test_unregistered_names_are_gone_and_bad_names_refused() -> None:
    assert list(PROJECTIONS) == ["umap", "tsne", "pca"]
    assert list(CLUSTERERS) == ["kmeans", "kmedoids", "hdbscan"]
    with pytest.raises(UsageError, match=r"projections moments: choose from umap, tsne, pca \("):
        AnalysisSettings(collection="c", projections="moments").check()
    with pytest.raises(ValueError, match="already registered"):
        register_projection("umap")(_moments)
    with pytest.raises(ValueError, match="lower-case"):
        register_clusterer("K-Means")(_halves)
    assert PROJECTIONS["umap"].run is not _moments


def _distance_to_centroid(a: Analysis) -> np.ndarray:
    centre = a.data.X.mean(axis=0)
    return 1.0 - a.data.X @ (centre / np.linalg.norm(centre))


def test_a_registered_score_reaches_payloads_report_and_html(
    reg_store: EdgeStore, tmp_path: Path
) -> None:
    from embedscope.analysis.registry import SCORES, register_score, unregister_score
    from embedscope.analysis.report_model import Report

    register_score("atypical", title="distance to the mean",
                   description="cosine distance to the mean direction")(_distance_to_centroid)
    try:
        document, out = run(reg_store, _settings(tmp_path, projections="pca", clusterers=""))
    finally:
        unregister_score("atypical")
    assert "atypical" not in SCORES
    report = Report.read(out / "report.json")
    assert report.payload_fields[-1] == "atypical" and document["payload_fields"] == report.payload_fields
    assert report.point_scores["atypical"].title == "distance to the mean"
    assert "distance to the mean" in (out / "report.html").read_text()
    X = np.vstack([p.vector for p in reg_store.scroll("reg", with_vectors=True)])
    stored = {p.id: p.payload["atypical"] for p in reg_store.scroll("reg", with_payload=["atypical"])}
    ids = [p.id for p in reg_store.scroll("reg")]
    centre = X.mean(axis=0)
    expected = 1.0 - X @ (centre / np.linalg.norm(centre))
    np.testing.assert_allclose([stored[i] for i in ids], expected, rtol=1e-5, atol=1e-6)


def test_every_extension_point_refuses_a_second_registration() -> None:
    from embedscope.analysis.registry import METRICS, SCORES, register_metric, register_score
    from embedscope.errors import RegistrationError

    with pytest.raises(RegistrationError, match="already registered"):
        register_metric(METRICS.names()[0])(lambda a, s, st: None)
    with pytest.raises(RegistrationError, match="already registered"):
        register_score(SCORES.names()[0])(_distance_to_centroid)
