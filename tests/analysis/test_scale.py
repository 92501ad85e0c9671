"""Analysis at scale: the shared exact graph, sampled estimates, fits on samples, torch paths.

The torch code paths run here on CPU tensors (device="cpu": the same code a GPU runs); the
tests marked ``gpu`` repeat them on CUDA where a GPU exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis import clustering, findings, graph, metrics, projections
from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.device import resolve_device
from embedscope.analysis.job import compute, run
from embedscope.analysis.outputs import _graph_info, payload_updates
from embedscope.analysis.torch_kmeans import kmeans_torch
from embedscope.errors import UsageError
from embedscope.store.edge import EdgeStore

#: Stated tolerances of the sampled estimates (checked on 10k points below).
SILHOUETTE_TOLERANCE = 0.02  # 2-D map silhouette, 2,000 sampled rows of 10,000
TRUST_TOLERANCE = 0.01  # trustworthiness, 1,000 sampled rows of 10,000


def clustered(n: int, d: int, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    y = rng.integers(0, classes, n)
    X = (centres[y] + rng.normal(scale=1.5, size=(n, d))).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


@pytest.fixture(scope="module")
def small(sample800: dict[str, Any]) -> dict[str, Any]:
    return {"X": sample800["X"][:500], "y": sample800["labels"][:500]}


@pytest.mark.parametrize("block", [64, 500, 4096])
def test_graph_equals_brute_force_for_any_block(small: dict[str, Any], block: int) -> None:
    X = small["X"].copy()
    X[7] = X[2]  # an exact duplicate
    sims = (X @ X.T).astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    nb = graph.knn_graph(X, 15, dup_threshold=0.97, max_pairs=10_000, block=block)
    order = np.lexsort((np.broadcast_to(np.arange(len(X)), sims.shape), -sims), axis=1)[:, :15]
    expected = np.take_along_axis(sims, order, axis=1)
    np.testing.assert_allclose(nb.sim, expected, atol=1e-5)
    close = np.abs(np.diff(expected, axis=1)).min(axis=1) > 1e-5  # rows without near-ties
    assert np.array_equal(nb.index[close], order[close])
    ii, jj = np.nonzero(np.triu(sims >= 0.97, 1))
    assert nb.dup_total == len(ii) and tuple(nb.dup_pairs[0]) == (2, 7)
    idx, dist = nb.distances(10)
    assert idx.dtype == np.int32 and dist.shape == (500, 10) and (dist >= 0).all()


def test_knn_accuracy_and_fields_equal_sklearn_leave_one_out(small: dict[str, Any]) -> None:
    from sklearn.neighbors import NearestNeighbors

    X, y = small["X"], small["y"]
    nb = graph.knn_graph(X, 20)
    near = NearestNeighbors(n_neighbors=20, metric="cosine").fit(X).kneighbors(
        return_distance=False)
    acc = findings.knn_graph_accuracy(nb, y, [1, 5, 20])
    for k in (1, 5, 20):
        votes = np.array([np.bincount(y[row[:k]], minlength=10) for row in near])
        assert acc[str(k)] == pytest.approx(float((votes.argmax(axis=1) == y).mean()), abs=2e-3)
    fields = findings.knn_fields(nb, y, 10)
    votes = np.array([np.bincount(y[row[:10]], minlength=10) for row in nb.index])
    assert np.array_equal(fields["knn_correct"], (votes.argmax(axis=1) == y).astype(int))
    np.testing.assert_allclose(fields["knn_confidence"], votes.max(axis=1) / 10)
    np.testing.assert_allclose(fields["label_error"], 1 - votes[np.arange(len(y)), y] / 10)
    flipped = y.copy()
    flipped[:5] = (flipped[:5] + 3) % 10  # planted errors score high
    scores = findings.knn_fields(nb, flipped, 10)["label_error"]
    assert scores[:5].mean() > scores[5:].mean() + 0.3


def test_trustworthiness_with_the_graph_equals_sklearn(small: dict[str, Any]) -> None:
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness

    X = small["X"]
    Y = PCA(n_components=2, random_state=0).fit_transform(X)
    nb = graph.knn_graph(X, 5)
    ours = metrics.trustworthiness(X, Y, 5, graph_index=nb.index, chunk=64)
    assert ours == pytest.approx(trustworthiness(X, Y, n_neighbors=5, metric="cosine"), abs=1e-4)


def test_sampled_estimates_within_tolerance_on_10k_points() -> None:
    from sklearn.decomposition import PCA

    X, y = clustered(10_000, 32)
    Y = PCA(n_components=2, random_state=0).fit_transform(X)
    km = clustering.kmeans(X, 10, 0, 1).labels
    exact = metrics.map_silhouette_samples(Y, {"labels": y, "kmeans": km})
    rows = np.sort(np.random.default_rng(0).choice(10_000, 2000, replace=False))
    est = metrics.map_silhouette_samples(Y, {"labels": y, "kmeans": km}, rows=rows)
    for name in ("labels", "kmeans"):
        assert np.isnan(est[name]).sum() == 8000
        np.testing.assert_allclose(est[name][rows], exact[name][rows], atol=1e-9)
        assert abs(metrics.mean_or_none(est[name]) - metrics.mean_or_none(exact[name])) <= (
            SILHOUETTE_TOLERANCE)
    nb = graph.knn_graph(X, 5)
    full = metrics.trustworthiness(X, Y, 5, graph_index=nb.index)
    sampled = np.sort(np.random.default_rng(1).choice(10_000, 1000, replace=False))
    estimate = metrics.trustworthiness(X, Y, 5, rows=sampled)
    assert full is not None and estimate is not None
    assert abs(estimate - full) <= TRUST_TOLERANCE
    assert metrics.trustworthiness(X, Y, 5, rows=sampled) == estimate  # seeded: repeatable


def test_hdbscan_on_a_sample_labels_every_point() -> None:
    from sklearn.cluster import HDBSCAN

    Z, _ = clustered(1500, 5)
    c = clustering.hdbscan(Z, 15, "pca5", max_points=600, seed=2)
    fit = np.sort(np.random.default_rng(2).choice(1500, 600, replace=False))
    assert np.array_equal(c.labels[fit], HDBSCAN(min_cluster_size=15, copy=True).fit_predict(Z[fit]))
    assert c.params["fitted_on"] == 600 and len(c.labels) == 1500
    assert c.info["clusters"] >= 2


def test_place_puts_points_at_the_weighted_mean_of_fitted_neighbours() -> None:
    X, _ = clustered(300, 16)
    fit = np.arange(0, 300, 3)
    Y_fit = np.random.default_rng(0).normal(size=(len(fit), 2))
    Y = projections.place(X, fit, Y_fit, k=4)
    np.testing.assert_array_equal(Y[fit], Y_fit)
    idx, sim = graph.knn_to(X[1:2], X[fit], 4)
    expected = (sim[0][:, None] * Y_fit[idx[0]]).sum(axis=0) / sim[0].sum()
    np.testing.assert_allclose(Y[1], expected, rtol=1e-5)


def test_torch_kmeans_on_cpu_tensors_matches_sklearn() -> None:
    from sklearn.metrics import adjusted_rand_score

    X, y = clustered(3000, 24, classes=6)
    ours = kmeans_torch(X, 6, seed=1, n_init=3, device="cpu")
    again = kmeans_torch(X, 6, seed=1, n_init=3, device="cpu")
    ref = clustering.kmeans(X, 6, 1, 3)
    assert np.array_equal(ours.labels, again.labels)  # seeded
    assert ours.info["inertia"] <= ref.info["inertia"] * 1.01
    assert adjusted_rand_score(ref.labels, ours.labels) > 0.95
    assert adjusted_rand_score(y, ours.labels) >= adjusted_rand_score(y, ref.labels) - 0.02


def test_kmeans_on_a_sample_equals_sklearn_fitted_on_it_then_predicting() -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    X, y = clustered(3000, 24, classes=6)
    ours = clustering.kmeans(X, 6, seed=1, n_init=3, max_points=700)
    fit = np.sort(np.random.default_rng(1).choice(3000, size=700, replace=False))
    model = KMeans(n_clusters=6, random_state=1, n_init=3).fit(X[fit])
    assert np.array_equal(ours.labels, model.predict(X))
    assert ours.info["inertia"] == pytest.approx(-model.score(X), rel=1e-4)
    assert ours.params["fitted_on"] == 700
    full = clustering.kmeans(X, 6, 1, 3)  # centres from all points: nearly the same clustering
    assert ours.info["inertia"] <= full.info["inertia"] * 1.02
    assert adjusted_rand_score(full.labels, ours.labels) > 0.9
    assert "fitted_on" not in clustering.kmeans(X, 6, 1, 3, max_points=3000).params


def test_device_setting() -> None:
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="choose auto, cpu or cuda"):
        resolve_device("tpu")
    with pytest.raises(UsageError, match="--device"):
        AnalysisSettings(collection="c", device="gpu").check()
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_job_on_samples_writes_knn_fields_and_states_estimates(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    with EdgeStore(tmp_path / "qdrant") as store:
        ids = make_collection(store, "scale", sample800, n=160)
        s = AnalysisSettings(
            collection="scale", out=tmp_path / "r", projections="umap,tsne,pca",
            clusterers="kmeans,hdbscan", umap_neighbors=10, tsne_perplexity=10,
            graph_max_points=120, map_max_points=130, tsne_max_points=110,
            hdbscan_max_points=100, silhouette_sample=60, trust_sample=50, progress=False,
            graph="exact",  # the exact graph on a sample (auto scores every point: test_index_graph)
        )
        report, _ = run(store, s)
        payloads = {r.id: r.payload for r in store.retrieve("scale", ids)}
    est = report["estimates"]
    assert est["knn_graph"] == {"sample": 120, "of": 160}
    assert est["umap"]["fitted_on"] == 130 and est["tsne"]["fitted_on"] == 110
    assert est["silhouette_maps"]["sample"] == 60 and est["trustworthiness"]["sample"] == 50
    assert report["clusterings"]["hdbscan"]["params"]["fitted_on"] == 100
    assert any("--graph-max-points" in n for n in report["notes"])
    fields = ("knn_correct", "knn_confidence", "label_error")
    assert set(fields) <= set(report["payload_fields"])
    with_fields = [p for p in payloads.values() if "knn_correct" in p]
    assert len(with_fields) == 120  # the graph's sample only
    for p in with_fields:
        assert p["knn_correct"] in (0, 1) and 0 < p["knn_confidence"] <= 1
        assert 0 <= p["label_error"] <= 1
    assert all(len(p["umap"]) == 2 and len(p["tsne"]) == 2 for p in payloads.values())
    acc = report["knn_accuracy"]
    assert acc["points"] == 120 and set(acc["accuracy"]) == {"1", "5", "10", "20"}
    assert report["knn_graph"]["points"] == 120 and report["knn_graph"]["k"] == 20


@pytest.mark.slow
def test_umap_on_the_shared_graph_equals_umap_learn_given_the_same_graph() -> None:
    import umap
    from sklearn.neighbors import NearestNeighbors

    X, _ = clustered(projections.UMAP_OWN_EXACT + 100, 16)
    nb = graph.knn_graph(X, 15)
    knn = nb.distances(15)
    dist, idx = NearestNeighbors(n_neighbors=15, metric="cosine").fit(X).kneighbors(X)
    assert (idx[:, 0] == np.arange(len(X))).all()  # each point first, as umap-learn has it
    np.testing.assert_allclose(knn[1], dist, atol=1e-5)  # the exact graph, as sklearn's
    assert (knn[0] == idx).mean() > 0.999  # (near-ties may swap)
    ours = projections.umap_map(X, 15, 0.1, 4, knn=knn)
    ref = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", random_state=4,
                    precomputed_knn=knn).fit_transform(X)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.gpu
def test_graph_and_kmeans_on_cuda_agree_with_cpu() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    X, _ = clustered(5000, 64)
    cpu, gpu = graph.knn_graph(X, 10, device="cpu"), graph.knn_graph(X, 10, device="cuda")
    np.testing.assert_allclose(cpu.sim, gpu.sim, atol=1e-4)
    assert (cpu.index == gpu.index).mean() > 0.999
    assert kmeans_torch(X, 10, 0, 2, device="cuda").info["inertia"] == pytest.approx(
        kmeans_torch(X, 10, 0, 2, device="cpu").info["inertia"], rel=1e-3)


def test_approximate_graph_finds_true_neighbours_and_states_its_recall(
    sample800: dict[str, Any],
) -> None:
    X = sample800["X"].copy()
    X[7] = X[2]  # an exact duplicate
    exact = graph.knn_graph(X, 15, dup_threshold=0.97, max_pairs=10_000)
    nb = graph.approximate_graph(X, 15, dup_threshold=0.97, max_pairs=10_000, seed=0)
    assert nb.index.shape == (len(X), 15) and not (nb.index == np.arange(len(X))[:, None]).any()
    # every neighbour's similarity is its true cosine, most similar first
    true = np.einsum("nd,nkd->nk", X.astype(np.float64), X[nb.index].astype(np.float64))
    np.testing.assert_allclose(nb.sim, true, atol=1e-5)
    assert (np.diff(nb.sim, axis=1) <= 1e-7).all()
    recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(nb.index, exact.index)]) / 15
    assert recall > 0.9
    # the sampled estimate the report states is close to the whole graph's recall
    assert abs(graph.graph_recall(X, nb, sample=400, seed=3) - recall) < 0.03
    assert graph.graph_recall(X, exact, sample=400) > 0.999
    assert (2, 7) in {tuple(p) for p in nb.dup_pairs} and nb.dup_total <= exact.dup_total
    again = graph.approximate_graph(X, 15, dup_threshold=0.97, max_pairs=10_000, seed=0)
    assert np.array_equal(again.index, nb.index)  # seeded: the same graph twice


def test_job_with_an_approximate_graph_says_so_and_keeps_exact_figures_exact(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    from sklearn.manifold import trustworthiness

    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "approx", sample800, n=400)
        s = AnalysisSettings(collection="approx", out=tmp_path / "r", projections="umap,pca",
                             clusterers="kmeans", umap_neighbors=10, graph="approximate",
                             progress=False)
        a = compute(store, s)
    est = a.estimates["knn_graph_recall"]
    assert est["sample"] == 400 and est["k"] == 20 and 0.8 < est["recall"] <= 1.0
    assert _graph_info(a)["method"].startswith("approximate")
    assert "approximate" in a.knn_accuracy["source"]
    assert any("--graph approximate" in n and f"{est['recall']:.1%}" in n for n in a.notes)
    # trustworthiness does not lean on an approximate graph: it still equals scikit-learn's
    expected = trustworthiness(a.data.X, a.maps["pca"], n_neighbors=s.trust_neighbors,
                               metric="cosine")
    assert a.trust["pca"] == pytest.approx(expected, abs=1e-9)
    # the payload write-back goes in chunks that together are every point's update
    whole = next(payload_updates(a, chunk=10**9))
    parts = list(payload_updates(a, chunk=7))
    assert len(whole) == 400 and len(parts) == -(-400 // 7)
    assert {pid: item for part in parts for pid, item in part.items()} == whole
    assert {"umap", "pca", "cluster_kmeans", "knn_correct"} <= set(whole[a.data.ids[0]])
    with pytest.raises(UsageError, match="--graph 'fuzzy'"):
        AnalysisSettings(collection="approx", graph="fuzzy").check()


def test_searches_against_every_point_hold_a_bounded_block(
    small: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    X = small["X"]
    whole_idx, whole_sim = graph.knn_to(X[:50], X, 6)
    whole_rows = [s.numpy().copy() for _, s in graph.rows_similarities(X, np.arange(50))]
    monkeypatch.setattr(graph, "BLOCK_VALUES", 7 * len(X))  # 7 query rows a block
    assert graph.bounded_block(4096, len(X)) == 7 and graph.bounded_block(3, len(X)) == 3
    idx, sim = graph.knn_to(X[:50], X, 6)
    np.testing.assert_array_equal(idx, whole_idx)
    np.testing.assert_allclose(sim, whole_sim, atol=1e-6)
    parts = list(graph.rows_similarities(X, np.arange(50)))
    assert max(len(p) for p, _ in parts) == 7
    np.testing.assert_allclose(np.vstack([s.numpy() for _, s in parts]), np.vstack(whole_rows),
                               atol=1e-6)
