"""push / pull: a collection copied between embedded Qdrant and a server keeps every point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedscope.cli import main
from embedscope.contract import CollectionMeta, row_point_id
from embedscope.errors import CollectionNotFoundError, MixedSpaceError, TransferMismatchError
from embedscope.store import Store, Where
from embedscope.store.edge import EdgeStore
from embedscope.store.remote import RemoteStore
from embedscope.store.transfer import copy_collection, verify_copy

NAME = "toy__fake"


def _meta(dim: int = 8, model: str = "fake") -> CollectionMeta:
    return CollectionMeta(
        model=model, dimension=dim, pooling="cls", image_size=32, dataset="toy",
        labels=["cat", "dog", "eel"], analysis={"umap": {"run": "r1", "seed": 0}},
    )


def _fill(store: Store, n: int = 300, dim: int = 8, name: str = NAME) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [row_point_id("toy", "train" if i % 4 else "test", i) for i in range(n)]
    payloads = [
        {"dataset": "toy", "split": "train" if i % 4 else "test", "index": i, "label": i % 3,
         "label_name": ["cat", "dog", "eel"][i % 3], "thumbnail": "iVBORw0KGgo=" * (i % 5),
         "umap": [float(i), -float(i) / 2]}
        for i in range(n)
    ]
    store.ensure_collection(name, _meta(dim))
    store.upsert(name, ids, vecs, payloads)
    return ids, vecs


def _assert_same(src: Store, dst: Store, name: str = NAME, dst_name: str = NAME) -> None:
    assert dst.get_meta(dst_name).model_dump() == src.get_meta(name).model_dump()
    a = {r.id: r for r in src.scroll(name, with_vectors=True)}
    b = {r.id: r for r in dst.scroll(dst_name, with_vectors=True)}
    assert a.keys() == b.keys()
    for pid, rec in a.items():
        assert b[pid].payload == rec.payload
        np.testing.assert_allclose(b[pid].vector, rec.vector, atol=1e-6)


@pytest.fixture
def edge(tmp_path: Path):
    s = EdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


@pytest.fixture
def memory():
    s = RemoteStore(":memory:")
    yield s
    s.close()


def test_push_embedded_to_server_keeps_everything(edge, memory):
    _fill(edge)
    report = copy_collection(edge, memory, NAME, batch=64, verify_sample=50, progress=False)
    assert (report.copied, report.source_count, report.target_count) == (300, 300, 300)
    assert report.verified_sample == 50 and report.created
    _assert_same(edge, memory)
    assert memory.count(NAME, Where(split="test")) == 75


def test_pull_server_to_embedded_then_search_agrees(edge, memory):
    ids, vecs = _fill(memory)
    report = copy_collection(memory, edge, NAME, dst_name="copy", batch=100, progress=False)
    assert report.target_collection == "copy" and report.target_count == 300
    _assert_same(memory, edge, NAME, "copy")
    a = memory.query(NAME, vecs[7], k=5, exact=True)
    b = edge.query("copy", vecs[7], k=5, exact=True)
    assert [h.id for h in a] == [h.id for h in b] and b[0].id == ids[7]


def test_recopy_overwrites_never_duplicates(edge, memory):
    _fill(edge)
    copy_collection(edge, memory, NAME, progress=False)
    report = copy_collection(edge, memory, NAME, progress=False)
    assert not report.created and report.target_count == 300


def test_target_in_another_space_is_refused_unless_recreate(edge, memory):
    _fill(edge)
    memory.ensure_collection(NAME, _meta(dim=8, model="other"))
    memory.upsert(NAME, [row_point_id("x", "train", 0)], np.eye(1, 8, dtype=np.float32), [{}])
    with pytest.raises(MixedSpaceError, match="--recreate"):
        copy_collection(edge, memory, NAME, progress=False)
    assert memory.get_meta(NAME).model == "other"  # untouched
    report = copy_collection(edge, memory, NAME, recreate=True, progress=False)
    assert report.created and report.target_count == 300
    _assert_same(edge, memory)


def test_target_with_extra_points_fails_verification(edge, memory):
    _fill(edge)
    memory.ensure_collection(NAME, _meta())
    memory.upsert(NAME, [row_point_id("x", "train", 0)], np.eye(1, 8, dtype=np.float32), [{}])
    with pytest.raises(TransferMismatchError, match="301 points"):
        copy_collection(edge, memory, NAME, progress=False)


def test_verification_catches_a_changed_vector_and_payload(edge, memory):
    ids, vecs = _fill(edge, n=40)
    copy_collection(edge, memory, NAME, progress=False)
    memory.upsert(NAME, [ids[3]], -vecs[3:4], [edge.retrieve(NAME, [ids[3]])[0].payload])
    with pytest.raises(TransferMismatchError, match="vector"):
        verify_copy(edge, memory, NAME, NAME, ids)
    memory.upsert(NAME, [ids[3]], vecs[3:4], [{"label": 99}])
    with pytest.raises(TransferMismatchError, match="payload"):
        verify_copy(edge, memory, NAME, NAME, ids)


def test_missing_source_is_a_clear_error(edge, memory):
    with pytest.raises(CollectionNotFoundError, match="embedscope ingest"):
        copy_collection(edge, memory, NAME, progress=False)


def test_cli_push_reports_and_verifies(data_env: Path, capsys):
    store = EdgeStore(data_env / "qdrant")
    _fill(store)
    store.close()
    code = main(["push", "--collection", NAME, "--to", ":memory:", "--batch", "70",
                 "--verify-sample", "30", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["copied"] == report["target_count"] == 300 and report["verified_sample"] == 30


def test_cli_pull_unknown_collection_exit_code(data_env: Path, capsys):
    code = main(["pull", "--collection", "nope", "--from", ":memory:"])
    assert code == 3
    assert "no collection named 'nope'" in capsys.readouterr().err
