"""k-NN library: exact neighbours and votes, and evaluation that agrees with scikit-learn."""

from __future__ import annotations

import io
import math
from collections import Counter

import numpy as np
import pytest

from embedscope.contract import CollectionMeta, row_point_id
from embedscope.errors import (
    CollectionNotFoundError,
    EmptyCollectionError,
    MissingLabelsError,
    UsageError,
)
from embedscope.search.knn import (
    choose_splits,
    classify,
    evaluate,
    neighbours,
    parse_ks,
    resolve_label,
    shortfall,
    vote,
    vote_arrays,
)
from embedscope.store import Hit, Where

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning")

# Unit vectors in the xy-plane at these angles (degrees): every pairwise similarity differs.
ANGLES = [0, 15, 25, 45, 100, 180]
ANGLE_LABELS = [0, 0, 1, 1, 2, 2]
NAMES = ["zero", "one", "two"]


def _meta(dim: int, labels: list[str] | None = None) -> CollectionMeta:
    return CollectionMeta(model="fake", dimension=dim, pooling="cls", dataset="toy",
                          labels=NAMES if labels is None else labels)


def _unit(deg: float) -> np.ndarray:
    return np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg)), 0.0], np.float32)


@pytest.fixture
def angles(store):
    """Six points on a circle; even indexes are 'train', odd 'test'."""
    store.ensure_collection("toy__fake", _meta(3))
    ids = [row_point_id("toy", "all", i) for i in range(len(ANGLES))]
    payloads = [{"split": "train" if i % 2 == 0 else "test", "index": i, "label": lab,
                 "label_name": NAMES[lab], "dataset": "toy"}
                for i, lab in enumerate(ANGLE_LABELS)]
    store.upsert("toy__fake", ids, np.stack([_unit(a) for a in ANGLES]), payloads)
    return store, ids


def test_neighbours_of_a_vector_are_exact_with_cosine_scores(angles):
    store, ids = angles
    for exact in (True, False):
        hits = neighbours(store, "toy__fake", _unit(0) * 3.0, k=4, exact=exact)
        assert [h.id for h in hits] == ids[:4]
        np.testing.assert_allclose([h.score for h in hits],
                                   [math.cos(math.radians(a)) for a in ANGLES[:4]], atol=1e-5)
        assert hits[2].payload["label_name"] == "one" and hits[2].payload["split"] == "train"


def test_neighbours_of_a_stored_point_exclude_itself(angles):
    store, ids = angles
    hits = neighbours(store, "toy__fake", point_id=ids[1], k=5, exact=True)
    assert [h.id for h in hits] == [ids[2], ids[0], ids[3], ids[4], ids[5]]
    np.testing.assert_allclose([h.score for h in hits][:3],
                               [math.cos(math.radians(d)) for d in (10, 15, 30)], atol=1e-5)
    # All five others exist, a sixth would be the point itself: five come back, never itself.
    hits = neighbours(store, "toy__fake", point_id=ids[1], k=6)
    assert len(hits) == 5 and ids[1] not in [h.id for h in hits]
    assert shortfall(hits, 6, "toy__fake").startswith("only 5 of the k=6 neighbours")


def test_neighbour_filters(angles):
    store, ids = angles
    hits = neighbours(store, "toy__fake", _unit(0), k=3, where=Where(split="train"), exact=True)
    assert [h.id for h in hits] == [ids[0], ids[2], ids[4]]
    hits = neighbours(store, "toy__fake", _unit(0), k=2, where=Where(label=2), exact=True)
    assert [h.id for h in hits] == [ids[4], ids[5]]


def test_fewer_matches_than_k_come_back_and_are_said(angles):
    store, ids = angles
    hits = neighbours(store, "toy__fake", _unit(0), k=7)
    assert [h.id for h in hits] == ids and shortfall(hits, 7, "toy__fake") is not None
    assert shortfall(hits, 6, "toy__fake") is None
    where = Where(split="train", label=2)  # one point: index 4
    hits = neighbours(store, "toy__fake", _unit(0), k=3, where=where)
    assert [h.id for h in hits] == [ids[4]]
    assert shortfall(hits, 3, "toy__fake", where) == (
        "only 1 of the k=3 neighbours asked for: 'toy__fake' holds no more points matching "
        "split='train', label=2 (other than the query point, when querying by id).")
    v = classify(store, "toy__fake", _unit(0), k=10, where=Where(split="test"))
    assert len(v.hits) == 3 and sum(v.counts.values()) == 3
    with pytest.raises(EmptyCollectionError, match="no points matching split='test', tag='x'"):
        neighbours(store, "toy__fake", _unit(0), k=3, where=Where(split="test", tag="x"))


