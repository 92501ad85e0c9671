"""A full analysis run on embedded Qdrant equals direct sklearn/umap/kmedoids computations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.compare import default_dir
from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.job import default_out, run
from embedscope.store.edge import EdgeStore

N = 600
NAME = "fm__pixels"


@pytest.fixture(scope="module")
def full(
    tmp_path_factory: pytest.TempPathFactory, sample800: dict[str, Any], make_collection: Any
) -> Iterator[dict]:
    """One run with every projection and clusterer and the animation; store kept open."""
    root = tmp_path_factory.mktemp("analysis")
    store = EdgeStore(root / "qdrant")
    ids = make_collection(store, NAME, sample800, n=N)
    settings = AnalysisSettings(
        collection=NAME, out=root / "report", seed=3, animate=True, animate_steps=3,
        animate_points=300, progress=False, projections="umap,tsne,pca",
    )
    report, out = run(store, settings)
    order = np.argsort(ids)  # the analysis sorts points by id
    yield {"store": store, "report": report, "out": out, "ids": [ids[i] for i in order],
           "X": sample800["X"][:N][order], "y": sample800["labels"][:N][order]}
    store.close()


@pytest.fixture(scope="module")
def payloads(full: dict) -> dict[str, Any]:
    recs = full["store"].retrieve(NAME, full["ids"])
    by_id = {r.id: r.payload for r in recs}
    return {f: np.array([by_id[i][f] for i in full["ids"]]) for f in
            ("umap", "tsne", "pca", "cluster_kmeans", "cluster_kmedoids", "cluster_hdbscan")}


def test_maps_equal_direct_computation(full: dict, payloads: dict) -> None:
    import umap
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    X = full["X"]
    expected_umap = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine",
                              random_state=3).fit_transform(X)
    np.testing.assert_allclose(payloads["umap"], expected_umap, atol=1e-4)
    expected_tsne = TSNE(perplexity=30.0, metric="cosine", init="pca",
                         random_state=3).fit_transform(X)
    np.testing.assert_allclose(payloads["tsne"], expected_tsne, atol=1e-3)
    pca = PCA(n_components=50, random_state=3)
    np.testing.assert_allclose(payloads["pca"], pca.fit_transform(X)[:, :2], atol=1e-4)
    ratio = full["report"]["pca"]["explained_variance_ratio"]
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_, atol=1e-6)


def test_clusterings_and_figures_equal_sklearn(full: dict, payloads: dict) -> None:
    import kmedoids
    from sklearn.cluster import HDBSCAN, KMeans
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import (
        adjusted_rand_score,
        normalized_mutual_info_score,
        silhouette_samples,
        silhouette_score,
    )
    from sklearn.metrics.pairwise import cosine_distances

    X, y, rep = full["X"], full["y"], full["report"]
    km = KMeans(n_clusters=10, random_state=3, n_init=3).fit_predict(X)
    assert np.array_equal(payloads["cluster_kmeans"], km)
    pam = kmedoids.fasterpam(cosine_distances(X), 10, max_iter=100, init="random",
                             random_state=3, n_cpu=1)
    assert np.array_equal(payloads["cluster_kmedoids"], np.asarray(pam.labels))
    hdb = HDBSCAN(min_cluster_size=15, copy=True).fit_predict(
        PCA(n_components=50, random_state=3).fit_transform(X)[:, :10])
    assert np.array_equal(payloads["cluster_hdbscan"], hdb)

    emb = rep["silhouette"]["embedding"]
    assert emb["labels"] == pytest.approx(silhouette_score(X, y, metric="cosine"), abs=1e-5)
    assert emb["kmeans"] == pytest.approx(silhouette_score(X, km, metric="cosine"), abs=1e-5)
    keep = hdb >= 0
    assert emb["hdbscan"] == pytest.approx(
        silhouette_score(X[keep], hdb[keep], metric="cosine"), abs=1e-5)
    per_class = silhouette_samples(X, y, metric="cosine")
    for row in rep["per_class_silhouette"]:
        assert row["silhouette"] == pytest.approx(per_class[y == row["label"]].mean(), abs=1e-5)
    for proj in ("umap", "tsne", "pca"):
        Y = payloads[proj]
        maps = rep["silhouette"]["maps"][proj]
        assert maps["labels"] == pytest.approx(silhouette_score(Y, y), abs=1e-5)
        assert maps["kmedoids"] == pytest.approx(
            silhouette_score(Y, payloads["cluster_kmedoids"]), abs=1e-5)
        assert rep["trustworthiness"][proj] == pytest.approx(
            trustworthiness(X, Y, n_neighbors=5, metric="cosine"), abs=1e-4)
    c = rep["clusterings"]["kmeans"]
    assert c["ari"] == pytest.approx(adjusted_rand_score(y, km))
    assert c["nmi"] == pytest.approx(normalized_mutual_info_score(y, km))
    assert np.asarray(c["contingency"]).sum() == len(y)
    assert set(rep["knn_accuracy"]["accuracy"]) == {"1", "5", "10", "20"}


def test_report_files_html_and_metadata(full: dict) -> None:
    out: Path = full["out"]
    rep = json.loads((out / "report.json").read_text())
    assert rep["model"]["model"] == "pixels" and rep["parameters"]["seed"] == 3
    assert {"scikit-learn", "umap-learn", "kmedoids"} <= set(rep["versions"])
    for key in ("map_umap", "map_tsne", "map_pca", "per_class_silhouette", "contingency_kmeans",
                "thumbnails_kmeans", "pca_variance", "pca_strip", "animation"):
        assert (out / rep["files"][key]).stat().st_size > 0, key
    page = (out / "report.html").read_text()
    pngs = [f for f in rep["files"].values() if f.endswith(".png")]
    assert page.count("src='data:image/png;base64,") == len(pngs)
    assert "data:image/gif;base64," in page
    assert not re.search(r"src='(?!data:)", page)
    assert rep["label_errors"] and {"id", "split", "index", "suggested_name"} <= set(
        rep["label_errors"][0])
    meta = full["store"].get_meta(NAME)
    assert meta.analysis["run_id"] == rep["run_id"]
    assert meta.analysis["report"].endswith("report.json")
    assert "cluster_hdbscan" in meta.analysis["fields"]


def test_same_seed_same_results(full: dict, tmp_path: Path) -> None:
    settings = AnalysisSettings(
        collection=NAME, out=tmp_path / "again", seed=3, projections="umap,pca",
        clusterers="kmeans,kmedoids", write_back=False, progress=False,
    )
    again, _ = run(full["store"], settings)
    first = full["report"]
    for key in ("labels", "kmeans", "kmedoids"):
        assert again["silhouette"]["maps"]["umap"][key] == first["silhouette"]["maps"]["umap"][key]
    assert again["clusterings"]["kmedoids"]["contingency"] == (
        first["clusterings"]["kmedoids"]["contingency"])
    assert again["label_errors"] == first["label_errors"]


def test_write_back_on_every_backend(
    store: Any, sample800: dict[str, Any], make_collection: Any, tmp_path: Path
) -> None:
    ids = make_collection(store, "wb", sample800, n=120)
    settings = AnalysisSettings(collection="wb", out=tmp_path / "r", projections="pca",
                                clusterers="kmeans", progress=False)
    report, _ = run(store, settings)
    recs = {r.id: r.payload for r in store.retrieve("wb", ids[:5])}
    assert all(len(recs[i]["pca"]) == 2 and "cluster_kmeans" in recs[i] for i in ids[:5])
    assert recs[ids[0]]["label"] == int(sample800["labels"][0])  # existing payload kept
    assert store.get_meta("wb").analysis["run_id"] == report["run_id"]


def test_report_dirs_take_a_given_data_dir(data_env: Path, tmp_path: Path) -> None:
    s = AnalysisSettings(collection="c")
    assert default_out(s) == data_env / "reports" / "c"  # None: QdrantSettings().data_dir
    assert default_out(s, tmp_path / "d") == tmp_path / "d" / "reports" / "c"
    compare_dir = default_dir(s, ["a", "b"], tmp_path / "d")
    assert compare_dir == tmp_path / "d" / "reports" / "compare__a__b"
    given = s.model_copy(update={"out": tmp_path / "o"})
    assert default_out(given, tmp_path / "d") == default_dir(given, ["a", "b"]) == tmp_path / "o"


def test_the_vectors_are_let_go_before_the_write_back(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any,
) -> None:
    """The engine copies every point whose payload is written (1.8 GB at 1M × 384): the
    analysis no longer holds its copy of the vectors then, and report.json still states their
    dimension."""
    from embedscope.analysis.job import compute
    from embedscope.analysis.outputs import write_outputs
    from embedscope.analysis.result import Stages

    held: list[int] = []
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, NAME, sample800, n=300)
        a = compute(store, AnalysisSettings(collection=NAME, projections="pca",
                                            clusterers="kmeans", progress=False))
        dim = a.data.X.shape[1]
        write = store.set_payloads

        def spy(name: str, updates: dict[str, dict[str, Any]]) -> None:
            held.append(len(a.data.X))
            write(name, updates)

        store.set_payloads = spy  # type: ignore[method-assign]
        document = write_outputs(store, a, tmp_path / "r", Stages(False))
    assert held and set(held) == {0}
    assert document["data"]["dimension"] == dim == sample800["X"].shape[1]


def test_past_graph_max_points_the_store_rests_after_the_fetch_and_after_the_graph(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any,
) -> None:
    """The maps, clusterings and figures read no vector from the store: above
    --graph-max-points the analysis lets the embedded shard's memory go after its graph (the
    plots and the write-back open it again), and after the fetch, whose scroll maps the vector
    file apart from the mapping the graph's searches use."""
    from embedscope.analysis.job import compute
    from embedscope.analysis.result import Stages

    calls: list[tuple[str, bool, str | None]] = []
    stages = Stages(False)
    for limit in (1000, 100):
        with EdgeStore(tmp_path / f"q{limit}") as store:
            make_collection(store, NAME, sample800, n=300)
            rest = store.rest

            def spy(name: str, rest: Any = rest, store: EdgeStore = store) -> None:
                calls.append((name, name in store._shards, stages.current))
                rest(name)

            store.rest = spy  # type: ignore[method-assign]
            a = compute(store, AnalysisSettings(collection=NAME, projections="pca",
                                                clusterers="kmeans", graph_max_points=limit,
                                                progress=False), stages)
            assert store.count(NAME) == 300 and len(a.maps["pca"]) == 300
    # twice, the shard open each time (the graph opened it again), and only past the limit
    assert calls == [(NAME, True, "fetch vectors"), (NAME, True, None)]
