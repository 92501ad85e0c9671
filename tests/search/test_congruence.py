"""Congruence: the same operations on every store backend, the results compared pairwise.

test_store.py checks each backend against numpy; here each pair of backends from
``tests.conftest.BACKENDS`` (embedded Qdrant Edge, qdrant-client in-memory, and a Qdrant
server container where Docker answers) gets the same deterministic data and the same calls,
and must return the same ids, scores, payloads, vectors, metadata and error types
(qdrant-client's ``tests/congruence_tests`` do the same for its local and remote modes).
Every bad call must raise the same embedscope error on every backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.search.contract import CollectionMeta, row_point_id
from embedscope.search.edge import EdgeStore
from embedscope.search.errors import CollectionNotFoundError, EmbedscopeError, MixedSpaceError, UsageError
from embedscope.search.remote import RemoteStore
from embedscope.search.store import Hit, Record, Store, Where
from tests.conftest import BACKENDS

N, DIM, NAME = 300, 24, "congruence__fake"
SCORE_ATOL = 1e-5  # scores of the same query on two backends
TIE_ATOL = 1e-6  # hits closer than this may come in either order
VECTOR_ATOL = 1e-6  # stored (cosine-normalised) vectors
TWINS = (10, 11), (120, 121), (250, 251), (251, 252)  # identical vectors: exact score ties
OVERWRITTEN = range(30, 60)  # re-upserted with new vectors and payloads (spans both batches)
BATCHES = (0, 40), (40, N)  # the second is longer than RemoteStore's 256-point request batch


# --- backends ----------------------------------------------------------------------------
def _backend_name(param: Any) -> str:
    return param.values[0] if hasattr(param, "values") else param


def _open(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """One backend, opened exactly as the ``store`` fixture in tests/conftest.py opens it."""
    if name == "embedded":
        return EdgeStore(tmp_path / "qdrant")
    if name == "memory":
        return RemoteStore(":memory:")
    if name == "server":
        store = RemoteStore(request.getfixturevalue("qdrant_server_url"), retry_seconds=5)
        for existing in store.list_collections():
            store.delete_collection(existing)
        return store
    raise AssertionError(f"tests/conftest.py BACKENDS has {name!r}; teach _open() to open it")


# Every pair of backends is one test item; the marks of both (``docker`` for the server) apply.
PAIRS = [
    pytest.param(
        (_backend_name(a), _backend_name(b)), id=f"{_backend_name(a)}-vs-{_backend_name(b)}",
        marks=[*getattr(a, "marks", ()), *getattr(b, "marks", ())],
    )
    for a, b in itertools.combinations(BACKENDS, 2)
]


@dataclass
class Pair:
    """Two backends under the same calls."""

    names: tuple[str, str]
    stores: tuple[Store, Store]

    def both(self, op: Callable[[Store], Any]) -> tuple[Any, Any]:
        """``op`` on each backend, in order."""
        return op(self.stores[0]), op(self.stores[1])

    def same(self, op: Callable[[Store], Any], what: str) -> Any:
        """Run ``op`` on both and assert the results are equal; return the first."""
        a, b = self.both(op)
        assert a == b, f"{self.vs(what)}:\n  {self.names[0]}: {a!r}\n  {self.names[1]}: {b!r}"
        return a

    def vs(self, what: str) -> str:
        return f"{what} ({self.names[0]} vs {self.names[1]})"


def _open_pair(request: pytest.FixtureRequest, names: tuple[str, str], root: Path) -> Iterator[Pair]:
    opened: list[Store] = []
    try:
        for name in names:
            opened.append(_open(name, request, root / name))
        yield Pair(names, (opened[0], opened[1]))
    finally:
        for store in opened:
            store.close()


@pytest.fixture(params=PAIRS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Two empty backends, each with its own directory, for tests that write."""
    yield from _open_pair(request, request.param, tmp_path)


# --- the dataset ---------------------------------------------------------------------------
META = CollectionMeta(
    model="fake/congruence", dimension=DIM, pooling="cls", image_size=None, dataset="congruence",
    labels=["zero", "one", "two", "three", "four"], created_at="2024-01-01T00:00:00+00:00",
)


