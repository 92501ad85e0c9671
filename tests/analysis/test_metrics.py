"""Chunked figures equal scikit-learn's on the shared sample; lists equal brute force."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from embedscope.analysis import clustering, findings, metrics
from embedscope.analysis.data import stratified_indices


@pytest.fixture(scope="module")
def small(sample800: dict[str, Any]) -> dict[str, Any]:
    return {"X": sample800["X"][:500], "labels": sample800["labels"][:500]}


def test_cosine_silhouette_equals_sklearn(small: dict[str, Any]) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_samples, silhouette_score

    X, y = small["X"], small["labels"]
    ours = metrics.cosine_silhouette_samples(X, y, chunk=64)
    np.testing.assert_allclose(ours, silhouette_samples(X, y, metric="cosine"), atol=1e-5)
    km = KMeans(n_clusters=7, random_state=0, n_init=1).fit_predict(X)
    assert metrics.mean_or_none(metrics.cosine_silhouette_samples(X, km, chunk=100)) == (
        pytest.approx(silhouette_score(X, km, metric="cosine"), abs=1e-5)
    )
    assert metrics.cosine_silhouette_samples(X, np.zeros(len(X), int)) is None


def test_map_silhouette_and_trustworthiness_equal_sklearn(small: dict[str, Any]) -> None:
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_samples

    X, y = small["X"], small["labels"]
    Y = PCA(n_components=2, random_state=0).fit_transform(X)
    noisy = y.copy()
    noisy[:40] = -1  # HDBSCAN-style noise is left out
    got = metrics.map_silhouette_samples(Y, {"labels": y, "noisy": noisy}, chunk=50)
    np.testing.assert_allclose(got["labels"], silhouette_samples(Y, y), atol=1e-6)
    np.testing.assert_allclose(got["noisy"][40:], silhouette_samples(Y[40:], y[40:]), atol=1e-6)
    assert np.isnan(got["noisy"][:40]).all()
    ours = metrics.trustworthiness(X, Y, 5, chunk=64)
    assert ours == pytest.approx(trustworthiness(X, Y, n_neighbors=5, metric="cosine"), abs=1e-4)


def test_the_maps_trustworthiness_in_one_pass_equals_each_map_alone(
    small: dict[str, Any], tmp_path: Any,
) -> None:
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness

    from embedscope.analysis.graph import knn_graph
    from embedscope.scratch import ScratchWriter

    X = small["X"]
    pcs = PCA(n_components=4, random_state=0).fit_transform(X)
    maps = {"pca": pcs[:, :2], "other": pcs[:, 2:], "noise":
            np.random.default_rng(0).normal(size=(len(X), 2))}
    alone = {name: trustworthiness(X, Y, n_neighbors=5, metric="cosine")
             for name, Y in maps.items()}
    assert len({round(v, 3) for v in alone.values()}) == 3  # three different maps
    rows = np.sort(np.random.default_rng(1).choice(len(X), 120, replace=False))
    graph = knn_graph(X, 5).index
    out = ScratchWriter(X.shape[1], tmp_path)
    out.append(X / np.linalg.norm(X, axis=1, keepdims=True))
    streamed = out.array()
    for kw in ({}, {"graph_index": graph}, {"rows": rows}, {"rows": rows, "graph_index": graph}):
        together = metrics.maps_trustworthiness(X, maps, 5, chunk=64, **kw)
        assert together == {name: metrics.trustworthiness(X, Y, 5, chunk=64, **kw)
                            for name, Y in maps.items()}, kw
        if "rows" not in kw:
            assert together == pytest.approx(alone, abs=1e-4)
        assert metrics.maps_trustworthiness(streamed, maps, 5, **kw) == pytest.approx(
            together, abs=1e-6)
    assert metrics.maps_trustworthiness(X, {}, 5) == {}
    assert metrics.maps_trustworthiness(X[:8], maps, 5) == dict.fromkeys(maps)


def test_neighbours_and_duplicates_equal_brute_force(small: dict[str, Any]) -> None:
    X = small["X"].copy()
    X[10] = X[3]  # an exact duplicate
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    nb = findings.neighbour_pass(X, 5, 0.95, max_pairs=10_000, chunk=37)
    np.testing.assert_allclose(nb.sim, -np.sort(-sims, axis=1)[:, :5], atol=1e-5)
    ii, jj = np.nonzero(np.triu(sims >= 0.95, 1))
    assert nb.dup_total == len(ii)
    assert {tuple(p) for p in nb.dup_pairs.tolist()} == set(zip(ii.tolist(), jj.tolist(),
                                                                strict=True))
    assert tuple(nb.dup_pairs[0]) == (3, 10)
    capped = findings.neighbour_pass(X, 5, 0.95, max_pairs=3, chunk=37)
    assert len(capped.dup_pairs) == min(3, len(ii)) and capped.dup_total == len(ii)


def test_label_errors_rank_planted_flips(small: dict[str, Any]) -> None:
    X, y = small["X"][:200], small["labels"][:200].copy()
    nb = findings.neighbour_pass(X, 10, 0.99)
    flipped = np.flatnonzero(y == y[0])[:3]
    y[flipped] = (y[flipped] + 1) % 10  # plant label errors
    errors = findings.label_errors(nb, y, 10, 0.2, 50)
    rows = [e["row"] for e in errors]
    assert set(flipped.tolist()) <= set(rows)
    agreements = [e["agreement"] for e in errors]
    assert agreements == sorted(agreements)


def test_choose_k_matches_sklearn_silhouette(small: dict[str, Any]) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    X = small["X"][:300]
    k, curve = clustering.choose_k(X, 2, 5, seed=3, n_init=1)
    direct = {c: silhouette_score(X, KMeans(c, random_state=3, n_init=1).fit_predict(X),
                                  metric="cosine") for c in range(2, 6)}
    for point in curve:
        assert point["silhouette"] == pytest.approx(direct[point["k"]], abs=1e-5)
    assert k == max(direct, key=direct.__getitem__)


def test_stratified_sample_is_seeded_and_keeps_proportions(small: dict[str, Any]) -> None:
    y = small["labels"]
    a = stratified_indices(len(y), 100, 7, y)
    assert np.array_equal(a, stratified_indices(len(y), 100, 7, y))
    assert not np.array_equal(a, stratified_indices(len(y), 100, 8, y))
    expected = np.bincount(y, minlength=10) / len(y) * 100
    assert np.abs(np.bincount(y[a], minlength=10) - expected).max() <= 1.0


def test_normalize_keeps_unit_rows_without_a_copy_and_scales_the_others() -> None:
    from embedscope.analysis.data import normalize

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 16)).astype(np.float32)
    scaled = normalize(X)
    assert scaled is not X
    np.testing.assert_allclose(np.linalg.norm(scaled, axis=1), 1.0, rtol=1e-6)
    assert normalize(scaled) is scaled  # vectors of a cosine collection: no second copy
    X[3] = 0.0
    out = normalize(X)
    assert (out[3] == 0).all() and np.isfinite(out).all()
    # row by row: a row comes out the same whatever rows it is normalised with
    np.testing.assert_array_equal(normalize(np.vstack([scaled[:5], X[10:12]]))[:5], scaled[:5])
