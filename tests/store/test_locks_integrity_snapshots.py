"""Locks, integrity records, disk space, `check` and snapshots at the library level (real engines)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from embedscope.contract import CollectionMeta, row_point_id
from embedscope.errors import (
    CollectionBusyError,
    DamagedCollectionError,
    DiskFullError,
    QdrantUnavailableError,
    UsageError,
)
from embedscope.settings import QdrantSettings
from embedscope.store import Store, Where, open_store, space
from embedscope.store.check import check_collection
from embedscope.store.edge import EdgeStore
from embedscope.store.remote import RemoteStore
from embedscope.store.snapshots import restore, snapshot

DIM, NAME = 8, "trust__fake"
META = CollectionMeta(model="fake", dimension=DIM, dataset="trust", labels=["a", "b"])


def _points(n: int, start: int = 0) -> tuple[list[str], np.ndarray, list[dict]]:
    rng = np.random.default_rng(start)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [row_point_id("trust", "train", i) for i in range(start, start + n)]
    return ids, vecs, [{"dataset": "trust", "split": "train", "index": i, "label": i % 2}
                       for i in range(start, start + n)]


def _load(store: Store, n: int = 50) -> None:
    store.ensure_collection(NAME, META)
    store.upsert(NAME, *_points(n))


def test_a_collection_open_in_one_store_cannot_be_deleted_or_recreated_by_another(tmp_path: Path):
    a, b = EdgeStore(tmp_path), EdgeStore(tmp_path)
    _load(a)
    with pytest.raises(CollectionBusyError, match="in another process"):
        b.delete_collection(NAME)
    with pytest.raises(CollectionBusyError):
        b.ensure_collection(NAME, META, recreate=True)
    with pytest.raises(CollectionBusyError):
        b.update_meta(NAME, labels=["x", "y"])
    assert a.count(NAME) == 50  # untouched
    a.close()
    b.ensure_collection(NAME, META, recreate=True)
    assert b.count(NAME) == 0
    b.close()


def test_creation_is_atomic_and_a_second_creator_is_busy(tmp_path: Path):
    a, b = EdgeStore(tmp_path), EdgeStore(tmp_path)
    a._lock(NAME, "being created")  # a creator in the middle of its work
    with pytest.raises(CollectionBusyError, match="being created in another process"):
        b.ensure_collection(NAME, META)
    assert b.list_collections() == [] and not any(p.name.startswith(".creating")
                                                  for p in tmp_path.iterdir())
    a.close()
    b.ensure_collection(NAME, META)
    b.close()


def test_integrity_record_is_written_on_close_and_checked_on_open(tmp_path: Path):
    store = EdgeStore(tmp_path)
    _load(store, 40)
    store.close()
    record_path = tmp_path / NAME / "integrity.json"
    record = json.loads(record_path.read_text())
    assert record["points"] == 40 and record["state"] == "closed" and record["files"]
    record["points"] = 41  # as if a point had vanished from the files
    record_path.write_text(json.dumps(record))
    with EdgeStore(tmp_path) as again, pytest.raises(DamagedCollectionError) as info:
        again.count(NAME, Where(split="train"))  # a filtered count opens the shard
    msg = str(info.value)
    assert f"collection '{NAME}' is damaged: it holds 40 points but its integrity record says 41" in msg
    assert "embedscope restore" in msg and "--recreate" in msg


def _loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The shard loads of the engine from here on (the engine still does each one)."""
    import qdrant_edge

    loads: list[str] = []
    real = qdrant_edge.EdgeShard.load

    def load(path: str, *args: object) -> object:
        loads.append(path)
        return real(path, *args)

    monkeypatch.setattr(qdrant_edge.EdgeShard, "load", staticmethod(load))
    return loads


