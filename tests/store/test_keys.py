"""Point ids as 16-byte keys (embedscope.store.keys): the form every pass over all points reads."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from embedscope.analysis.index_graph import place_hits
from embedscope.store.keys import HitKeys, IdRows, PointIds, id_bytes
from embedscope.store.points import Hit


def _ids(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(n)]


def test_keys_are_the_uuids_bytes_in_the_order_of_their_strings() -> None:
    ids = _ids(500) + ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffff00"]
    keys = id_bytes(ids)
    assert keys.dtype == np.dtype("S16")
    assert [bytes(k).ljust(16, b"\0") for k in keys] == [uuid.UUID(i).bytes for i in ids]
    assert np.argsort(keys, kind="stable").tolist() == np.argsort(np.asarray(ids), kind="stable").tolist()
    odd = ["{" + ids[0] + "}", ids[1].upper(), "urn:uuid:" + ids[2], ids[3].replace("-", "")]
    assert id_bytes(odd).tolist() == keys[:4].tolist()
    with pytest.raises(ValueError):
        id_bytes([ids[0], "not-a-uuid"])
    assert id_bytes([]).shape == (0,)


@pytest.mark.parametrize("shuffled", [False, True])
def test_rows_of_ids_found_by_binary_search(shuffled: bool) -> None:
    ids = sorted(_ids(1000, seed=1))
    if shuffled:  # a backend whose scroll is not in id order
        ids = [ids[i] for i in np.random.default_rng(2).permutation(len(ids))]
    lookup = IdRows(ids)
    others = _ids(5, seed=3)
    asked = id_bytes([ids[7], others[0], ids[999], ids[0], others[1], ids[500]])
    assert lookup.rows(asked).tolist() == [7, -1, 999, 0, -1, 500]
    assert IdRows(id_bytes(ids)).rows(asked).tolist() == [7, -1, 999, 0, -1, 500]
    assert IdRows([]).rows(asked).tolist() == [-1] * 6
    assert lookup.rows(id_bytes([])).shape == (0,)


def test_hits_as_arrays_keep_each_querys_order() -> None:
    ids = _ids(4, seed=4)
    hits = [[Hit(ids[2], 0.9), Hit(ids[0], 0.5)], [], [Hit(ids[3], 0.7)]]
    found = HitKeys.of(hits)
    assert found.counts.tolist() == [2, 0, 1]
    assert found.keys.tolist() == id_bytes([ids[2], ids[0], ids[3]]).tolist()
    assert found.scores.tolist() == pytest.approx([0.9, 0.5, 0.7])
    assert found.query.tolist() == [0, 0, 2]
    assert found.rank.tolist() == [0, 1, 0]
    engine = HitKeys.of([[type("P", (), {"id": uuid.UUID(ids[1]), "score": 0.25})()]])
    assert engine.keys.tolist() == id_bytes([ids[1]]).tolist()


def test_a_batch_of_hits_goes_into_the_graph_without_the_query_or_unread_points() -> None:
    ids = sorted(_ids(8, seed=5))
    unread = _ids(1, seed=6)[0]
    # rows 4 and 5 are queried (start = 4); each asked for k + 1 = 3 hits
    hits = [[Hit(ids[4], 1.0), Hit(ids[1], 0.9), Hit(ids[2], 0.8)],  # itself, then two
            [Hit(ids[6], 0.95), Hit(unread, 0.9), Hit(ids[5], 0.85), Hit(ids[0], 0.5)]]
    found = HitKeys.of(hits)
    index = np.full((8, 2), -1, np.int32)
    sim = np.full((8, 2), -np.inf, np.float32)
    place_hits(found, IdRows(ids).rows(found.keys), 4, index, sim)
    assert index[4].tolist() == [1, 2]
    assert index[5].tolist() == [6, 0]  # the unread point and the query itself left out
    assert sim[5].tolist() == pytest.approx([0.95, 0.5])
    assert (index[[0, 1, 2, 3, 6, 7]] == -1).all()


def test_point_ids_read_back_as_the_strings_they_were() -> None:
    ids = _ids(70_000, seed=7) + ["00000000-0000-0000-0000-000000000000"]
    held = PointIds.of(ids)
    assert len(held) == len(ids)
    assert list(held) == ids  # past one chunk of iteration
    assert held[0] == ids[0] and held[-1] == ids[-1] and held[np.int64(5)] == ids[5]
    assert held[10:20] == ids[10:20]
    assert held.take(np.array([3, 1]))[:] == [ids[3], ids[1]]
    with pytest.raises(IndexError):
        held[len(ids)]
    assert IdRows(held).rows(id_bytes([ids[9], ids[-1]])).tolist() == [9, len(ids) - 1]
    assert held.keys.nbytes == 16 * len(ids)
