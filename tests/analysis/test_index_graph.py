"""Every point scored above --graph-max-points: the shared graph through the collection's index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis import graph
from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import fetch
from embedscope.analysis.index_graph import (
    EF_STEPS,
    EF_TARGET_RECALL,
    choose_ef,
    index_graph,
    index_unusable,
)
from embedscope.analysis.job import compute, run
from embedscope.contract import CollectionMeta, row_point_id
from embedscope.store.edge import EdgeStore


def test_on_a_scanned_collection_the_index_graph_is_the_exact_graph(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import embedscope.analysis.index_graph as module

    monkeypatch.setattr(module, "SORT_ROWS", 101)  # rows ordered in blocks, the last one short
    sample = dict(sample800)
    sample["X"] = sample800["X"].copy()
    sample["X"][7] = sample["X"][2]  # an exact duplicate
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "scan", sample)
        data = fetch(store, "scan", progress=False)
        assert store.indexed_vectors("scan") == 0  # small: every query scans, so exactly
        nb = index_graph(store, "scan", data.ids, data.X, 15, dup_threshold=0.97,
                         max_pairs=10_000, batch=97)
    exact = graph.knn_graph(data.X, 15, dup_threshold=0.97, max_pairs=10_000)
    np.testing.assert_allclose(nb.sim, exact.sim, atol=1e-5)
    close = np.abs(np.diff(exact.sim, axis=1)).min(axis=1) > 1e-5  # rows without near-ties
    assert np.array_equal(nb.index[close], exact.index[close])
    assert not (nb.index == np.arange(data.n)[:, None]).any()  # never a point's own neighbour
    # pairs among the neighbours: every exact pair whose partner is among the 15 nearest
    assert {tuple(p) for p in nb.dup_pairs} <= {tuple(p) for p in exact.dup_pairs}
    row = {pid: i for i, pid in enumerate(data.ids)}
    pair = tuple(sorted(row[row_point_id("fashion_mnist_sample", "train", i)] for i in (2, 7)))
    assert pair in {tuple(p) for p in nb.dup_pairs}
    assert graph.graph_recall(data.X, nb, sample=300) > 0.999


def planted(n: int, d: int, copies: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Clustered unit vectors whose last 2·copies rows copy earlier rows: ``copies`` exactly and
    ``copies`` with light noise (cosine ≈ 0.99); the planted (original, copy) pairs."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, d))
    X = centres[rng.integers(0, 50, n)] + rng.normal(scale=1.2, size=(n, d))
    sources = rng.choice(n - 2 * copies, size=2 * copies, replace=False)
    X[n - 2 * copies:] = X[sources]
    X[n - copies:] += rng.normal(scale=0.003 * np.sqrt(d), size=(copies, d)) * np.linalg.norm(
        X[n - copies:], axis=1, keepdims=True) / np.sqrt(d)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X, [(int(s), n - 2 * copies + i) for i, s in enumerate(sources)]


@pytest.mark.slow
def test_planted_copies_are_found_through_the_hnsw_index(tmp_path: Path) -> None:
    X, pairs = planted(20_000, 384, 200)
    ids = [row_point_id("planted", "all", i) for i in range(len(X))]
    with EdgeStore(tmp_path / "qdrant") as store:
        store.ensure_collection("planted", CollectionMeta(model="m", dimension=384,
                                                          dataset="planted"))
        for start in range(0, len(X), 4096):
            store.upsert("planted", ids[start:start + 4096], X[start:start + 4096],
                         [{}] * len(ids[start:start + 4096]))
        assert index_unusable(store, "planted", len(X)) is not None  # not built yet
        store.optimize("planted")
        assert store.indexed_vectors("planted") == len(X)
        assert index_unusable(store, "planted", len(X)) is None
        nb = index_graph(store, "planted", ids, X, 10, dup_threshold=0.97, max_pairs=10**6)
    found = {tuple(p) for p in nb.dup_pairs}
    share = np.mean([tuple(sorted(p)) in found for p in pairs])
    assert share >= 0.99, share
    recall = graph.graph_recall(X, nb, sample=500, seed=1)
    assert 0.9 < recall <= 1.0
    # each neighbour's similarity is its true cosine, most similar first
    true = np.einsum("nd,nkd->nk", X[:500].astype(np.float64),
                     X[nb.index[:500]].astype(np.float64))
    np.testing.assert_allclose(nb.sim[:500], true, atol=1e-4)
    assert (np.diff(nb.sim, axis=1) <= 1e-6).all()


def test_auto_scores_every_point_above_the_exact_limit_and_states_the_recall(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    with EdgeStore(tmp_path / "qdrant") as store:
        ids = make_collection(store, "every", sample800, n=400)
        s = AnalysisSettings(collection="every", out=tmp_path / "r", projections="umap,tsne,pca",
                             clusterers="kmeans", umap_neighbors=10, tsne_perplexity=10,
                             graph_max_points=100, map_max_points=150, tsne_max_points=120,
                             trust_sample=100, progress=False)
        report, _ = run(store, s)
        payloads = {r.id: r.payload for r in store.retrieve("every", ids)}
    assert report["knn_graph"]["points"] == 400 and "HNSW index" in report["knn_graph"]["method"]
    assert "knn_graph" not in report["estimates"]  # no sample: every point
    est = report["estimates"]["knn_graph_recall"]
    assert est["sample"] == 400 and est["recall"] > 0.999  # a scanned collection: exact
    assert est["ef"] == EF_STEPS[0] and est["pilot_recall"] >= EF_TARGET_RECALL  # chosen
    assert report["knn_accuracy"]["points"] == 400
    assert all("knn_correct" in p and "uniqueness" in p for p in payloads.values())
    umap = report["estimates"]["umap"]
    assert umap["fitted_on"] == 150 and "shared k-NN graph" in umap["others"]
    agreement = umap["agreement"]
    assert agreement["sample"] == 150
    assert 0.5 < agreement["trustworthiness_placed"] <= 1 and 0.5 < agreement["trustworthiness_fitted"] <= 1
    assert "shared k-NN graph" in report["estimates"]["tsne"]["others"]
    assert any("HNSW index" in n and f"{est['recall']:.1%}" in n for n in report["notes"])
    assert all(len(p["umap"]) == 2 and np.isfinite(p["umap"]).all() for p in payloads.values())


def test_placement_through_the_graph_lands_beside_the_fitted_neighbours(
    sample800: dict[str, Any],
) -> None:
    from embedscope.analysis.projections import place, place_by_graph

    X = sample800["X"][:600]
    nb = graph.knn_graph(X, 10)
    fit = np.arange(0, 600, 4)
    Y_fit = np.random.default_rng(0).normal(size=(len(fit), 2))
    Y = place_by_graph(nb, X, fit, Y_fit)
    np.testing.assert_array_equal(Y[fit], Y_fit)
    rest = np.setdiff1d(np.arange(600), fit)
    # a point with fitted graph neighbours sits at their similarity-weighted mean
    first = [r for r in rest if np.isin(nb.index[r], fit).any()][0]
    near = nb.index[first][np.isin(nb.index[first], fit)]
    w = nb.sim[first][np.isin(nb.index[first], fit)].astype(np.float64)
    np.testing.assert_allclose(Y[first], (w[:, None] * Y[near]).sum(0) / w.sum(), atol=1e-9)
    # a graph without neighbours for some rows falls back to the nearest fitted rows
    cut = graph.Neighbours(nb.index.copy(), nb.sim.copy(), nb.dup_pairs, nb.dup_sims, 0)
    cut.index[rest[:5]] = -1
    Y2 = place_by_graph(cut, X, fit, Y_fit)
    # (float32 similarities of query blocks of other sizes: equal to rounding)
    np.testing.assert_allclose(Y2[rest[:5]], place(X, fit, Y_fit)[rest[:5]], rtol=1e-6)


def test_a_sampled_analysis_and_a_forced_exact_graph_keep_the_sample(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "some", sample800, n=300)
        a = compute(store, AnalysisSettings(collection="some", projections="pca",
                                            clusterers="kmeans", graph_max_points=100,
                                            sample=250, progress=False))
        assert a.graph_method == "exact" and len(a.graph_rows) == 100
        assert any("--sample" in n for n in a.notes)
        b = compute(store, AnalysisSettings(collection="some", projections="pca",
                                            clusterers="kmeans", graph_max_points=100,
                                            graph="exact", progress=False))
        assert b.graph_method == "exact" and len(b.graph_rows) == 100


def test_leaks_through_the_index_are_the_exact_leaks_and_state_their_recall(
    tmp_path: Path, sample_dir: Path, make_collection: Any
) -> None:
    from embedscope.search.leaks import find_leaks, leaks_by_index
    from tests.analysis.conftest import load_sample

    train, test = load_sample(sample_dir, 300, "train"), load_sample(sample_dir, 120, "test")
    test["X"][:6] = train["X"][10:16]  # six test images copied from train
    test["X"][6] += 0.02 * train["X"][20]  # and one a little changed
    test["X"][6] /= np.linalg.norm(test["X"][6])
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "splits", train)
        make_collection(store, "splits", test)
        data = fetch(store, "splits", progress=False)
        exact = find_leaks(data.X, data.splits, 0.97)
        by_index = leaks_by_index(store, "splits", data.X, data.ids, data.splits, 0.97,
                                  recall_sample=50, seed=1)
        s = AnalysisSettings(collection="splits", projections="pca", clusterers="kmeans",
                             graph="index", progress=False)
        a = compute(store, s)
    at_default = find_leaks(data.X, data.splits, s.effective_leak_threshold())
    assert len(exact.rows) >= 6
    np.testing.assert_array_equal(by_index.rows, exact.rows)
    np.testing.assert_array_equal(by_index.partners, exact.partners)
    np.testing.assert_allclose(by_index.similarities, exact.similarities, atol=1e-6)
    np.testing.assert_array_equal(by_index.query_rows, exact.query_rows)
    assert by_index.recall == {"sample": 50, "of": 120, "seed": 1, "recall": 1.0}
    assert exact.recall is None
    # the job searches leaks through the index where its graph went through it, and says so
    assert a.graph_method == "index"
    np.testing.assert_array_equal(a.leaks.rows, at_default.rows)
    assert a.estimates["leaks_recall"]["of"] == 120
    assert any("leaks:" in n and "index" in n for n in a.notes)


def test_a_low_recall_is_a_warning_in_the_notes(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import embedscope.analysis.job as job

    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "flat", sample800, n=300)
        s = AnalysisSettings(collection="flat", projections="pca", clusterers="kmeans",
                             graph="index", progress=False)
        good = compute(store, s)
        monkeypatch.setattr(job, "graph_recall", lambda *args: 0.52)
        poor = compute(store, s)
    assert not any("found only" in n for n in good.notes)
    assert poor.estimates["knn_graph_recall"]["recall"] == 0.52
    assert any("found only 52.0% of the exact neighbours" in n for n in poor.notes)


def test_the_search_beam_trades_recall_for_speed_and_is_checked(tmp_path: Path) -> None:
    from embedscope.errors import UsageError

    rng = np.random.default_rng(3)
    X = rng.normal(size=(16_000, 192)).astype(np.float32)  # no structure: the beam matters
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ids = [row_point_id("beam", "all", i) for i in range(len(X))]
    with EdgeStore(tmp_path / "qdrant") as store:
        store.ensure_collection("beam", CollectionMeta(model="m", dimension=192, dataset="beam"))
        for start in range(0, len(X), 4096):
            store.upsert("beam", ids[start:start + 4096], X[start:start + 4096],
                         [{}] * len(ids[start:start + 4096]))
        store.optimize("beam")
        assert store.indexed_vectors("beam") == len(X)
        queries = X[:300]
        exact = store.query_batch("beam", queries, 10, exact=True, with_payload=False)
        found = {ef: store.query_batch("beam", queries, 10, with_payload=False, ef=ef)
                 for ef in (10, 200)}
        with pytest.raises(UsageError, match="ef must be at least 1"):
            store.query_batch("beam", queries[:1], 5, ef=0)
        ef, pilot = choose_ef(store, "beam", ids, X, 10, rows=200)
        chosen = store.query_batch("beam", queries, 10, with_payload=False, ef=ef)

    def recall(hits: list[list[Any]]) -> float:
        return float(np.mean([len({h.id for h in got} & {h.id for h in want}) / 10
                              for got, want in zip(hits, exact, strict=True)]))

    assert recall(found[200]) > recall(found[10]) + 0.05
    # --graph-ef 0 on vectors without structure: no step finds 99 % of the pilot's neighbours,
    # so the widest is chosen, and the pilot's recall is what other rows get (the narrowest step
    # that does reach it is chosen on a collection of any structure: the analysis test above)
    assert ef == EF_STEPS[-1] and pilot < EF_TARGET_RECALL
    assert abs(recall(chosen) - pilot) < 0.03


def _scanned_share(root: Path) -> float:
    """Share of the vectors' allocated bytes in segments without an HNSW index (every search
    scans those), read from the engine's files of a closed store."""
    import json

    sizes = {"plain": 0, "hnsw": 0}
    for config in root.glob("**/segments/*/segment.json"):
        kind = json.loads(config.read_text())["config"]["vector_data"][""]["index"]["type"]
        storage = config.parent / "vector_storage"
        sizes[kind] += sum(f.stat().st_blocks * 512 for f in storage.rglob("*") if f.is_file())
    return sizes["plain"] / max(1, sizes["plain"] + sizes["hnsw"])


