"""Upsert's checks run once per batch: ids in one numpy pass, the shard reopened only when cheap."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from embedscope.contract import CollectionMeta
from embedscope.errors import UsageError
from embedscope.store.edge import EdgeStore
from embedscope.store.edge_shards import _MOVED_MIN, _REOPEN_EVERY, _REOPEN_RATIO, _Open
from embedscope.store.points import check_ids


def test_canonical_and_other_uuid_forms_pass():
    u = uuid.uuid4()
    check_ids([str(u), str(u).upper(), u.hex, "{" + str(u) + "}", f"urn:uuid:{u}"] * 3)


@pytest.mark.parametrize("bad", ["x" * 36, str(uuid.uuid4()) + "x", str(uuid.uuid4())[:-1], "é" * 36, "", "1"])
def test_a_non_uuid_anywhere_in_the_batch_is_named(bad: str):
    ids = [str(uuid.uuid4()) for _ in range(300)]
    ids[137] = bad
    with pytest.raises(UsageError, match="is not a UUID") as err:
        check_ids(ids)
    assert repr(bad) in str(err.value)


def test_reopen_waits_for_enough_writing_to_stay_under_two_percent():
    state = _Open(points=0, since_open=_REOPEN_EVERY - 1, write_s=100.0)
    assert not state.reopen_due()  # too few points since the last opening
    state = _Open(points=0, since_open=_REOPEN_EVERY, write_s=0.5)
    assert state.reopen_due()  # a fresh shard: its first reopen comes at _REOPEN_EVERY points
    # a reopen that cost 0.1 s at 100k points costs ~0.2 s at 200k: due after ~49 × 0.2 s of writing
    state = _Open(points=100_000, since_open=100_000, open_s=0.1, open_points=100_000)
    state.write_s = _REOPEN_RATIO * 0.2 * 0.99
    assert not state.reopen_due()
    state.write_s = _REOPEN_RATIO * 0.2 * 1.01
    assert state.reopen_due()


def test_a_payload_write_back_reopens_the_shard_after_moving_a_tenth_of_its_points():
    state = _Open(points=50_000, moved=_MOVED_MIN - 1)
    assert not state.moved_reopen_due()  # a small collection: at _MOVED_MIN points at least
    state.moved = _MOVED_MIN
    assert state.moved_reopen_due()
    state = _Open(points=3_000_000, moved=299_999)
    assert not state.moved_reopen_due()  # a large one: at a tenth of its points
    state.moved = 300_000
    assert state.moved_reopen_due()


def test_written_payloads_survive_the_reopens_that_give_their_memory_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The engine holds every point whose payload changed in memory until the shard is
    reopened; the write-back reopens it as it goes, and every payload, count and search
    stays as written."""
    import embedscope.store.edge_shards as shards

    monkeypatch.setattr(shards, "_MOVED_MIN", 1_000)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4_000, 16)).astype(np.float32)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(len(X))]
    with EdgeStore(tmp_path / "q") as store:
        store.ensure_collection("moved", CollectionMeta(model="m", dimension=16))
        store.upsert("moved", ids, X, [{"split": "train", "label": i % 3} for i in range(len(X))])
        store.optimize("moved")
        reopened = []
        reopen = store._reopen
        monkeypatch.setattr(store, "_reopen", lambda name: (reopened.append(name), reopen(name)))
        for start in range(0, len(ids), 500):
            store.set_payloads("moved", {pid: {"score": start + j}
                                         for j, pid in enumerate(ids[start:start + 500])})
        assert reopened == ["moved"] * 4  # after each 1,000 points moved
        got = {r.id: r.payload for r in store.retrieve("moved", ids)}
        assert [got[pid]["score"] for pid in ids] == list(range(len(ids)))
        assert all(got[pid]["split"] == "train" for pid in ids)  # the other fields kept
        assert store.count("moved") == len(ids)
        hit = store.query("moved", X[123], 1, exact=True)[0]
        assert hit.id == ids[123]