def test_a_closed_collection_answers_its_count_and_facets_without_loading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = EdgeStore(tmp_path)
    _load(store, 30)
    store.set_payloads(NAME, {i: {"tags": ["keep"]} for i in _points(30)[0][:4]})
    expected = (store.count(NAME), store.facet(NAME, "split").counts,
                store.facet(NAME, "tags").counts)
    assert expected == (30, [("train", 30)], [("keep", 4)])
    store.close()
    loads = _loads(monkeypatch)
    with EdgeStore(tmp_path) as again:
        got = (again.count(NAME), again.facet(NAME, "split").counts,
               again.facet(NAME, "tags").counts)
        assert (got, again.points(NAME), loads) == (expected, 30, [])
        with pytest.raises(CollectionBusyError):  # it holds the lock as an opening does
            EdgeStore(tmp_path).count(NAME)
        assert again.count(NAME, Where(split="train")) == 30 and len(loads) == 1  # filtered
    # a writer that did not close cleanly: the shard is asked, not the record
    with EdgeStore(tmp_path) as writer:
        writer.upsert(NAME, *_points(5, start=30))
        record = json.loads((tmp_path / NAME / "integrity.json").read_text())
        assert record["state"] == "writing" and record["facets"] == {}
        with pytest.raises(CollectionBusyError):
            EdgeStore(tmp_path).count(NAME)
    with EdgeStore(tmp_path) as again:
        assert (again.count(NAME), again.facet(NAME, "split").counts) == (35, [("train", 35)])
    # files changed since the close (a copy, a restore, a damaged file): the shard is asked
    seg = next(p for p in (tmp_path / NAME / "shard").rglob("*") if p.is_file()
               and p.name != "edge_config.json" and "wal" not in p.parts)
    before = len(loads)
    seg.touch()
    with EdgeStore(tmp_path) as again:
        again.count(NAME)
        assert len(loads) > before


def test_meta_changed_outside_embedscope_is_named(tmp_path: Path):
    store = EdgeStore(tmp_path)
    _load(store, 5)
    store.close()
    meta = tmp_path / NAME / "meta.json"
    meta.write_text(meta.read_text().replace('"fake"', '"other"'))
    with EdgeStore(tmp_path) as again, pytest.raises(DamagedCollectionError, match="meta.json was changed"):
        again.get_meta(NAME)


def test_metadata_read_once_follows_every_change_to_its_files(tmp_path: Path):
    reader = EdgeStore(tmp_path)
    _load(reader, 5)
    reader.close()
    first = reader.get_meta(NAME)
    first.labels.append("mutated by a caller")  # a caller's copy: the store's stays as read
    assert reader.get_meta(NAME).labels == ["a", "b"]
    with EdgeStore(tmp_path) as writer:  # another process renames the classes
        writer.update_meta(NAME, labels=["x", "y"])
    assert reader.get_meta(NAME).labels == ["x", "y"]
    meta = tmp_path / NAME / "meta.json"  # a hand edit in place, after a read
    meta.write_text(meta.read_text().replace('"fake"', '"othr"'))
    with pytest.raises(DamagedCollectionError, match="meta.json was changed"):
        reader.get_meta(NAME)


def test_disk_filling_mid_run_stops_with_what_is_stored_flushed(tmp_path: Path, monkeypatch):
    store = EdgeStore(tmp_path, disk_reserve_mb=1)
    store.ensure_collection(NAME, META)
    assert store.count(NAME, Where(split="train")) == 0  # opened: one free-space check per chunk
    calls = []
    real_free = space.free_bytes

    def shrinking(path: Path) -> int:  # the disk fills after the first chunk
        calls.append(path)
        return real_free(path) if len(calls) <= 1 else 512 * 1024

    monkeypatch.setattr(space, "free_bytes", shrinking)
    ids, vecs, payloads = _points(2048)
    with pytest.raises(DiskFullError) as info:
        store.upsert(NAME, ids, vecs, payloads)
    msg = str(info.value)
    assert f"collection '{NAME}'" in msg and "512.0 KB free" in msg and "EMBEDSCOPE_DATA_DIR" in msg
    monkeypatch.setattr(space, "free_bytes", real_free)
    store.close()
    with EdgeStore(tmp_path) as again:  # the first chunk survived, the record agrees
        assert again.count(NAME) == 1024
        assert again.existing_ids(NAME, ids) == set(ids[:1024])
        again.upsert(NAME, ids[1024:], vecs[1024:], payloads[1024:])  # resume
        assert again.count(NAME) == 2048


def test_check_space_names_the_space_needed(tmp_path: Path):
    store = EdgeStore(tmp_path, disk_reserve_mb=10**9)  # a reserve no disk holds
    with pytest.raises(DiskFullError, match="to create it"):
        store.ensure_collection(NAME, META)
    assert store.list_collections() == []
    store.reserve = 0
    store.ensure_collection(NAME, META)
    store.check_space(NAME, 10)
    store.reserve = 10**15
    with pytest.raises(DiskFullError, match="store 1000 more points"):
        store.check_space(NAME, 1000)
    store.close()