@pytest.mark.parametrize("reindex", [True, False])
def test_the_write_back_leaves_an_indexed_collection_indexed(tmp_path: Path, reindex: bool) -> None:
    X, _ = planted(16_000, 192, 0)
    ids = [row_point_id("wb", "all", i) for i in range(len(X))]
    labels = np.arange(len(X)) % 5
    with EdgeStore(tmp_path / "qdrant") as store:
        store.ensure_collection("wb", CollectionMeta(model="m", dimension=192, dataset="wb",
                                                     labels=[str(c) for c in range(5)]))
        for start in range(0, len(X), 4096):
            store.upsert("wb", ids[start:start + 4096], X[start:start + 4096],
                         [{"label": int(v), "split": "train"} for v in labels[start:start + 4096]])
        store.optimize("wb")
    before = _scanned_share(tmp_path / "qdrant")  # closed: the engine's files as they stay
    with EdgeStore(tmp_path / "qdrant") as store:
        report, _ = run(store, AnalysisSettings(
            collection="wb", out=tmp_path / "r", projections="pca", clusterers="kmeans",
            graph="exact", silhouette_sample=500, trust_sample=200, reindex=reindex,
            progress=False))
        payload = store.retrieve("wb", ids[:1])[0].payload
    after = _scanned_share(tmp_path / "qdrant")
    assert before < 0.05 and "pca" in payload and "cluster_kmeans" in payload
    if reindex:  # built again: searches use the index as before the analysis
        assert after < 0.05 and "re-index after write-back" in report["timings"]
        assert any("built again" in n for n in report["notes"])
    else:  # the engine copied every written point into the scanned segment (the indexed one
        # keeps the copies it deleted until a rebuild), and the report says so
        assert after > 0.45 and "re-index after write-back" not in report["timings"]
        assert any("--no-reindex left it so" in n for n in report["notes"])


