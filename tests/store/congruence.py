"""Congruence machinery: deterministic data, backend pairs and the pairwise comparisons."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.contract import CollectionMeta, row_point_id
from embedscope.store import Hit, Record, Store
from embedscope.store.edge import EdgeStore
from embedscope.store.remote import RemoteStore
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


def open_pair(request: pytest.FixtureRequest, names: tuple[str, str], root: Path) -> Iterator[Pair]:
    opened: list[Store] = []
    try:
        for name in names:
            opened.append(_open(name, request, root / name))
        yield Pair(names, (opened[0], opened[1]))
    finally:
        for store in opened:
            store.close()


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
STORED = {  # id -> the unit vector a backend should hold after load (cosine normalises)
    pid: vec / np.linalg.norm(vec) for pid, vec in zip(IDS, VECS.copy())
} | {IDS[i]: v / np.linalg.norm(v) for i, v in zip(OVERWRITTEN, OVER_VECS)}
OVER_PAYLOADS = [{**PAYLOADS[i], "label": (i + 2) % 5, "overwritten": True, "name": "réécrit ✓"}
                 for i in OVERWRITTEN]


def load(store: Store) -> None:
    """The same writes, in the same order, on one backend."""
    store.ensure_collection(NAME, META)
    for start, end in BATCHES:
        store.upsert(NAME, IDS[start:end], VECS[start:end], PAYLOADS[start:end])
    store.upsert(NAME, IDS[OVERWRITTEN.start:OVERWRITTEN.stop], OVER_VECS, OVER_PAYLOADS)
    store.optimize(NAME)


# Creating an embedded shard costs a few tenths of a second, so read-only tests and error cases
# share one pair per module (directories from tmp_path_factory, as tmp_path's). The Qdrant server
# is one for the whole session and each opening empties it, so a pair that holds it never
# outlives its test: the module fixture then hands on only the names, and each test opens afresh.
def module_pair(
    request: pytest.FixtureRequest, factory: pytest.TempPathFactory, prepare: Callable[[Store], Any]
) -> Iterator[Pair | tuple[str, str]]:
    if "server" in request.param:
        yield request.param
        return
    for pair in open_pair(request, request.param, factory.mktemp("shared")):
        pair.both(prepare)
        yield pair


def per_test_pair(
    shared: Pair | tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path,
    prepare: Callable[[Store], Any], again: bool,
) -> Iterator[Pair]:
    """The module's pair (``prepare`` run again on it when ``again``), or a fresh prepared one."""
    if isinstance(shared, Pair):
        if again:
            shared.both(prepare)
        yield shared
        return
    for pair in open_pair(request, shared, tmp_path):
        pair.both(prepare)
        yield pair


def noop(store: Store) -> None:
    """Nothing to prepare."""


# --- comparisons ----------------------------------------------------------------------------
def assert_same_records(pair: Pair, a: Sequence[Record | Hit], b: Sequence[Record | Hit], what: str) -> None:
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


def assert_same_hits(pair: Pair, a: list[Hit], b: list[Hit], k: int, query: np.ndarray, what: str) -> None:
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
    assert_same_records(pair, [h for h in a if h.id in common], [h for h in b if h.id in common], what)


# --- the operations -------------------------------------------------------------------------


def reset_small(store: Store) -> None:
    """Only NAME, holding the first five points (recreated if a bad call changed its size)."""
    for name in store.list_collections():
        if name != NAME:
            store.delete_collection(name)
    if store.collection_exists(NAME) and store.count(NAME) != 5:
        store.delete_collection(NAME)
    store.ensure_collection(NAME, META)
    store.upsert(NAME, IDS[:5], VECS[:5], PAYLOADS[:5])


def one(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32)[None, :]
