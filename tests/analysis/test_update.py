"""`analyze --update` places new points with the fitted models, exactly, and moves no old point."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import joblib
import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.fitted import FITTED_FILE, ExactIndex
from embedscope.analysis.job import run
from embedscope.analysis.report_model import Report
from embedscope.analysis.update import run_update
from embedscope.contract import row_point_id
from embedscope.maparrays import map_key
from embedscope.scratch import spilled
from embedscope.store.edge import EdgeStore
from embedscope.ui.map.points import load_map

OLD, NEW = 500, 40
FIELDS = ("umap", "pca", "tsne", "cluster_kmeans", "cluster_kmedoids", "cluster_hdbscan",
          "uniqueness", "representativeness", "knn_correct", "label_error")


def _add(store: Any, name: str, sample: dict[str, Any], rows: range | list[int],
         split: str = "train") -> list[str]:
    ids = [row_point_id("fashion_mnist_sample", split, i) for i in rows]
    payloads = [{"dataset": "fashion_mnist_sample", "split": split, "index": i,
                 "label": int(sample["labels"][i]),
                 "label_name": sample["names"][int(sample["labels"][i])]} for i in rows]
    store.upsert(name, ids, sample["X"][list(rows)], payloads)
    return ids


@pytest.mark.parametrize("stream_from", [0, 1], ids=["in-memory", "streamed"])
def test_update_places_new_points_as_the_fitted_models_do_and_moves_no_old_point(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any, stream_from: int
) -> None:
    name = "up__pixels"
    with EdgeStore(tmp_path / "qdrant") as store:
        old_ids = make_collection(store, name, sample800, n=OLD)
        s = AnalysisSettings(collection=name, projections="umap,pca,tsne",
                             clusterers="kmeans,kmedoids,hdbscan", progress=False,
                             out=tmp_path / "report", tsne_perplexity=10,
                             stream_from=stream_from, scratch_dir=tmp_path / "scratch")
        run(store, s)
        before = {r.id: r.payload for r in store.retrieve(name, old_ids)}
        new_ids = _add(store, name, sample800, range(OLD, OLD + NEW))
        # the page's map before the update: the new points have no coordinates yet
        key_before, shown_before = map_key(store, name, "umap"), load_map(store, name, "umap").n
        entry, out = run_update(store, s.model_copy(update={"update": True}))
        key_after, shown_after = map_key(store, name, "umap"), load_map(store, name, "umap").n
        after = {r.id: r.payload for r in store.retrieve(name, old_ids)}
        placed = {r.id: r.payload for r in store.retrieve(name, new_ids)}
        meta = store.get_meta(name).analysis
        again, _ = run_update(store, s.model_copy(update={"update": True}))
    for pid in old_ids:  # bit for bit: every analysis field of every old point is unchanged
        assert {f: before[pid].get(f) for f in FIELDS} == {f: after[pid].get(f) for f in FIELDS}
    state = joblib.load(out / FITTED_FILE)
    fitted = state["fitted"]
    order = np.argsort(new_ids)  # the update reads points in id order
    ids_sorted = [new_ids[i] for i in order]
    X = sample800["X"][OLD:OLD + NEW][order]
    got = lambda field: np.array([placed[i][field] for i in ids_sorted])  # noqa: E731
    # UMAP's transform is float32: equal to the bit; the payload's float64 JSON round trip in
    # the store may move PCA's float64 by an ulp
    np.testing.assert_array_equal(got("umap").astype(np.float32), fitted["map/umap"].transform(X))
    np.testing.assert_allclose(got("pca"), fitted["map/pca"].transform(X)[:, :2], rtol=1e-14)
    np.testing.assert_array_equal(got("cluster_kmeans"), fitted["cluster/kmeans"].predict(X))
    medoids = fitted["cluster/kmedoids"]
    np.testing.assert_array_equal(got("cluster_kmedoids"), np.argmax(X @ medoids.T, axis=1))
    assert all("tsne" not in placed[i] for i in new_ids)
    assert entry["new_points"] == NEW and "tsne" in entry["unplaced"]
    assert entry["suggest_refit"] is False  # 40 of 500 = 8 % < 20 %
    # uniqueness of a new point: its k nearest among all 540 points, as numpy finds them
    A = sample800["X"][:OLD + NEW].astype(np.float64)
    S = X.astype(np.float64) @ A.T
    S[np.arange(NEW), OLD + order] = -np.inf
    top = -np.sort(-S, axis=1)[:, :s.uniqueness_k]
    np.testing.assert_allclose(got("uniqueness"), 1.0 - top.mean(axis=1), atol=1e-5)
    report = Report.read(out / "report.json")
    assert report.data.points_analysed == OLD + NEW and report.data.points_total == OLD + NEW
    assert report.updates[-1]["new_points"] == NEW and report.updates[-1]["not_recomputed"]
    assert meta["points"] == OLD + NEW and meta["update_id"] == entry["update_id"]
    assert again["new_points"] == 0
    # the map cache cannot serve the map from before the update: "Show map (reload)" and a
    # restart both show the new points
    assert key_before != key_after and (shown_before, shown_after) == (OLD, OLD + NEW)


def test_update_suggests_refit_past_the_share_and_needs_a_full_run_first(
    store: Any, tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    """On every store backend (embedded, in-memory client, a server where Docker runs)."""
    from embedscope.errors import UsageError

    name = "share__pixels"
    ids = make_collection(store, name, sample800, n=100)
    s = AnalysisSettings(collection=name, projections="pca", clusterers="kmeans",
                         progress=False, out=tmp_path / "report", update=True)
    with pytest.raises(UsageError, match="no analysis yet"):
        run_update(store, s)
    run(store, s.model_copy(update={"update": False}))
    before = {r.id: r.payload["pca"] for r in store.retrieve(name, ids, ["pca"])}
    new_ids = _add(store, name, sample800, range(100, 130))
    entry, out = run_update(store, s)
    after = {r.id: r.payload["pca"] for r in store.retrieve(name, ids, ["pca"])}
    placed = {r.id: r.payload for r in store.retrieve(name, new_ids)}
    assert entry["suggest_refit"] is True and entry["share_of_fitted"] == pytest.approx(0.3)
    assert before == after
    model = joblib.load(out / FITTED_FILE)["fitted"]["cluster/kmeans"]
    order = np.argsort(new_ids)
    X = sample800["X"][100:130][order]
    got = np.array([placed[new_ids[i]]["cluster_kmeans"] for i in order])
    np.testing.assert_array_equal(got, model.predict(X))


def test_exact_index_answers_umap_transform_queries_exactly() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    idx, dist = ExactIndex(SimpleNamespace(_raw_data=data)).query(queries, 7, epsilon=0.1)
    dn = data / np.linalg.norm(data, axis=1, keepdims=True)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    expected = np.argsort(-(qn @ dn.T), axis=1)[:, :7]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(qn @ dn.T, expected, 1), atol=1e-6)


def test_analyze_update_command_says_what_it_placed_and_suggests_refit_then_refit_runs_fully(
    data_env: Path, sample800: dict[str, Any], make_collection: Any, capsys: Any
) -> None:
    from embedscope.cli import main

    name = "cli__pixels"
    fast = ["--collection", name, "--projections", "pca,tsne", "--clusterers", "kmeans",
            "--tsne-perplexity", "10", "--no-progress"]
    with EdgeStore(data_env / "qdrant") as store:
        make_collection(store, name, sample800, n=200)
    assert main(["analyze", *fast]) == 0
    with EdgeStore(data_env / "qdrant") as store:
        _add(store, name, sample800, range(200, 260))  # 30 % of the fitted points
    capsys.readouterr()
    assert main(["analyze", *fast, "--update"]) == 0
    out = capsys.readouterr().out
    assert "placed 60 new points" in out and "not placed: tsne" in out
    assert "not recomputed: silhouettes" in out and "embedscope analyze --refit" in out
    assert main(["analyze", *fast, "--update", "--refit"]) == 0  # a full run: every point
    report = Report.read(data_env / "reports" / name / "report.json")
    assert report.updates == [] and report.data.points_analysed == 260
    with EdgeStore(data_env / "qdrant") as store:
        assert all("tsne" in r.payload for r in store.scroll(name, None, ["tsne"]))


def test_compare_refuses_update(capsys: Any) -> None:
    from embedscope.cli import main

    assert main(["compare", "a__x", "b__x", "--update"]) == 2
    assert "analyze --collection C --update" in capsys.readouterr().err


@pytest.mark.slow
def test_a_umap_fitted_on_the_shared_graph_places_new_points_with_its_exact_index(
    tmp_path: Path
) -> None:
    """From 4,096 points UMAP is fitted on the shared exact graph (no search index of its own):
    the update still places new points with the model's own transform."""
    from benchmarks.bench_analysis import synthetic
    from embedscope.contract import CollectionMeta

    n, m = 4200, 60
    X, y = synthetic(n + m, 32, seed=2)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(n + m)]
    with EdgeStore(tmp_path / "qdrant") as store:
        store.ensure_collection("g", CollectionMeta(model="synthetic", dimension=32,
                                                    labels=[f"c{i}" for i in range(10)]))
        store.upsert("g", ids[:n], X[:n], [{"label": int(v)} for v in y[:n]])
        s = AnalysisSettings(collection="g", projections="umap", clusterers="kmeans",
                             progress=False, out=tmp_path / "report")
        run(store, s)
        store.upsert("g", ids[n:], X[n:], [{"label": int(v)} for v in y[n:]])
        entry, out = run_update(store, s.model_copy(update={"update": True}))
        placed = {r.id: r.payload["umap"] for r in store.retrieve("g", ids[n:], ["umap"])}
    model = joblib.load(out / FITTED_FILE)["fitted"]["map/umap"]
    assert isinstance(model._knn_search_index, ExactIndex) and entry["new_points"] == m
    expected = model.transform(X[n:])  # ids sort in row order here
    np.testing.assert_array_equal(np.array([placed[i] for i in ids[n:]], np.float32), expected)