@pytest.mark.parametrize("reindex", [True, False])
def test_an_update_of_many_points_leaves_the_collection_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reindex: bool,
) -> None:
    """New points ingested with their index built (`ingest --index wait`): `analyze --update`
    writes their payloads, which moves each out of the index, and past FULL_SCAN_POINTS of them
    (lowered here to 1,000, so that 3,000 new points pass it) builds the index again."""
    from embedscope.analysis import index_graph as ig
    from embedscope.analysis.update import run_update

    monkeypatch.setattr(ig, "FULL_SCAN_POINTS", 1000)
    X, _ = planted(12_000, 384, 0)
    ids = [row_point_id("up", "all", i) for i in range(len(X))]
    payloads = [{"label": i % 5, "split": "train"} for i in range(len(X))]
    old = 4_000
    s = AnalysisSettings(collection="up", out=tmp_path / "r", projections="pca",
                         clusterers="kmeans", graph="exact", silhouette_sample=500,
                         trust_sample=200, progress=False)
    with EdgeStore(tmp_path / "qdrant") as store:
        store.ensure_collection("up", CollectionMeta(model="m", dimension=384, dataset="up",
                                                     labels=[str(c) for c in range(5)]))
        for start in range(0, old, 4096):
            stop = min(old, start + 4096)
            store.upsert("up", ids[start:stop], X[start:stop], payloads[start:stop])
        store.optimize("up")
        run(store, s)
        store.upsert("up", ids[old:], X[old:], payloads[old:])
        store.optimize("up")  # as the ingest of the new points builds the index
    added = _scanned_share(tmp_path / "qdrant")
    with EdgeStore(tmp_path / "qdrant") as store:
        entry, _ = run_update(store, s.model_copy(update={"update": True, "reindex": reindex}))
        placed = store.retrieve("up", ids[-1:])[0].payload
    after = _scanned_share(tmp_path / "qdrant")
    assert entry["new_points"] == len(X) - old and "pca" in placed
    assert added < 0.05
    if reindex:
        assert "re-index after write-back" in entry["timings"] and after < 0.05
    else:  # the 3,000 written points now sit in the scanned segment
        assert "re-index after write-back" not in entry["timings"] and after > 0.1


