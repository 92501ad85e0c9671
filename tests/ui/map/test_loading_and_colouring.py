"""A map's data without a browser: every point read from the store, and what it is coloured by
(label, split, clusterings, per-point scores, tags), on the real store backends."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bench_map import CLASSES
from embedscope.errors import UsageError
from tests.ui.map.conftest import NAME


def test_load_map_reads_every_point_with_its_fields(synthetic) -> None:
    from embedscope.ui.map import points

    store, xy = synthetic
    data = points.load_map(store, NAME, "umap")
    assert data.n == data.total == 300
    assert data.colourings() == ["label", "split", "cluster_kmeans"]
    ids = data.ids_of(range(data.n))
    assert len(set(ids)) == 300
    stored = {r.id: r.payload for r in store.retrieve(NAME, ids, ["umap", "label", "split"])}
    for row in (0, 17, 299):
        p = stored[ids[row]]
        assert np.allclose(data.xy[row], p["umap"], atol=1e-5)
        assert data.labels[row] == p["label"]
        assert data.split_names[data.splits[row]] == p["split"]
    # id → row lookups, unknown and malformed ids left out
    assert data.rows_of([ids[5], ids[250], "00000000-0000-0000-0000-000000000000", "x"]).tolist() == [5, 250]
    label = data.colouring("label")
    assert label.names == CLASSES and label.counts() == [30] * 10
    assert sorted(data.colouring("split").names) == ["test", "train"]
    assert data.group_rows("label", "Bag").tolist() == np.flatnonzero(data.labels == 8).tolist()
    with pytest.raises(UsageError, match="cannot colour the map by 'nope'"):
        data.colouring("nope")
    with pytest.raises(UsageError, match="no 'pca' map"):
        points.load_map(store, NAME, "pca")
    assert points.load_map(store, NAME, "umap", limit=50).n == 50


def test_knn_scores_and_tags_become_colourings(synthetic) -> None:
    from embedscope.ui.map import points

    store, _ = synthetic
    data = points.load_map(store, NAME, "umap")
    ids = data.ids_of(range(data.n))
    store.set_payloads(NAME, {pid: {"knn_correct": i % 2, "knn_confidence": i / 300,
                                    "label_error": float(i), "tags": ["a", "b"] if i < 3 else []}
                              for i, pid in enumerate(ids[:100])})
    data = points.load_map(store, NAME, "umap")
    assert data.colourings()[-5:] == ["knn_correct", "knn_confidence", "label_error", "tag: a",
                                      "tag: b"]
    correct = data.colouring("knn_correct")
    assert correct.names == ["wrong", "correct", "not scored"] and correct.counts() == [50, 50, 200]
    error = data.colouring("label_error")
    assert error.kind == "continuous" and error.names == ["0", "99"]
    assert error.codes[data.rows_of([ids[99]])[0]] == pytest.approx(1.0)
    assert data.colouring("tag: a").counts() == [297, 3]
    assert sorted(data.rows_of(ids[:3]).tolist()) == np.flatnonzero(data.tags["a"]).tolist()