def test_update_finds_the_fitted_models_where_the_full_run_kept_them_whatever_out_says(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    name = "where__pixels"
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, name, sample800, n=120)
        s = AnalysisSettings(collection=name, projections="pca", clusterers="kmeans",
                             progress=False, out=tmp_path / "report")
        run(store, s)
        recorded = store.get_meta(name).analysis["fitted"]
        _add(store, name, sample800, range(120, 140))
        entry, out = run_update(store, s.model_copy(update={"update": True,
                                                            "out": tmp_path / "elsewhere"}))
        # a folder moved since the run: --out names its new place
        (tmp_path / "report").rename(tmp_path / "moved")
        _add(store, name, sample800, range(140, 150))
        moved, out_moved = run_update(store, s.model_copy(update={"update": True,
                                                                  "out": tmp_path / "moved"}))
    assert Path(recorded) == (tmp_path / "report" / FITTED_FILE).resolve()
    assert entry["new_points"] == 20 and out == tmp_path / "report"
    assert moved["new_points"] == 10 and out_moved == tmp_path / "moved"
    assert [u["new_points"] for u in Report.read(out_moved / "report.json").updates] == [20, 10]


def test_update_without_fitted_models_names_every_folder_it_looked_in(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    from embedscope.errors import UsageError

    name = "gone__pixels"
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, name, sample800, n=60)
        s = AnalysisSettings(collection=name, projections="pca", clusterers="kmeans",
                             progress=False, out=tmp_path / "report")
        run(store, s)
        (tmp_path / "report" / FITTED_FILE).unlink()
        with pytest.raises(UsageError, match="report.*elsewhere.*--out with its new place"):
            run_update(store, s.model_copy(update={"update": True,
                                                   "out": tmp_path / "elsewhere"}))


