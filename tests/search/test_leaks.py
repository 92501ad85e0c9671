"""Leaks between splits equal a float64 brute-force numpy search across the splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedscope.search.leaks import find_leaks, leaked_rows, nearest_reference
from tests.analysis.conftest import load_sample


def brute_force(Q: np.ndarray, R: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    S = np.asarray(Q, np.float64) @ np.asarray(R, np.float64).T
    best = S.max(axis=1)
    return np.flatnonzero(best >= threshold), best


def test_sample_leaks_equal_brute_force_numpy_search(sample_dir: Path) -> None:
    train = load_sample(sample_dir, 3000, "train")
    test = load_sample(sample_dir, 615, "test")
    X = np.vstack([train["X"], test["X"]])
    splits = ["train"] * 3000 + ["test"] * 615
    for threshold in (0.95, 0.98, 0.99):
        leaks = find_leaks(X, splits, threshold, block=100)
        expected, best = brute_force(test["X"], train["X"], threshold)
        np.testing.assert_array_equal(leaks.rows, 3000 + expected)
        np.testing.assert_allclose(leaks.similarities, best[expected], atol=1e-6)
        # each partner is a train point at the best similarity
        assert (leaks.partners < 3000).all()
        partner_sim = np.einsum("ij,ij->i", X[leaks.rows].astype(np.float64),
                                X[leaks.partners].astype(np.float64))
        np.testing.assert_allclose(partner_sim, best[expected], atol=1e-6)
    # The figure stated in the README: 43 of the 615 test images (7.0 %) at the default 0.98.
    leaks = find_leaks(X, splits, 0.98)
    assert (len(leaks.rows), len(leaks.query_rows)) == (43, 615)


def test_borderline_similarities_are_settled_in_float64() -> None:
    rng = np.random.default_rng(0)
    R = rng.normal(size=(50, 16))
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    Q = R[:5].copy()
    sim = (Q.astype(np.float64) @ R.T.astype(np.float64)).max(axis=1)
    # a threshold equal to a float64 similarity: only >= counts
    rows, _, _ = leaked_rows(Q, R, float(sim[2]))
    expected, _ = brute_force(Q, R, float(sim[2]))
    np.testing.assert_array_equal(rows, expected)


def test_nearest_reference_matches_argmax() -> None:
    rng = np.random.default_rng(1)
    Q, R = rng.normal(size=(37, 8)), rng.normal(size=(91, 8))
    index, sim = nearest_reference(Q, R, block=10)
    S = Q.astype(np.float32) @ R.astype(np.float32).T
    np.testing.assert_array_equal(index, S.argmax(axis=1))
    np.testing.assert_allclose(sim, S.max(axis=1), rtol=1e-6)


def test_query_splits_default_to_every_split_but_the_reference() -> None:
    X = np.eye(4, dtype=np.float32)[[0, 1, 0, 1, 2]]
    leaks = find_leaks(X, ["train", "train", "test", "validation", None], 0.99)
    assert leaks.query_splits == ["test", "validation"]
    np.testing.assert_array_equal(leaks.rows, [2, 3])
    np.testing.assert_array_equal(leaks.partners, [0, 1])
    only = find_leaks(X, ["train", "train", "test", "validation", None], 0.99, query_splits=["test"])
    np.testing.assert_array_equal(only.rows, [2])