def test_check_agrees_on_every_backend_and_finds_bad_payloads(store: Store):
    _load(store, 30)
    report = check_collection(store, NAME)
    assert report.ok and report.points == report.scrolled == 30, report.lines()
    ids, vecs, payloads = _points(3, start=100)
    payloads[0].pop("dataset")
    payloads[1]["thumbnail"] = "bm90IGFuIGltYWdl"  # base64 of "not an image"
    payloads[2]["label"] = "cat"
    store.upsert(NAME, ids, vecs, payloads)
    report = check_collection(store, NAME)
    assert not report.ok
    assert report.counts == {"payload": 2, "thumbnail": 1}, report.lines()


def test_embedded_snapshot_round_trip_and_into_the_in_memory_client(tmp_path: Path):
    src = EdgeStore(tmp_path / "a")
    _load(src, 200)
    src.set_payloads(NAME, {_points(1)[0][0]: {"tags": ["kept"]}})
    path = tmp_path / "snap.tar.gz"
    report = snapshot(src, NAME, path)
    assert report.points == 200 and path.stat().st_size > 0
    ids, vecs, _ = src.fetch_all(NAME)
    src.close()
    dst = EdgeStore(tmp_path / "b")
    report = restore(dst, path)
    assert report.verified_sample == 32
    got_ids, got_vecs, _ = dst.fetch_all(NAME)
    assert got_ids == ids and np.allclose(got_vecs, vecs, atol=1e-6)
    from embedscope.store import Where

    assert dst.count(NAME, Where(tag="kept")) == 1
    with pytest.raises(UsageError, match="already exists"):
        restore(dst, path)
    restore(dst, path, recreate=True)
    dst.close()
    mem = RemoteStore(":memory:")
    report = restore(mem, path)
    assert "unpacked locally" in report.note and mem.count(NAME) == 200
    with pytest.raises(UsageError, match="in-memory mode has no snapshots"):
        snapshot(mem, NAME, tmp_path / "mem.tar.gz")
    mem.close()


def test_restore_refuses_a_damaged_snapshot(tmp_path: Path):
    src = EdgeStore(tmp_path / "a")
    _load(src, 20)
    path = tmp_path / "snap.tar.gz"
    snapshot(src, NAME, path)
    src.close()
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with EdgeStore(tmp_path / "b") as dst, pytest.raises(UsageError):
        restore(dst, bad)


def test_interactive_commands_fail_fast_batch_ones_keep_retrying():
    settings = QdrantSettings(qdrant_url="http://127.0.0.1:1", qdrant_interactive_seconds=1,
                              qdrant_retry_seconds=60)
    store = open_store(settings)
    start = time.monotonic()
    with pytest.raises(QdrantUnavailableError) as info:
        store.list_collections()
    assert time.monotonic() - start < 5
    assert "EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS" in str(info.value)
    assert open_store(settings, batch=True).retry_seconds == 60


def test_a_rested_collection_lets_go_of_its_shard_keeps_its_lock_and_answers_again(
    tmp_path: Path,
):
    """`Store.rest` (the analysis between its graph and its write-back): the shard is closed
    (its memory goes) with the integrity record written, no other store may take the
    collection meanwhile, and the next call opens it again with every point there."""
    a, b = EdgeStore(tmp_path), EdgeStore(tmp_path)
    _load(a, 60)
    ids, vecs, _ = _points(60)
    before = a.query_batch(NAME, vecs[:5], 3, with_payload=False)
    a.rest(NAME)
    assert NAME not in a._shards
    record = json.loads((tmp_path / NAME / "integrity.json").read_text())
    assert record["points"] == 60 and record["state"] == "closed"
    with pytest.raises(CollectionBusyError):
        b.delete_collection(NAME)
    after = a.query_batch(NAME, vecs[:5], 3, with_payload=False)
    assert [[h.id for h in hs] for hs in after] == [[h.id for h in hs] for hs in before]
    a.set_payloads(NAME, {ids[0]: {"note": "x"}})  # writes reopen it as well
    assert a.retrieve(NAME, ids[:1])[0].payload["note"] == "x" and a.count(NAME) == 60
    a.rest(NAME)
    a.rest(NAME)  # resting a closed collection is nothing
    a.close()
    b.close()
    with EdgeStore(tmp_path) as c:
        assert c.count(NAME) == 60 and c.retrieve(NAME, ids[:1])[0].payload["note"] == "x"


def test_every_backend_answers_rest_and_keeps_its_points(store: Store):
    """Every backend answers rest (a server holds its own memory: nothing is done there)."""
    _load(store, 20)
    store.rest(NAME)
    assert store.count(NAME) == 20
