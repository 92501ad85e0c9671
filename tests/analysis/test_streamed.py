"""--stream-from: the analysis reads its vectors from a scratch file, a block at a time, and
finds what it finds with them in memory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import fetch
from embedscope.analysis.job import compute, run
from embedscope.scratch import ScratchWriter, release, spilled
from embedscope.store.edge import EdgeStore
from tests.mapped import mapped_kb, peak_kb


def _settings(**kw: Any) -> AnalysisSettings:
    return AnalysisSettings(
        collection="streamed", projections="umap,tsne,pca", clusterers="kmeans,kmedoids,hdbscan",
        umap_neighbors=10, tsne_perplexity=10, graph_max_points=100, map_max_points=150,
        tsne_max_points=120, kmeans_max_points=200, kmedoids_max_points=100,
        hdbscan_max_points=150, trust_sample=100, silhouette_sample=200, progress=False, **kw)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> dict[str, Any]:
    """One collection (train and test, with test images copied from train) analysed with its
    vectors in memory and streamed from a scratch file."""
    from tests.analysis.conftest import build_collection, load_sample

    root = tmp_path_factory.mktemp("streamed")
    train, test = load_sample(sample_dir, 300, "train"), load_sample(sample_dir, 120, "test")
    test["X"][:6] = train["X"][10:16]  # six leaks
    with EdgeStore(root / "qdrant") as store:
        build_collection(store, "streamed", train)
        build_collection(store, "streamed", test)
        held = compute(store, _settings(stream_from=0))
        streamed = compute(store, _settings(stream_from=1, scratch_dir=root / "scratch"))
    return {"held": held, "streamed": streamed, "scratch": root / "scratch"}


def test_the_vectors_are_streamed_only_from_the_size_chosen(both: dict[str, Any]) -> None:
    held, streamed = both["held"], both["streamed"]
    assert streamed.streamed and spilled(streamed.data.X)
    assert not held.streamed and not spilled(held.data.X)
    np.testing.assert_array_equal(np.asarray(streamed.data.X), held.data.X)
    assert not list(both["scratch"].iterdir())  # the file went as soon as it was mapped


def test_every_figure_of_a_streamed_run_equals_the_run_in_memory(both: dict[str, Any]) -> None:
    held, streamed = both["held"], both["streamed"]
    assert held.graph_method == streamed.graph_method == "index"
    np.testing.assert_array_equal(held.graph.index, streamed.graph.index)
    assert held.estimates["knn_graph_recall"] == streamed.estimates["knn_graph_recall"]
    assert held.maps.keys() == streamed.maps.keys() == {"umap", "tsne", "pca"}
    for name in held.maps:
        np.testing.assert_allclose(streamed.maps[name], held.maps[name], atol=1e-5)
    for name in ("kmeans", "kmedoids", "hdbscan"):
        assert held.clusterings[name].params.get("fitted_on") is not None  # sampled, then placed
        np.testing.assert_array_equal(streamed.clusterings[name].labels,
                                      held.clusterings[name].labels)
    for name, value in held.silhouette_embedding.items():
        assert streamed.silhouette_embedding[name] == pytest.approx(value, abs=1e-9)
    for proj, value in held.trust.items():
        assert streamed.trust[proj] == pytest.approx(value, abs=1e-4)
    assert held.estimates["umap"]["agreement"] == pytest.approx(
        streamed.estimates["umap"]["agreement"], abs=1e-4)
    assert held.point_fields.keys() == streamed.point_fields.keys()
    for name, values in held.point_fields.items():
        np.testing.assert_allclose(streamed.point_fields[name], values, atol=1e-9)
    assert held.knn_accuracy == streamed.knn_accuracy
    assert len(held.leaks.rows) >= 6
    np.testing.assert_array_equal(streamed.leaks.rows, held.leaks.rows)
    np.testing.assert_array_equal(streamed.leaks.partners, held.leaks.partners)
    assert streamed.estimates["leaks_recall"] == held.estimates["leaks_recall"]


def test_a_memory_backed_scratch_directory_is_named_in_the_notes(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any,
) -> None:
    from embedscope.scratch import on_tmpfs

    if not on_tmpfs("/dev/shm"):
        pytest.skip("no tmpfs at /dev/shm here")
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "streamed", sample800, n=300)
        a = compute(store, AnalysisSettings(collection="streamed", projections="pca",
                                            clusterers="kmeans", stream_from=200,
                                            scratch_dir=Path("/dev/shm"), progress=False))
        b, _ = run(store, AnalysisSettings(collection="streamed", projections="pca",
                                           clusterers="kmeans", stream_from=200,
                                           scratch_dir=tmp_path / "disk", out=tmp_path / "r",
                                           progress=False))
        held, _ = run(store, AnalysisSettings(collection="streamed", projections="pca",
                                              clusterers="kmeans", out=tmp_path / "r2",
                                              progress=False))
        c = fetch(store, "streamed", sample=150, seed=3, progress=False, stream_from=200)
    assert a.streamed and any("memory-backed" in n for n in a.notes)
    assert b["data"]["streamed"] and not held["data"]["streamed"]  # report.json says which
    assert any("memory-backed" in n for n in b["notes"]) == on_tmpfs(tmp_path)
    assert not spilled(c.X) and c.n == 150  # a sample under --stream-from stays in memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_each_pass_over_streamed_vectors_holds_a_few_blocks_not_the_vectors(
    tmp_path: Path,
) -> None:
    from embedscope.analysis.clustering import kmeans
    from embedscope.analysis.graph import knn_to
    from embedscope.analysis.metrics import cosine_silhouette_samples, trustworthiness
    from embedscope.analysis.projections import pca
    from embedscope.analysis.scores import centroid_similarity
    from embedscope.search.leaks import find_leaks

    n, d = 196_608, 256  # 192 MiB of vectors in 16 MiB blocks
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, d))
    groups = np.repeat(np.arange(8), n // 8)
    out = ScratchWriter(d, tmp_path)
    for start in range(0, n, 16384):
        block = centres[groups[start:start + 16384]] + rng.normal(size=(16384, d))
        out.append(block / np.linalg.norm(block, axis=1, keepdims=True))
    X = out.array()
    Y = rng.normal(size=(n, 2))
    splits = ["test" if i % 1000 == 0 else "train" for i in range(n)]
    small = np.asarray(X[:3000])  # the same code on a small array first: libraries loaded
    knn_to(small[:10], small, 5)
    kmeans(small, 4, 0, 1, max_points=1000)
    trustworthiness(small, Y[:3000], 5, rows=np.arange(20))
    release(X)
    assert mapped_kb(X) == 0
    size_kb = n * d * 4 // 1024
    bound = size_kb // 3  # a few 16 MiB blocks; every page resident would be all of it
    runs = {
        "exact neighbours against every row": lambda: knn_to(np.asarray(X[:50]), X, 10),
        "centroid similarity": lambda: centroid_similarity(X, groups),
        "cosine silhouette": lambda: cosine_silhouette_samples(X, groups, 4096),
        "k-means on a sample, every row placed": lambda: kmeans(X, 8, 0, 1, max_points=5000),
        "PCA on a sample, every row projected": lambda: pca(X, 10, 0, fit_points=5000),
        "trustworthiness": lambda: trustworthiness(X, Y, 5, rows=np.arange(0, n, n // 64)),
        "leaks of a few query rows into every reference row": lambda: find_leaks(X, splits, 0.99),
    }
    grew = {name: peak_kb(X, run) for name, run in runs.items()}
    assert {name: kb for name, kb in grew.items() if kb >= bound} == {}, bound
    touched = peak_kb(X, lambda: float(np.asarray(X).sum()))  # the same read, held
    assert touched > 0.9 * size_kb


def test_pca_fitted_on_a_sample_projects_every_row_as_scikit_learn(tmp_path: Path) -> None:
    from sklearn.decomposition import PCA

    from embedscope.analysis.projections import pca

    X = np.random.default_rng(1).normal(size=(3000, 20)).astype(np.float32)
    out = ScratchWriter(20, tmp_path)
    out.append(X)
    S = out.array()
    got, held = pca(S, 8, 5, fit_points=500, keep=4), pca(X, 8, 5, fit_points=500, keep=4)
    fit = np.sort(np.random.default_rng(5).choice(3000, size=500, replace=False))
    ref = PCA(n_components=8, random_state=5).fit(X[fit])
    assert got.fitted_on == 500 and got.scores.shape == (3000, 4)
    np.testing.assert_allclose(got.scores, ref.transform(X)[:, :4], atol=1e-4)
    np.testing.assert_allclose(got.scores, held.scores, atol=1e-6)
    np.testing.assert_allclose(got.explained_variance_ratio, ref.explained_variance_ratio_)
    assert pca(X, 8, 5, fit_points=0).fitted_on is None  # every row fitted: as before
