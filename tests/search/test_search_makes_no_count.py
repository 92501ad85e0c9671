"""A search costs the same at 10M points as at 10k: no count, scroll or other pass over N.

A real store (every backend here) is wrapped to count the calls that pass over the collection;
search, classify and the API's routes must make none of them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from embedscope.contract import CollectionMeta, row_point_id
from embedscope.errors import EmptyCollectionError
from embedscope.search.knn import classify, neighbours, shortfall
from embedscope.store import Store, Where

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning")

PASSES = ("count", "scroll", "scroll_page", "fetch_all")
NAMES = ["zero", "one"]


class Counting:
    """A real store whose passes over N are counted (everything else goes straight through)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.store, attr)
        if attr in PASSES:
            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(attr)
                return value(*args, **kwargs)
            return counted
        return value


@pytest.fixture
def counted(store: Store) -> tuple[Counting, list[str]]:
    store.ensure_collection("toy__fake", CollectionMeta(model="fake", dimension=3, pooling="cls",
                                                        dataset="toy", labels=NAMES))
    ids = [row_point_id("toy", "all", i) for i in range(40)]
    angles = np.linspace(0, 350, 40)
    vectors = np.stack([[math.cos(math.radians(a)), math.sin(math.radians(a)), 0.1]
                        for a in angles]).astype(np.float32)
    payloads = [{"split": "train" if i < 30 else "test", "label": i % 2 if i < 30 else 1,
                 "label_name": NAMES[i % 2], "index": i} for i in range(40)]
    store.upsert("toy__fake", ids, vectors, payloads)
    store.optimize("toy__fake")
    return Counting(store), ids


def test_search_and_classify_make_no_count_or_scroll(counted):
    store, ids = counted
    query = np.array([1.0, 0.0, 0.0], np.float32)
    assert len(neighbours(store, "toy__fake", query, k=5)) == 5
    assert len(neighbours(store, "toy__fake", query, k=5, where=Where(split="test"))) == 5
    assert len(neighbours(store, "toy__fake", point_id=ids[3], k=5, exact=True)) == 5
    vote = classify(store, "toy__fake", query, k=7, where=Where(split="train"))
    assert sum(vote.counts.values()) == 7
    classify(store, "toy__fake", point_id=ids[0], k=3)
    assert store.calls == []
    # Fewer matches than k: the shortfall is read from the result, still without a count.
    hits = neighbours(store, "toy__fake", query, k=50, where=Where(split="test"))
    assert len(hits) == 10 and store.calls == []
    assert "only 10 of the k=50" in shortfall(hits, 50, "toy__fake", Where(split="test"))
    # Only an empty answer looks further, to say why (here: the split does not exist).
    with pytest.raises(Exception, match="no split 'val'"):
        neighbours(store, "toy__fake", query, k=5, where=Where(split="val"))
    assert store.calls  # the error path may count; the answers above did not


def test_the_points_counter_matches_the_exact_count(counted):
    store, _ = counted
    assert store.store.points("toy__fake") == store.store.count("toy__fake") == 40
    summary = store.store.summary("toy__fake")
    assert summary.points == 40


def test_an_empty_filter_is_an_error_not_an_empty_list(counted):
    store, _ = counted
    with pytest.raises(EmptyCollectionError, match="no points matching split='test', label=0"):
        neighbours(store, "toy__fake", np.ones(3, np.float32), k=3,
                   where=Where(split="test", label=0, exclude_ids=()))  # test split: 30..39