def test_points_moved_out_of_the_index_are_found_and_indexed_again(tmp_path: Path) -> None:
    """A collection whose every point was moved out of its index (an analysis's write-back with
    --no-reindex, as an older version left it; the engine's indexed count still says all):
    `check` says how many vectors lie outside and `check --reindex` builds it; the next
    analysis through the index builds it before its graph."""
    from embedscope.store.check import SCANNED_WARNING, check_collection, reindex

    X, _ = planted(16_000, 192, 0)
    ids = [row_point_id("mv", "all", i) for i in range(len(X))]
    s = AnalysisSettings(collection="mv", out=tmp_path / "r", projections="pca",
                         clusterers="kmeans", graph="exact", silhouette_sample=500,
                         trust_sample=200, reindex=False, progress=False)
    with EdgeStore(tmp_path / "qdrant") as store:
        store.ensure_collection("mv", CollectionMeta(model="m", dimension=192, dataset="mv",
                                                     labels=[str(c) for c in range(5)]))
        for start in range(0, len(X), 4096):
            store.upsert("mv", ids[start:start + 4096], X[start:start + 4096],
                         [{"label": i % 5, "split": "train", "dataset": "mv", "index": i}
                          for i in range(start, min(len(X), start + 4096))])
        store.optimize("mv")
        built = store.scanned_vectors("mv")
        run(store, s)  # moves every point out of the index, and leaves it so
        moved = store.scanned_vectors("mv")
        assert store.indexed_vectors("mv") >= 0.99 * len(X)  # the engine's count cannot tell
        report = check_collection(store, "mv")
        report_lines, seen = "\n".join(report.lines()), report.scanned
        reindex(store, "mv", report)
        fixed = store.scanned_vectors("mv")
        again = "\n".join(report.lines())
        run(store, s)  # moved out again
        second, _ = run(store, s.model_copy(update={"graph": "index", "reindex": True}))
        last = store.scanned_vectors("mv")
    assert built < 1000 and moved > SCANNED_WARNING and abs(moved - len(X)) < 0.1 * len(X)
    assert report.ok and seen == moved
    assert "outside the HNSW index" in report_lines and "--reindex" in report_lines
    assert fixed < 1000 and report.reindexed is not None and "built again" in again
    assert any("the index was built again first" in n for n in second["notes"])
    assert last < 1000
