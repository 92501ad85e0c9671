"""Uniqueness and representativeness written to the payloads equal a numpy computation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.job import run
from embedscope.analysis.report_model import Report
from embedscope.store.edge import EdgeStore

N = 300


def test_uniqueness_and_representativeness_equal_numpy(
    tmp_path: Path, sample800: dict[str, Any], make_collection: Any
) -> None:
    with EdgeStore(tmp_path / "qdrant") as store:
        ids = make_collection(store, "u__pixels", sample800, n=N)
        s = AnalysisSettings(collection="u__pixels", projections="pca", clusterers="kmeans",
                             uniqueness_k=7, progress=False, out=tmp_path / "report")
        _, out = run(store, s)
        by_id = {r.id: r.payload for r in store.retrieve("u__pixels", ids)}
    X = sample800["X"][:N].astype(np.float64)
    y = sample800["labels"][:N]
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    top = -np.sort(-S, axis=1)[:, :7]
    expected_u = 1.0 - top.mean(axis=1)
    got_u = np.array([by_id[i]["uniqueness"] for i in ids])
    np.testing.assert_allclose(got_u, expected_u, atol=1e-5)
    expected_r = np.zeros(N)
    for c in np.unique(y):
        centre = X[y == c].sum(axis=0)
        expected_r[y == c] = X[y == c] @ (centre / np.linalg.norm(centre))
    got_r = np.array([by_id[i]["representativeness"] for i in ids])
    np.testing.assert_allclose(got_r, expected_r, atol=1e-6)
    report = Report.read(out / "report.json")
    assert {"uniqueness", "representativeness"} <= set(report.point_scores)