@pytest.mark.parametrize("stream_from", [0, 1], ids=["in-memory", "streamed"])
def test_update_checks_the_new_query_points_for_leaks_into_the_reference_split(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any, stream_from: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same leaks whether the update holds its vectors or streams them (--stream-from):
    then its neighbours and the leak search read every reference point a block at a time."""
    import embedscope.analysis.update as update

    read = update.fetch
    streamed: list[bool] = []

    def fetch(*args: Any, **kwargs: Any) -> Any:
        data = read(*args, **kwargs)
        streamed.append(spilled(data.X))
        return data

    monkeypatch.setattr(update, "fetch", fetch)
    name = "leak__pixels"
    with EdgeStore(tmp_path / "qdrant") as store:
        train = make_collection(store, name, sample800, n=200)
        s = AnalysisSettings(collection=name, projections="pca", clusterers="kmeans",
                             progress=False, out=tmp_path / "report", stream_from=stream_from,
                             scratch_dir=tmp_path / "scratch")
        run(store, s)
        # new test points: five copies of training rows and fifty rows of their own; a new
        # validation point copying a training row; a new training point (never a query)
        rows = [0, 1, 2, 3, 4, *range(300, 350)]
        test_ids = _add(store, name, sample800, rows, split="test")
        val = _add(store, name, sample800, [5], split="validation")[0]
        new_train = _add(store, name, sample800, [400])[0]
        entry, _ = run_update(store, s.model_copy(update={"update": True}))
        got = {r.id: r.payload for r in store.retrieve(name, [*test_ids, val, new_train])}
    threshold = s.effective_leak_threshold()
    R = sample800["X"][:200].astype(np.float64)
    best = (sample800["X"][rows].astype(np.float64) @ R.T)
    expected = {test_ids[i] for i in range(len(rows)) if best[i].max() >= threshold}
    assert {test_ids[i] for i in range(5)} <= expected  # the copies leak at least
    leaked = {pid for pid in test_ids if got[pid]["leaked"] == 1}
    assert leaked == expected
    assert all(got[pid]["leak"]["partner"] == train[rows[test_ids.index(pid)]]
               for pid in test_ids[:5])
    assert all(got[pid].get("leak") is None for pid in set(test_ids) - expected)
    assert got[val]["leaked"] == 1 and got[val]["leak"]["partner"] == train[5]
    assert got[new_train]["leaked"] == 0 and "leak" not in got[new_train]
    assert entry["leaks"]["leaked"] == len(expected) + 1
    assert entry["leaks"]["new_query_points"] == len(rows) + 1
    assert entry["leaks"]["query_splits"] == ["test", "validation"]
    assert streamed == [bool(stream_from)]


def test_a_point_counts_as_new_once_when_the_first_map_cannot_place_it(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    name = "tsne__pixels"
    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, name, sample800, n=120)
        s = AnalysisSettings(collection=name, projections="tsne,pca", clusterers="kmeans",
                             progress=False, out=tmp_path / "report", tsne_perplexity=10)
        run(store, s)
        _add(store, name, sample800, range(120, 150))
        u = s.model_copy(update={"update": True})
        first, out = run_update(store, u)
        second, _ = run_update(store, u)
        _add(store, name, sample800, range(150, 160))
        third, _ = run_update(store, u)
        meta = store.get_meta(name).analysis
    assert [first["new_points"], second["new_points"], third["new_points"]] == [30, 0, 10]
    assert "tsne" in first["unplaced"] and first["placed"]["pca"] == 30
    assert meta["points"] == 160 and meta["updated_points"] == 40
    assert Report.read(out / "report.json").data.points_analysed == 160