def test_vote_ties_go_to_the_smallest_label_and_weighted_vote_differs():
    hits = [Hit(f"p{i}", s, {"label": lab}) for i, (lab, s) in
            enumerate([(2, 0.9), (1, 0.5), (1, 0.4), (2, 0.8), (None, 0.99)])]
    v = vote(hits, NAMES)
    assert (v.label, v.label_name) == (1, "one")  # 2 votes each: smallest label wins
    assert (v.weighted_label, v.weighted_label_name) == (2, "two")  # 1.7 against 0.9
    assert v.counts == {"two": 2, "one": 2}
    assert v.majority == {"two": 0.5, "one": 0.5}
    assert v.weighted["two"] == pytest.approx(1.7 / 2.6) and v.weighted["one"] == pytest.approx(
        0.9 / 2.6)
    assert [h["id"] for h in v.to_json()["neighbours"]] == ["p0", "p1", "p2", "p3", "p4"]
    with pytest.raises(MissingLabelsError, match="none of the neighbours has a label"):
        vote([Hit("x", 0.5, {})], NAMES)


def test_vote_arrays_match_sklearn_tie_rule():
    from scipy import stats

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=(500, 6))
    scores = rng.random((500, 6))
    for k in (1, 2, 4, 6):
        majority = vote_arrays(labels, scores, k)[3]
        np.testing.assert_array_equal(majority, stats.mode(labels[:, :k], axis=1).mode.ravel())


def test_classify_votes_among_labelled_points_only(angles):
    store, ids = angles
    store.upsert("toy__fake", [row_point_id("toy", "x", 99)], _unit(1)[None, :], [{"split": "x"}])
    v = classify(store, "toy__fake", _unit(5), k=3)
    assert row_point_id("toy", "x", 99) not in [h.id for h in v.hits]
    assert (v.label, v.label_name, v.counts) == (0, "zero", {"zero": 2, "one": 1})
    v = classify(store, "toy__fake", point_id=ids[3], k=2, where=Where(split="train"))
    assert [h.id for h in v.hits] == [ids[2], ids[0]] and v.label == 0  # 1-1 tie → label 0