def _payload(i: int) -> dict[str, Any]:
    split = "test" if i % 4 == 0 else "train"
    payload: dict[str, Any] = {
        "split": split, "index": i, "name": f"pièce-{i}-漢字-🙂", "tags": [f"t{i % 3}", f"t{i % 7}"],
        "nested": {"row": i, "grid": {"x": i % 17, "y": [i % 2, "ü", None]}},
        "weight": i / 8, "flag": i % 2 == 0, "big": 2**53 + i,
    }
    if i % 37 == 0:
        payload["label"] = None  # present but empty: has_label must leave it out
    elif i % 11 != 0:  # otherwise missing
        payload["label"] = i % 5
    if i % 50 == 7:
        payload["empty"] = {"d": {}, "l": []}
    return payload


def _dataset() -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(20240607)
    vecs = rng.normal(size=(N, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for a, b in TWINS:
        vecs[b] = vecs[a]
    ids = [row_point_id("congruence", "test" if i % 4 == 0 else "train", i) for i in range(N)]
    return ids, vecs, [_payload(i) for i in range(N)]


IDS, VECS, PAYLOADS = _dataset()
MISSING_IDS = [row_point_id("congruence", "nowhere", i) for i in range(3)]
OVER_VECS = -2.5 * VECS[OVERWRITTEN.start:OVERWRITTEN.stop] + 0.3  # not unit length: stored normalised
STORED = {  # id -> the unit vector a backend should hold after _load (cosine normalises)
    pid: vec / np.linalg.norm(vec) for pid, vec in zip(IDS, VECS.copy())
} | {IDS[i]: v / np.linalg.norm(v) for i, v in zip(OVERWRITTEN, OVER_VECS)}
OVER_PAYLOADS = [{**PAYLOADS[i], "label": (i + 2) % 5, "overwritten": True, "name": "réécrit ✓"}
                 for i in OVERWRITTEN]


def _load(store: Store) -> None:
    """The same writes, in the same order, on one backend."""
    store.ensure_collection(NAME, META)
    for start, end in BATCHES:
        store.upsert(NAME, IDS[start:end], VECS[start:end], PAYLOADS[start:end])
    store.upsert(NAME, IDS[OVERWRITTEN.start:OVERWRITTEN.stop], OVER_VECS, OVER_PAYLOADS)
    store.optimize(NAME)


@pytest.fixture
def fresh_loaded(pair: Pair) -> Pair:
    """Both backends holding the dataset, for tests that change it."""
    pair.both(_load)
    return pair


# Creating an embedded shard costs a few tenths of a second, so read-only tests and error cases
# share one pair per module (directories from tmp_path_factory, as tmp_path's). The Qdrant server
# is one for the whole session and each opening empties it, so a pair that holds it never
# outlives its test: the module fixture then hands on only the names, and each test opens afresh.
def _module_pair(
    request: pytest.FixtureRequest, factory: pytest.TempPathFactory, prepare: Callable[[Store], Any]
) -> Iterator[Pair | tuple[str, str]]:
    if "server" in request.param:
        yield request.param
        return
    for pair in _open_pair(request, request.param, factory.mktemp("shared")):
        pair.both(prepare)
        yield pair


def _test_pair(
    shared: Pair | tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path,
    prepare: Callable[[Store], Any], again: bool,
) -> Iterator[Pair]:
    """The module's pair (``prepare`` run again on it when ``again``), or a fresh prepared one."""
    if isinstance(shared, Pair):
        if again:
            shared.both(prepare)
        yield shared
        return
    for pair in _open_pair(request, shared, tmp_path):
        pair.both(prepare)
        yield pair


def _noop(store: Store) -> None:
    """Nothing to prepare."""


@pytest.fixture(scope="module", params=PAIRS)
def loaded_shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    for shared in _module_pair(request, tmp_path_factory, _load):
        yield shared
        if isinstance(shared, Pair):
            shared.same(lambda s: (s.list_collections(), s.count(NAME)), "read-only tests left the data alone")


@pytest.fixture
def loaded(loaded_shared: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Both backends holding the dataset, with the overwrite applied; tests must not write."""
    yield from _test_pair(loaded_shared, request, tmp_path, _load, again=False)


# --- comparisons ----------------------------------------------------------------------------
def _assert_same_records(pair: Pair, a: Sequence[Record | Hit], b: Sequence[Record | Hit], what: str) -> None:
    """Same ids (no duplicates), and per id the same payload and vector."""
    ids_a, ids_b = [r.id for r in a], [r.id for r in b]
    assert len(set(ids_a)) == len(ids_a) and len(set(ids_b)) == len(ids_b), pair.vs(f"{what}: repeated ids")
    assert set(ids_a) == set(ids_b), pair.vs(f"{what}: ids {sorted(set(ids_a) ^ set(ids_b))} on one side only")
    by_id = {r.id: r for r in b}
    for rec in a:
        other = by_id[rec.id]
        assert rec.payload == other.payload, pair.vs(f"{what}: payload of {rec.id}")
        if rec.vector is None or other.vector is None:
            assert rec.vector is None and other.vector is None, pair.vs(f"{what}: vector of {rec.id}")
        else:
            np.testing.assert_allclose(rec.vector, other.vector, atol=VECTOR_ATOL,
                                       err_msg=pair.vs(f"{what}: vector of {rec.id}"))


def _assert_same_hits(pair: Pair, a: list[Hit], b: list[Hit], k: int, query: np.ndarray, what: str) -> None:
    """Same scores position by position; same ids, in the same order except within a tie.

    Where a tie straddles the k-th rank either backend may keep either member: the ids found on one
    side only must then score (by numpy, on the stored vectors) the same as that last rank.
    """
    assert len(a) == len(b), pair.vs(f"{what}: {len(a)} vs {len(b)} hits")
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=SCORE_ATOL,
                               err_msg=pair.vs(f"{what}: scores"))
    start = 0
    for end in range(1, len(a) + 1):
        boundary = end == len(a) or (a[end - 1].score - a[end].score > TIE_ATOL
                                     and b[end - 1].score - b[end].score > TIE_ATOL)
        if not boundary:
            continue
        group_a, group_b = {h.id for h in a[start:end]}, {h.id for h in b[start:end]}
        if group_a != group_b and end == len(a) == k:
            unit = query / np.linalg.norm(query)
            for pid in group_a ^ group_b:
                assert abs(float(STORED[pid] @ unit) - a[-1].score) <= SCORE_ATOL, pair.vs(
                    f"{what}: {pid} is at the last rank on one side only, and is not tied with it")
        else:
            assert group_a == group_b, pair.vs(
                f"{what}: ranks {start}..{end - 1} hold {sorted(group_a)} vs {sorted(group_b)}")
        start = end
    common = {h.id for h in a} & {h.id for h in b}
    _assert_same_records(pair, [h for h in a if h.id in common], [h for h in b if h.id in common], what)


# --- the operations -------------------------------------------------------------------------
def test_ensure_collection_and_metadata(pair: Pair) -> None:
    created = pair.same(lambda s: s.ensure_collection(NAME, META).model_dump(), "ensure_collection (new)")
    assert created == META.model_dump()
    pair.same(lambda s: s.ensure_collection(NAME, META).model_dump(), "ensure_collection (existing)")
    pair.same(lambda s: s.ensure_collection(NAME, META.model_copy(update={"labels": []})).labels,
              "ensure_collection with no class names keeps the stored ones")
    pair.same(lambda s: s.get_meta(NAME).model_dump(), "get_meta")
    pair.same(lambda s: (s.list_collections(), s.collection_exists(NAME), s.collection_exists("nope")),
              "list_collections / collection_exists")
    pair.same(lambda s: s.summary(NAME).as_json(), "summary of an empty collection")


WHERES = [
    None, Where(), Where(split="train"), Where(split="test"), Where(split="nowhere"),
    *(Where(label=label) for label in range(6)), Where(has_label=True),
    Where(split="test", label=3), Where(split="train", has_label=True),
    Where(exclude_ids=tuple(IDS[:25]) + tuple(MISSING_IDS)), Where(label=2, exclude_ids=tuple(IDS[::3])),
]


def test_count_with_and_without_filters(loaded: Pair) -> None:
    assert loaded.same(lambda s: s.count(NAME), "count") == N  # an anchor: not two equally empty stores
    for where in WHERES:
        loaded.same(lambda s, w=where: s.count(NAME, w), f"count({where})")
    assert loaded.same(lambda s: s.count(NAME, Where(has_label=True)), "count(has_label)") < N


def test_existing_ids(loaded: Pair) -> None:
    asked = IDS[::7] + MISSING_IDS + IDS[OVERWRITTEN.start:OVERWRITTEN.start + 3]
    assert loaded.same(lambda s: s.existing_ids(NAME, asked), "existing_ids") == set(asked) - set(MISSING_IDS)
    loaded.same(lambda s: s.existing_ids(NAME, []), "existing_ids([])")
    loaded.same(lambda s: s.existing_ids(NAME, MISSING_IDS), "existing_ids(only missing)")


@pytest.mark.parametrize("with_vectors", [False, True], ids=["payload", "payload+vector"])
@pytest.mark.parametrize(
    "with_payload",
    [True, False, [], ["label"], ["label", "nested.grid", "no_such_field"], ("name", "tags", "empty")],
    ids=["all", "none", "empty-list", "label", "nested-path", "tuple"],
)
def test_retrieve_with_payload_selection(loaded: Pair, with_payload: Any, with_vectors: bool) -> None:
    asked = list(dict.fromkeys(IDS[1::9] + MISSING_IDS + IDS[OVERWRITTEN.start:OVERWRITTEN.stop:4]))
    a, b = loaded.both(lambda s: s.retrieve(NAME, asked, with_payload=with_payload, with_vectors=with_vectors))
    _assert_same_records(loaded, a, b, f"retrieve(with_payload={with_payload!r}, with_vectors={with_vectors})")
    assert {r.id for r in a} == set(asked) - set(MISSING_IDS)
    loaded.same(lambda s: s.retrieve(NAME, []), "retrieve([])")


def test_retrieve_with_repeated_ids(loaded: Pair) -> None:
    """Each stored point once, however often it was asked for (Qdrant Edge's behaviour)."""
    asked = [IDS[1], IDS[2], IDS[1]]
    ids = loaded.same(lambda s: sorted(r.id for r in s.retrieve(NAME, asked)), "retrieve with a repeated id")
    assert ids == sorted({IDS[1], IDS[2]})


def test_scroll_and_fetch_all_contents(loaded: Pair) -> None:
    for where in (None, Where(split="test"), Where(has_label=True, exclude_ids=tuple(IDS[:50]))):
        a, b = loaded.both(lambda s, w=where: list(s.scroll(NAME, w, True, True, page_size=64)))
        _assert_same_records(loaded, a, b, f"scroll({where}) full contents")
        assert len(a) == loaded.stores[0].count(NAME, where)
    fields = ("label", "split", "nested", "no_such_field")
    (ids_a, mat_a, pls_a), (ids_b, mat_b, pls_b) = loaded.both(
        lambda s: s.fetch_all(NAME, payload_fields=fields, page_size=70))
    assert len(ids_a) == N
    _assert_same_records(
        loaded, [Record(i, p, v) for i, p, v in zip(ids_a, pls_a, mat_a)],
        [Record(i, p, v) for i, p, v in zip(ids_b, pls_b, mat_b)], "fetch_all")
    assert mat_a.dtype == mat_b.dtype == np.float32


def test_scroll_pages(loaded: Pair) -> None:
    """Pages break at the same points and hand back the same next offsets (Qdrant scrolls in id order)."""
    def pages(store: Store, where: Where | None) -> list[tuple[list[str], str | None]]:
        out, offset = [], None
        while True:
            records, offset = store.scroll_page(NAME, offset, 64, where, with_payload=["index"])
            out.append(([r.id for r in records], offset))
            if offset is None:
                return out

    for where in (None, Where(split="train", label=1)):
        loaded.same(lambda s, w=where: pages(s, w), f"scroll_page sequence ({where})")


QUERY_ROWS = [10, 120, 251, 35, 0, 7, 199]  # twins (ties at 1.0), an overwritten point, plain points


def _queries() -> np.ndarray:
    rng = np.random.default_rng(7)
    stored = VECS[QUERY_ROWS]
    stored[3] = OVER_VECS[QUERY_ROWS[3] - OVERWRITTEN.start]
    noisy = VECS[[3, 77, 150]] + 0.05 * rng.normal(size=(3, DIM)).astype(np.float32)
    fresh = rng.normal(size=(2, DIM)).astype(np.float32) * 3.0
    return np.vstack([stored, noisy, fresh]).astype(np.float32)


QUERY_CASES = [  # (k, where, exclude the query's own point?)
    (1, None, False), (10, None, False), (10, None, True), (N + 20, None, False),
    (5, Where(split="test"), False), (400, Where(split="test"), True),
    (7, Where(label=2, split="train"), False), (12, Where(has_label=True), True),
    (8, Where(exclude_ids=tuple(IDS[100:200])), False), (3, Where(split="nowhere"), False),
]


def _case_id(k: int, where: Where | None, exclude_self: bool) -> str:
    fields = [f for f in ("split", "label", "has_label", "exclude_ids") if where and getattr(where, f)]
    return "-".join([f"k{k}", *fields, *(["loo"] if exclude_self else [])])


@pytest.mark.parametrize(("k", "where", "exclude_self"), QUERY_CASES, ids=[_case_id(*c) for c in QUERY_CASES])
def test_exact_query_batch(loaded: Pair, k: int, where: Where | None, exclude_self: bool) -> None:
    queries = _queries()
    excludes = [IDS[r] for r in QUERY_ROWS] + [None] * (len(queries) - len(QUERY_ROWS)) if exclude_self else None
    a, b = loaded.both(lambda s: s.query_batch(NAME, queries, k, where, exact=True,
                                               exclude_per_query=excludes))
    assert len(a) == len(b) == len(queries), loaded.vs("one result list per query")
    for i, (hits_a, hits_b) in enumerate(zip(a, b)):
        what = f"query {i} (k={k}, where={where}, exclude={exclude_self})"
        _assert_same_hits(loaded, hits_a, hits_b, k, queries[i], what)
    if where is None and not exclude_self:
        assert a[0][0].score == pytest.approx(1.0, abs=SCORE_ATOL)  # anchor: a stored vector finds itself


def test_query_payload_selection_and_vectors(loaded: Pair) -> None:
    queries = _queries()
    for with_payload in (False, ["label", "nested.row"], True):
        a, b = loaded.both(lambda s, wp=with_payload: s.query_batch(
            NAME, queries, 15, Where(has_label=True), exact=True, with_payload=wp, with_vectors=True))
        for i, (hits_a, hits_b) in enumerate(zip(a, b)):
            what = f"query {i} (with_payload={with_payload!r}, with_vectors)"
            _assert_same_hits(loaded, hits_a, hits_b, 15, queries[i], what)
    loaded.same(lambda s: s.query_batch(NAME, np.zeros((0, DIM), np.float32), 5, exact=True), "no queries")
    single = loaded.both(lambda s: s.query(NAME, queries[4], 6, exact=True))
    _assert_same_hits(loaded, *single, 6, queries[4], "query() of one vector")


def test_set_payloads_then_retrieve(fresh_loaded: Pair) -> None:
    updates = {
        IDS[i]: {"umap": [float(i), -i / 3], "cluster_kmeans": i % 4, "note": f"ré-{i} 🙂",
                 "nested": {"replaced": True}, **({"label": 4} if i % 2 else {})}
        for i in range(0, N, 6)
    }
    fresh_loaded.both(lambda s: s.set_payloads(NAME, updates))
    a, b = fresh_loaded.both(lambda s: s.retrieve(NAME, IDS[:40], with_vectors=True))
    _assert_same_records(fresh_loaded, a, b, "retrieve after set_payloads")
    first = next(r for r in a if r.id == IDS[0])
    assert first.payload["cluster_kmeans"] == 0 and first.payload["index"] == 0  # merged, not replaced
    for where in (Where(label=4), Where(has_label=True), Where(split="test", label=4)):
        fresh_loaded.same(lambda s, w=where: s.count(NAME, w), f"count({where}) after set_payloads")
    fresh_loaded.same(lambda s: s.set_payloads(NAME, {}), "set_payloads({})")


def test_update_meta_and_summary(fresh_loaded: Pair) -> None:
    analysis = {"umap": {"seed": 0, "fields": ["umap"], "note": "données ✓"}, "kmeans": {"k": [4, 8]}}
    fresh_loaded.same(lambda s: s.update_meta(NAME, analysis=analysis).model_dump(), "update_meta(analysis)")
    labels = ["a", "b", "c", "d", "é"]
    fresh_loaded.same(lambda s: s.update_meta(NAME, labels=labels).model_dump(), "update_meta(labels)")
    meta = fresh_loaded.same(lambda s: s.get_meta(NAME).model_dump(), "get_meta after update_meta")
    assert meta["analysis"] == analysis and meta["labels"][-1] == "é"
    summary = fresh_loaded.same(lambda s: s.summary(NAME).as_json(), "summary")
    assert summary["points"] == N and summary["dimension"] == DIM


def test_delete_collection(fresh_loaded: Pair) -> None:
    other = "congruence__other"
    fresh_loaded.both(lambda s: s.ensure_collection(other, META.model_copy(update={"dimension": 8})))
    fresh_loaded.same(lambda s: s.list_collections(), "list_collections with two")
    fresh_loaded.both(lambda s: s.delete_collection(NAME))
    fresh_loaded.same(lambda s: (s.collection_exists(NAME), s.collection_exists(other), s.list_collections()),
                "after delete_collection")
    fresh_loaded.same(lambda s: s.delete_collection(NAME), "delete_collection of an absent collection")
    fresh_loaded.same(lambda s: (s.ensure_collection(NAME, META).model_dump(), s.count(NAME)), "recreated empty")


# --- errors: the same bad call raises the same embedscope error everywhere --------------------
def _reset_small(store: Store) -> None:
    """Only NAME, holding the first five points (recreated if a bad call changed its size)."""
    for name in store.list_collections():
        if name != NAME:
            store.delete_collection(name)
    if store.collection_exists(NAME) and store.count(NAME) != 5:
        store.delete_collection(NAME)
    store.ensure_collection(NAME, META)
    store.upsert(NAME, IDS[:5], VECS[:5], PAYLOADS[:5])


@pytest.fixture(scope="module", params=PAIRS)
def small_shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _module_pair(request, tmp_path_factory, _noop)


@pytest.fixture
def small(small_shared: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Both backends holding five points (reset before each bad call)."""
    yield from _test_pair(small_shared, request, tmp_path, _reset_small, again=True)


def _one(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32)[None, :]




def _case(case_id: str, call: Callable[[Store], Any], expected: type[EmbedscopeError]) -> Any:
    """One bad call and the embedscope error every backend must raise for it."""
    return pytest.param(call, expected, id=case_id)


ERROR_CASES = [
    _case("unknown-require", lambda s: s.require("nope"), CollectionNotFoundError),
    _case("unknown-get_meta", lambda s: s.get_meta("nope"), CollectionNotFoundError),
    _case("unknown-count", lambda s: s.count("nope"), CollectionNotFoundError),
    _case("unknown-count-where", lambda s: s.count("nope", Where(split="train")), CollectionNotFoundError),
    _case("unknown-summary", lambda s: s.summary("nope"), CollectionNotFoundError),
    _case("unknown-update_meta", lambda s: s.update_meta("nope", labels=[]), CollectionNotFoundError),
    _case("unknown-fetch_all", lambda s: s.fetch_all("nope"), CollectionNotFoundError),
    *(
        _case(f"unknown-{op}", call, CollectionNotFoundError)
        for op, call in [
            ("retrieve", lambda s: s.retrieve("nope", IDS[:1])),
            ("existing_ids", lambda s: s.existing_ids("nope", IDS[:1])),
            ("query_batch", lambda s: s.query_batch("nope", VECS[:1], 3, exact=True)),
            ("scroll_page", lambda s: s.scroll_page("nope", None, 10)),
            ("upsert", lambda s: s.upsert("nope", IDS[:1], VECS[:1], PAYLOADS[:1])),
            ("set_payloads", lambda s: s.set_payloads("nope", {IDS[0]: {"a": 1}})),
        ]
    ),
    _case("unknown-optimize", lambda s: s.optimize("nope"), CollectionNotFoundError),
    _case("upsert-wrong-dimension", lambda s: s.upsert(NAME, IDS[:1], np.ones((1, DIM + 1)), [{}]), UsageError),
    _case("query-wrong-dimension", lambda s: s.query_batch(NAME, np.ones((1, DIM + 1)), 3, exact=True),
          UsageError),
    _case("upsert-nan", lambda s: s.upsert(NAME, IDS[:1], _one(np.full(DIM, np.nan)), [{}]), UsageError),
    _case("upsert-inf", lambda s: s.upsert(NAME, IDS[:2], np.vstack([VECS[0], np.full(DIM, np.inf)]), [{}, {}]),
          UsageError),
    _case("upsert-1d", lambda s: s.upsert(NAME, IDS[:1], VECS[0], [{}]), UsageError),
    _case("query-nan", lambda s: s.query_batch(NAME, _one(np.full(DIM, np.nan)), 3, exact=True), UsageError),
    _case("query-1d", lambda s: s.query_batch(NAME, VECS[0], 3, exact=True), UsageError),
    _case("query-k0", lambda s: s.query_batch(NAME, VECS[:1], 0, exact=True), UsageError),
    _case("query-k-negative", lambda s: s.query_batch(NAME, VECS[:1], -1, exact=True), UsageError),
    _case("upsert-non-uuid-id", lambda s: s.upsert(NAME, ["not-a-uuid"], VECS[:1], [{}]), UsageError),
    _case("set_payloads-missing-point", lambda s: s.set_payloads(NAME, {MISSING_IDS[0]: {"a": 1}}), UsageError),
    _case("ensure-other-space", lambda s: s.ensure_collection(NAME, META.model_copy(update={"dimension": 8})),
          MixedSpaceError),
    _case("ensure-other-labels", lambda s: s.ensure_collection(NAME, META.model_copy(update={"labels": ["x"]})),
          UsageError),
    _case("ensure-name-with-slash", lambda s: s.ensure_collection("a/b", META), UsageError),
    _case("ensure-dimension-0", lambda s: s.ensure_collection("zero", META.model_copy(update={"dimension": 0})),
          UsageError),
]


def _outcome(store: Store, call: Callable[[Store], Any]) -> BaseException | None:
    try:
        call(store)
    except Exception as exc:  # the point is to compare whatever each backend raises
        return exc
    return None


def _describe(exc: BaseException | None) -> str:
    return "returned normally" if exc is None else f"raised {type(exc).__module__}.{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(("call", "expected"), ERROR_CASES)
def test_same_error_on_every_backend(
    small: Pair, call: Callable[[Store], Any], expected: type[EmbedscopeError]
) -> None:
    pair = small
    a, b = pair.both(lambda s: _outcome(s, call))
    detail = f"\n  {pair.names[0]}: {_describe(a)}\n  {pair.names[1]}: {_describe(b)}"
    assert isinstance(a, expected) and isinstance(b, expected), pair.vs(f"expected {expected.__name__}") + detail
    assert type(a) is type(b), pair.vs("different error types") + detail
    # a refused call leaves both stores as they were
    pair.same(lambda s: (s.list_collections(), s.count(NAME), sorted(s.existing_ids(NAME, IDS[:6]))),
              "state after the refused call")
