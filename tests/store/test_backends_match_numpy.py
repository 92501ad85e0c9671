"""The store's shared test bodies: each runs on every backend and must agree."""

from __future__ import annotations

import numpy as np
import pytest

from embedscope.contract import CollectionMeta, row_point_id
from embedscope.errors import CollectionNotFoundError, MixedSpaceError, UsageError
from embedscope.store import Where


def _meta(dim: int = 4, model: str = "fake", labels: list[str] | None = None) -> CollectionMeta:
    return CollectionMeta(model=model, dimension=dim, pooling="cls", image_size=None,
                          dataset="toy", labels=labels or ["a", "b"])


def _points(n: int, dim: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [row_point_id("toy", "train" if i % 3 else "test", i) for i in range(n)]
    payloads = [{"split": "train" if i % 3 else "test", "index": i, "label": i % 2} for i in range(n)]
    return ids, vecs, payloads


def test_create_upsert_count_and_metadata_roundtrip(store):
    store.ensure_collection("toy__fake", _meta())
    ids, vecs, payloads = _points(50)
    store.upsert("toy__fake", ids, vecs, payloads)
    assert store.count("toy__fake") == 50
    assert store.count("toy__fake", Where(split="test")) == len([i for i in range(50) if i % 3 == 0])
    assert store.count("toy__fake", Where(label=1, split="train")) == len(
        [i for i in range(50) if i % 3 and i % 2 == 1])
    meta = store.get_meta("toy__fake")
    assert (meta.model, meta.dimension, meta.labels) == ("fake", 4, ["a", "b"])
    assert store.list_collections() == ["toy__fake"]
    summary = store.summary("toy__fake").as_json()
    assert summary["points"] == 50 and summary["dimension"] == 4


def test_reupsert_overwrites_never_duplicates(store):
    store.ensure_collection("toy__fake", _meta())
    ids, vecs, payloads = _points(20)
    store.upsert("toy__fake", ids, vecs, payloads)
    store.upsert("toy__fake", ids[:10], vecs[:10] * -1, payloads[:10])
    assert store.count("toy__fake") == 20
    rec = store.retrieve("toy__fake", [ids[0]], with_vectors=True)[0]
    np.testing.assert_allclose(rec.vector, -vecs[0], atol=1e-6)
    assert store.existing_ids("toy__fake", ids[:5] + [row_point_id("toy", "x", 999)]) == set(ids[:5])


def test_exact_query_matches_numpy_cosine(store):
    store.ensure_collection("toy__fake", _meta(dim=8))
    ids, vecs, payloads = _points(200, dim=8, seed=1)
    store.upsert("toy__fake", ids, vecs, payloads)
    store.optimize("toy__fake")
    q = vecs[:5] + 0.1
    hits = store.query_batch("toy__fake", q, k=7, exact=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    sims = qn @ vecs.T
    for row, h in zip(sims, hits):
        order = np.argsort(-row)[:7]
        assert [x.id for x in h] == [ids[i] for i in order]
        np.testing.assert_allclose([x.score for x in h], row[order], atol=1e-5)


def test_filters_and_per_query_exclusion(store):
    store.ensure_collection("toy__fake", _meta())
    ids, vecs, payloads = _points(60)
    store.upsert("toy__fake", ids, vecs, payloads)
    hits = store.query("toy__fake", vecs[3], k=5, where=Where(split="train", label=1), exact=True)
    assert hits and all(h.payload["split"] == "train" and h.payload["label"] == 1 for h in hits)
    res = store.query_batch("toy__fake", vecs[:2], k=3, exact=True, exclude_per_query=[ids[0], None])
    assert ids[0] not in [h.id for h in res[0]]
    assert res[1][0].id == ids[1] and res[1][0].score == pytest.approx(1.0, abs=1e-5)


def test_scroll_all_and_payload_writeback(store):
    store.ensure_collection("toy__fake", _meta())
    ids, vecs, payloads = _points(2500)
    store.upsert("toy__fake", ids, vecs, payloads)
    got_ids, mat, pls = store.fetch_all("toy__fake", payload_fields=("label", "index"), page_size=700)
    assert sorted(got_ids) == sorted(ids)
    order = {pid: i for i, pid in enumerate(ids)}
    for pid, row, pl in zip(got_ids, mat, pls):
        np.testing.assert_allclose(row, vecs[order[pid]], atol=1e-6)
        assert pl["index"] == order[pid]
    store.set_payloads("toy__fake", {ids[0]: {"umap": [1.5, -2.0], "cluster_kmeans": 3}})
    rec = store.retrieve("toy__fake", [ids[0]])[0]
    assert rec.payload["umap"] == [1.5, -2.0] and rec.payload["cluster_kmeans"] == 3
    assert rec.payload["label"] == 0  # merged, not replaced


def test_mixed_spaces_are_refused_with_both_named(store):
    store.ensure_collection("toy__fake", _meta(dim=4, model="facebook/dinov2-small"))
    with pytest.raises(MixedSpaceError) as err:
        store.ensure_collection("toy__fake", _meta(dim=8, model="facebook/dinov2-base"))
    msg = str(err.value)
    assert "dinov2-small" in msg and "dinov2-base" in msg and "--recreate" in msg
    store.ensure_collection("toy__fake", _meta(dim=8, model="facebook/dinov2-base"), recreate=True)
    assert store.get_meta("toy__fake").dimension == 8


def test_unknown_collection_is_a_clear_error(store):
    with pytest.raises(CollectionNotFoundError, match="no collection named 'nope'"):
        store.count("nope")
    with pytest.raises(CollectionNotFoundError):
        store.get_meta("nope")


def test_wrong_dimension_vectors_are_refused(store):
    store.ensure_collection("toy__fake", _meta(dim=4))
    with pytest.raises((UsageError, Exception)):
        store.upsert("toy__fake", ["00000000-0000-0000-0000-000000000001"], np.ones((1, 5)), [{}])
    assert store.count("toy__fake") == 0


def test_embedded_collection_open_elsewhere_is_a_clear_error(tmp_path):
    from embedscope.errors import CollectionBusyError
    from embedscope.store.edge import EdgeStore

    with EdgeStore(tmp_path) as first:
        first.ensure_collection("toy__fake", _meta())
        first.count("toy__fake")  # holds the shard open, like a running ingest or ui
        with EdgeStore(tmp_path) as second, pytest.raises(CollectionBusyError, match="another process"):
            second.count("toy__fake")
    with EdgeStore(tmp_path) as again:  # released on close
        assert again.count("toy__fake") == 0
