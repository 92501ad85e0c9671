"""Upsert's checks run once per batch: ids in one numpy pass, the shard reopened only when cheap."""

from __future__ import annotations

import uuid

import pytest

from embedscope.errors import UsageError
from embedscope.store.edge_shards import _REOPEN_EVERY, _REOPEN_RATIO, _Open
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