def test_bad_queries_are_clear_errors(angles):
    store, ids = angles
    cases = [
        (dict(), UsageError, "exactly one of"),
        (dict(vector=_unit(0), point_id=ids[0]), UsageError, "exactly one of"),
        (dict(vector=np.ones(5)), UsageError, "dimension 5; the collection expects 3"),
        (dict(vector=np.zeros(3)), UsageError, "all zeros"),
        (dict(vector=_unit(0), k=0), UsageError, "k must be a positive integer, got 0"),
        (dict(point_id="nope"), UsageError, "'nope' is not a UUID"),
        (dict(point_id=row_point_id("toy", "x", 1)), UsageError, "no point with id"),
        (dict(vector=_unit(0), where=Where(split="val")), UsageError,
         r"no split 'val'.*splits present: test \(3\), train \(3\)\."),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            neighbours(store, "toy__fake", **kwargs)
    with pytest.raises(CollectionNotFoundError, match="no collection named 'nope'.*toy__fake"):
        neighbours(store, "nope", _unit(0))
    with pytest.raises(CollectionNotFoundError):
        evaluate(store, "nope", progress=False)


def test_empty_and_unlabelled_collections(store):
    store.ensure_collection("empty__fake", _meta(3))
    with pytest.raises(EmptyCollectionError, match="'empty__fake' has no points"):
        neighbours(store, "empty__fake", _unit(0))
    with pytest.raises(EmptyCollectionError, match="'empty__fake' is empty"):
        evaluate(store, "empty__fake", progress=False)
    store.ensure_collection("raw__fake", _meta(3, labels=[]))
    store.upsert("raw__fake", [row_point_id("raw", "s", i) for i in range(3)],
                 np.stack([_unit(a) for a in (0, 10, 20)]), [{"split": "s"}] * 3)
    assert len(neighbours(store, "raw__fake", _unit(0), k=3)) == 3
    with pytest.raises(MissingLabelsError, match="'raw__fake' has no labelled points"):
        classify(store, "raw__fake", _unit(0))
    with pytest.raises(MissingLabelsError, match="none has a label"):
        evaluate(store, "raw__fake", progress=False)


def _clusters(n: int, dim: int = 16, classes: int = 4, seed: int = 0):
    centres = np.random.default_rng(0).normal(size=(classes, dim))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.normal(scale=1.6, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y


@pytest.fixture
def clustered(store):
    """160 train + 60 test clustered points with 4 classes (noisy: accuracy well below 1)."""
    xtr, ytr = _clusters(160, seed=1)
    xte, yte = _clusters(60, seed=2)
    store.ensure_collection("c__fake", _meta(16, ["a", "b", "c", "d"]))
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        store.upsert("c__fake", [row_point_id("c", split, i) for i in range(len(x))], x,
                     [{"split": split, "index": i, "label": int(lab)} for i, lab in enumerate(y)])
    return store, xtr, ytr, xte, yte


def _assert_like_sklearn(ev, k, y_true, y_pred):
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

    r = ev.results[k]
    assert r.accuracy == pytest.approx(float(np.mean(y_true == y_pred)), abs=1e-12)
    assert r.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)
    labels = ev.classes
    np.testing.assert_array_equal(r.confusion, confusion_matrix(y_true, y_pred, labels=labels))
    np.testing.assert_allclose([c["precision"] for c in r.per_class], precision_score(
        y_true, y_pred, labels=labels, average=None, zero_division=0))
    np.testing.assert_allclose([c["recall"] for c in r.per_class], recall_score(
        y_true, y_pred, labels=labels, average=None, zero_division=0))


def test_evaluate_split_mode_equals_sklearn(clustered):
    from sklearn.neighbors import KNeighborsClassifier

    store, xtr, ytr, xte, yte = clustered
    ev = evaluate(store, "c__fake", ks="1,3,5,10", progress=False, batch_size=25)
    assert (ev.mode, ev.query_split, ev.reference_split) == ("split", "test", "train")
    assert (ev.n_query, ev.n_reference, ev.exact) == (60, 160, True)
    accuracies = []
    for k in (1, 3, 5, 10):
        pred = KNeighborsClassifier(k, metric="cosine").fit(xtr, ytr).predict(xte)
        _assert_like_sklearn(ev, k, yte, pred)
        accuracies.append(ev.results[k].accuracy)
    assert min(accuracies) > 0.4 and max(accuracies) < 0.95  # a test that can tell models apart
    out = ev.to_json()
    assert out["accuracy"]["5"] == out["by_k"]["5"]["accuracy"] == ev.results[5].accuracy
    assert out["by_k"]["5"]["per_class"][0]["name"] == "a" and out["mode"] == "split"


def test_evaluate_leave_one_out_equals_sklearn(clustered):
    from scipy import stats
    from sklearn.neighbors import NearestNeighbors

    store, xtr, ytr, _, _ = clustered
    ev = evaluate(store, "c__fake", ks=[1, 5], query_split="train", progress=False)
    assert (ev.mode, ev.n_query, ev.n_reference) == ("leave-one-out", 160, 160)
    _, idx = NearestNeighbors(n_neighbors=5, metric="cosine").fit(xtr).kneighbors()
    for k in (1, 5):
        _assert_like_sklearn(ev, k, ytr, stats.mode(ytr[idx[:, :k]], axis=1).mode.ravel())
    with pytest.raises(UsageError, match=r"k=160 is larger than the 159 reference points"):
        evaluate(store, "c__fake", ks=[160], query_split="train", progress=False)


def test_evaluate_approximate_reports_hnsw_recall(clustered):
    store = clustered[0]
    store.optimize("c__fake")
    ev = evaluate(store, "c__fake", ks=(5,), exact=False, progress=False, recall_sample=30)
    assert ev.recall_queries == 30 and 0.5 <= ev.hnsw_recall <= 1.0
    assert ev.to_json()["hnsw_recall"] == {"k": 5, "recall": ev.hnsw_recall, "queries": 30}
    assert ev.to_json()["search"] == "hnsw"


def test_choose_splits_and_parse_ks():
    both = Counter({"train": 10, "test": 5})
    assert choose_splits(both, None, None) == ("split", "test", "train")
    assert choose_splits(both, "train", None) == ("leave-one-out", "train", "train")
    assert choose_splits(both, None, "test") == ("leave-one-out", "test", "test")
    assert choose_splits(Counter({"all": 4}), None, None) == ("leave-one-out", "all", "all")
    assert choose_splits(Counter({None: 4}), None, None) == ("leave-one-out", None, None)
    with pytest.raises(UsageError, match="split 'val' has no labelled points.*test \\(5\\)"):
        choose_splits(both, "val", None)
    with pytest.raises(UsageError, match="--query-split and --reference-split"):
        choose_splits(Counter({"a": 1, "b": 2}), None, None)
    assert parse_ks("20, 1,5,5") == (1, 5, 20)
    for bad in ("", "0,5", "five", "-1"):
        with pytest.raises(UsageError, match="positive integers"):
            parse_ks(bad)


def test_resolve_label():
    meta = _meta(3)
    assert [resolve_label(meta, v) for v in ("2", 1, "ZERO", " two ")] == [2, 1, 0, 2]
    with pytest.raises(UsageError, match="unknown label 'hat'.*0=zero, 1=one, 2=two"):
        resolve_label(meta, "hat")
    with pytest.raises(UsageError, match="label 3 is out of range"):
        resolve_label(meta, "3")


# --- the shared Fashion-MNIST sample, raw pixels (embedded backend: the real engine) -------------

def _pixels(path):
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(path)
    x = np.stack([np.asarray(Image.open(io.BytesIO(d["bytes"])).convert("L"), np.float32).ravel()
                  for d in table.column("image").to_pylist()])
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.asarray(table.column("label"))


@pytest.fixture(scope="module")
def sample_store(sample_dir, tmp_path_factory):
    from embedscope.store.edge import EdgeStore

    xtr, ytr = _pixels(sample_dir / "train.parquet")
    xte, yte = _pixels(sample_dir / "test.parquet")
    store = EdgeStore(tmp_path_factory.mktemp("sample") / "qdrant")
    store.ensure_collection("fm__pixels", CollectionMeta(model="pixels", dimension=784,
                                                         pooling="pixels", dataset="fm"))
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        store.upsert("fm__pixels", [row_point_id("fm", split, i) for i in range(len(x))], x,
                     [{"split": split, "index": i, "label": int(lab)} for i, lab in enumerate(y)])
    store.optimize("fm__pixels")
    yield store, xtr, ytr, xte, yte
    store.close()


def test_sample_5nn_accuracy_is_sklearns_and_0_784(sample_store):
    from sklearn.neighbors import KNeighborsClassifier

    store, xtr, ytr, xte, yte = sample_store
    ev = evaluate(store, "fm__pixels", ks=(1, 5, 10, 20), progress=False)
    assert (ev.n_query, ev.n_reference) == (615, 3000)
    for k in (1, 5, 10, 20):
        pred = KNeighborsClassifier(k, metric="cosine").fit(xtr, ytr).predict(xte)
        _assert_like_sklearn(ev, k, yte, pred)
    assert round(ev.results[5].accuracy, 3) == 0.784
    assert round(ev.results[1].accuracy, 3) == 0.782


def test_sample_leave_one_out_equals_sklearn(sample_store):
    from scipy import stats
    from sklearn.neighbors import NearestNeighbors

    store, xtr, ytr, _, _ = sample_store
    ev = evaluate(store, "fm__pixels", ks=(1, 5), query_split="train",
                  reference_split="train", progress=False)
    assert ev.mode == "leave-one-out" and ev.n_query == 3000
    _, idx = NearestNeighbors(n_neighbors=5, metric="cosine").fit(xtr).kneighbors()
    for k in (1, 5):
        _assert_like_sklearn(ev, k, ytr, stats.mode(ytr[idx[:, :k]], axis=1).mode.ravel())


def test_unknown_split_lists_the_splits_present(tmp_path):
    from embedscope.contract import CollectionMeta, row_point_id
    from embedscope.errors import UsageError
    from embedscope.search.knn import classify, neighbours
    from embedscope.store import Where
    from embedscope.store.edge import EdgeStore

    with EdgeStore(tmp_path) as store:
        store.ensure_collection("c", CollectionMeta(model="fake", dimension=3, labels=["a", "b"]))
        vecs = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
        store.upsert("c", [row_point_id("d", "train", i) for i in range(4)], vecs,
                     [{"split": "train" if i < 3 else "test", "label": i % 2} for i in range(4)])
        for call in (neighbours, classify):
            with pytest.raises(UsageError, match=r"no split 'val'.*test \(1\), train \(3\)"):
                call(store, "c", vector=vecs[0], k=1, where=Where(split="val"))
