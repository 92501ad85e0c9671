"""Congruence: the same operations on every store backend, the results compared pairwise.

test_backends_match_numpy.py checks each backend against numpy; here each pair of backends from
``tests.conftest.BACKENDS`` (embedded Qdrant Edge, qdrant-client in-memory, and a Qdrant
server container where Docker answers) gets the same deterministic data and the same calls,
and must return the same ids, scores, payloads, vectors, metadata and error types
(qdrant-client's ``tests/congruence_tests`` do the same for its local and remote modes).
Every bad call must raise the same embedscope error on every backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from embedscope.errors import CollectionNotFoundError, UsageError
from embedscope.store import Record, Store, Where
from embedscope.store.keys import id_bytes
from tests.store.congruence import (
    DIM,
    IDS,
    META,
    MISSING_IDS,
    NAME,
    OVER_VECS,
    OVERWRITTEN,
    SCORE_ATOL,
    VECS,
    N,
    Pair,
    assert_same_hits,
    assert_same_records,
)


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
    Where(tag="t1"), Where(tag="t6"), Where(tag="t0", split="test"), Where(tag="nope"),
]


def test_count_with_and_without_filters(loaded: Pair) -> None:
    assert loaded.same(lambda s: s.count(NAME), "count") == N  # an anchor: not two equally empty stores
    for where in WHERES:
        loaded.same(lambda s, w=where: s.count(NAME, w), f"count({where})")
    assert loaded.same(lambda s: s.count(NAME, Where(has_label=True)), "count(has_label)") < N
    # the tag filter matches list members: t1 is in (i % 3, i % 7) for exactly these points
    expected = sum(1 for i in range(N) if "t1" in (f"t{i % 3}", f"t{i % 7}"))
    assert loaded.same(lambda s: s.count(NAME, Where(tag="t1")), "count(tag=t1)") == expected


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
    assert_same_records(loaded, a, b, f"retrieve(with_payload={with_payload!r}, with_vectors={with_vectors})")
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
        assert_same_records(loaded, a, b, f"scroll({where}) full contents")
        assert len(a) == loaded.stores[0].count(NAME, where)
    fields = ("label", "split", "nested", "no_such_field")
    (ids_a, mat_a, pls_a), (ids_b, mat_b, pls_b) = loaded.both(
        lambda s: s.fetch_all(NAME, payload_fields=fields, page_size=70))
    assert len(ids_a) == N
    assert_same_records(
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
        assert_same_hits(loaded, hits_a, hits_b, k, queries[i], what)
    if where is None and not exclude_self:
        assert a[0][0].score == pytest.approx(1.0, abs=SCORE_ATOL)  # anchor: a stored vector finds itself


def test_query_payload_selection_and_vectors(loaded: Pair) -> None:
    queries = _queries()
    for with_payload in (False, ["label", "nested.row"], True):
        a, b = loaded.both(lambda s, wp=with_payload: s.query_batch(
            NAME, queries, 15, Where(has_label=True), exact=True, with_payload=wp, with_vectors=True))
        for i, (hits_a, hits_b) in enumerate(zip(a, b)):
            what = f"query {i} (with_payload={with_payload!r}, with_vectors)"
            assert_same_hits(loaded, hits_a, hits_b, 15, queries[i], what)
    loaded.same(lambda s: s.query_batch(NAME, np.zeros((0, DIM), np.float32), 5, exact=True), "no queries")
    single = loaded.both(lambda s: s.query(NAME, queries[4], 6, exact=True))
    assert_same_hits(loaded, *single, 6, queries[4], "query() of one vector")


def test_set_payloads_then_retrieve(fresh_loaded: Pair) -> None:
    updates = {
        IDS[i]: {"umap": [float(i), -i / 3], "cluster_kmeans": i % 4, "note": f"ré-{i} 🙂",
                 "nested": {"replaced": True}, **({"label": 4} if i % 2 else {})}
        for i in range(0, N, 6)
    }
    fresh_loaded.both(lambda s: s.set_payloads(NAME, updates))
    a, b = fresh_loaded.both(lambda s: s.retrieve(NAME, IDS[:40], with_vectors=True))
    assert_same_records(fresh_loaded, a, b, "retrieve after set_payloads")
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


def test_facet_lists_each_value_with_the_points_holding_it_from_the_index(loaded: Pair) -> None:
    from collections import Counter

    splits = loaded.same(lambda s: s.facet(NAME, "split").counts, "facet(split)")
    assert dict(splits) == Counter("test" if i % 4 == 0 else "train" for i in range(N))
    # a list field: a point counts once for each distinct tag it holds (t0 twice in one list
    # counts once)
    tags = loaded.same(lambda s: s.facet(NAME, "tags").counts, "facet(tags)")
    assert dict(tags) == Counter(t for i in range(N) for t in {f"t{i % 3}", f"t{i % 7}"})
    assert [c for _, c in tags] == sorted((c for _, c in tags), reverse=True)
    loaded.same(lambda s: s.facet(NAME, "label").counts, "facet(label)")
    assert loaded.same(lambda s: s.facet(NAME, "tags", limit=2).values, "facet(tags, 2)") == \
        [v for v, _ in tags[:2]]
    assert loaded.same(lambda s: s.facet(NAME, "tags").indexed, "facet from the index") is True


def test_facet_of_a_field_without_index_counts_a_bounded_scroll_and_says_so(
    loaded: Pair
) -> None:
    from embedscope.store.facets import scan

    whole = loaded.same(lambda s: (s.facet(NAME, "flag").counts, s.facet(NAME, "flag").note),
                        "facet(flag) without an index")
    assert dict(whole[0]) == {True: N // 2 + N % 2, False: N // 2} and whole[1] is None
    part = loaded.same(lambda s: scan(s, NAME, "split", 1000, points=40), "scan of 40 points")
    assert part.scanned == 40 and not part.indexed and sum(c for _, c in part.counts) == 40
    assert part.note is not None and "no payload index on 'split'" in part.note


def test_ensure_collection_indexes_a_collection_made_without_the_indexes(pair: Pair) -> None:
    from embedscope.contract import INDEXED_FIELDS
    from embedscope.store.edge import EdgeStore

    pair.both(lambda s: s.ensure_collection(NAME, META))
    for s in pair.stores:
        if isinstance(s, EdgeStore):  # as an older embedscope made it: no index on tags
            s._writing(NAME).update(s._q.UpdateOperation.delete_field_index("tags"))
            assert "tags" not in s.indexed_fields(NAME)
    pair.both(lambda s: s.ensure_collection(NAME, META))
    pair.same(lambda s: s.indexed_fields(NAME) >= set(INDEXED_FIELDS), "every index after ingest")
    assert all(s.indexed_fields(NAME) >= set(INDEXED_FIELDS) for s in pair.stores)


def test_sample_draws_points_at_random_among_the_filter(loaded: Pair) -> None:
    """``sample``: random ids from the engine, different draws, within the filter, on every
    backend (the Search tab's "random" reads no pass over the collection)."""
    where = Where(split="test", label=3)
    members = set(loaded.same(lambda s: sorted(r.id for r in s.scroll(NAME, where, False)),
                              "the filter's members"))
    for store in loaded.stores:
        draws = [store.sample(NAME, 1)[0] for _ in range(60)]
        assert len(set(draws)) > 30 and set(draws) <= set(IDS)
        some = store.sample(NAME, 5, where)
        assert len(some) == min(5, len(members)) and set(some) <= members
        assert len(set(some)) == len(some)
        with pytest.raises(UsageError, match="k must be at least 1"):
            store.sample(NAME, 0)
        with pytest.raises(CollectionNotFoundError):
            store.sample("no_such_collection", 1)


@pytest.mark.parametrize(("k", "where", "exclude_self"), QUERY_CASES, ids=[_case_id(*c) for c in QUERY_CASES])
def test_query_keys_are_the_query_batch_as_arrays(loaded: Pair, k: int, where: Where | None,
                                                  exclude_self: bool) -> None:
    """A pass over every point reads its hits as arrays (``Store.query_keys``): on each backend
    the same ids, in the same order, with the same scores as ``query_batch``'s Hits (the
    collection is small, so each engine scans it: both searches are exact)."""
    queries = _queries()
    excludes = [IDS[r] for r in QUERY_ROWS] + [None] * (len(queries) - len(QUERY_ROWS)) if exclude_self else None
    for name, store in zip(loaded.names, loaded.stores, strict=True):
        found = store.query_keys(NAME, queries, k, where, exclude_per_query=excludes)
        hits = store.query_batch(NAME, queries, k, where, exact=True, with_payload=False,
                                 exclude_per_query=excludes)
        assert found.counts.tolist() == [len(h) for h in hits], name
        flat = [h for hs in hits for h in hs]
        assert found.keys.tolist() == id_bytes([h.id for h in flat]).tolist(), name
        np.testing.assert_allclose(found.scores, [h.score for h in flat], atol=SCORE_ATOL)
        assert found.query.tolist() == [i for i, hs in enumerate(hits) for _ in hs]
        assert found.rank.tolist() == [r for hs in hits for r in range(len(hs))]
    with pytest.raises(UsageError):
        loaded.stores[0].query_keys(NAME, queries, 0)
