"""Leaks between splits through the analysis and `evaluate --exclude-leaks`: injected duplicates
(exact copies and copies with light noise) are every leak found, on every store backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.job import run
from embedscope.analysis.report_model import Report
from embedscope.contract import Payload, row_point_id
from embedscope.search.evaluate import evaluate
from tests.analysis.conftest import DATASET, load_sample

NAME = "leaky__pixels"
N_TRAIN, N_CLEAN, N_COPIES = 400, 120, 8


@pytest.fixture(scope="module")
def leaky(sample_dir: Path) -> dict[str, Any]:
    """400 train rows; a test split of clean rows (none within 0.9 of train) plus 8 exact and 8
    lightly noised copies of train rows; which test rows are copies of which train rows."""
    train = load_sample(sample_dir, N_TRAIN, "train")
    pool = load_sample(sample_dir, 615, "test")
    best = (pool["X"].astype(np.float64) @ train["X"].astype(np.float64).T).max(axis=1)
    clean = np.flatnonzero(best < 0.9)[:N_CLEAN]
    rng = np.random.default_rng(7)
    sources = rng.choice(N_TRAIN, size=2 * N_COPIES, replace=False)
    copies = train["X"][sources].copy()
    copies[N_COPIES:] += rng.normal(scale=0.002, size=copies[N_COPIES:].shape)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    test = {"X": np.vstack([pool["X"][clean], copies]).astype(np.float32),
            "labels": np.concatenate([pool["labels"][clean], train["labels"][sources]]),
            "names": train["names"], "split": "test",
            "thumbs": [pool["thumbs"][i] for i in clean] + [train["thumbs"][i] for i in sources]}
    injected = {row_point_id(DATASET, "test", N_CLEAN + j): row_point_id(DATASET, "train", int(s))
                for j, s in enumerate(sources)}
    return {"train": train, "test": test, "injected": injected}


def test_every_injected_pair_is_found_and_no_other(
    store: Any, leaky: dict[str, Any], make_collection: Any, tmp_path: Path
) -> None:
    make_collection(store, NAME, leaky["train"])
    make_collection(store, NAME, leaky["test"])
    s = AnalysisSettings(collection=NAME, projections="pca", clusterers="kmeans",
                         progress=False, out=tmp_path / "report")
    document, out = run(store, s)
    report = Report.read(out / "report.json")
    leaks = report.leaks
    assert leaks is not None
    assert (leaks.threshold, leaks.reference_split, leaks.query_splits) == (0.98, "train", ["test"])
    assert (leaks.leaked, leaks.query_points) == (2 * N_COPIES, N_CLEAN + 2 * N_COPIES)
    assert {p.id: p.partner_id for p in leaks.pairs} == leaky["injected"]
    assert all(p.similarity >= 0.98 and p.split == "test" and p.partner_split == "train"
               for p in leaks.pairs)
    assert sum(c["leaked"] for c in leaks.per_class) == 2 * N_COPIES
    assert leaks.per_split["test"]["leaked"] == 2 * N_COPIES
    # The `leak` payload on every test point: the partner on the leaked ones, null elsewhere;
    # the `leaked` score (a map colouring) agrees.
    test_ids = [row_point_id(DATASET, "test", i) for i in range(N_CLEAN + 2 * N_COPIES)]
    for rec in store.retrieve(NAME, test_ids):
        mark = rec.payload.get(Payload.LEAK)
        if rec.id in leaky["injected"]:
            assert mark["partner"] == leaky["injected"][rec.id] and mark["similarity"] >= 0.98
            assert rec.payload["leaked"] == 1
        else:
            assert mark is None and rec.payload["leaked"] == 0
    assert "leaks between splits" in (out / "report.html").read_text(encoding="utf-8").lower()
    assert any("leaked test points" in row.figure for row in report.count_rows())

    ev = evaluate(store, NAME, (1, 5), progress=False, exclude_leaks=0.98)
    assert sorted(ev.leaked_ids) == sorted(leaky["injected"])
    assert ev.n_query == N_CLEAN + 2 * N_COPIES
    # An exact copy's nearest train point is its source, so 1-NN is right on every leak: the
    # accuracy without the leaks is the accuracy on the clean rows.
    n_clean_right = ev.results[1].accuracy * ev.n_query - 2 * N_COPIES
    assert ev.results_without_leaks[1].accuracy == pytest.approx(n_clean_right / N_CLEAN)
    assert ev.to_json()["leaks"]["leaked"] == 2 * N_COPIES


def test_exclude_leaks_needs_two_splits_and_exact_search(
    store: Any, leaky: dict[str, Any], make_collection: Any
) -> None:
    from embedscope.errors import UsageError

    make_collection(store, NAME, leaky["train"])
    with pytest.raises(UsageError, match="exclude-leaks"):
        evaluate(store, NAME, (1,), progress=False, exclude_leaks=0.98)


def test_sample_figures_stated_in_the_readme(tmp_path: Path, sample_dir: Path,
                                             make_collection: Any) -> None:
    """Pixels, Fashion-MNIST sample: 43 of 615 test images leak (cosine ≥ 0.98); k-NN accuracy
    with and without them, as the README states."""
    from embedscope.store.edge import EdgeStore

    with EdgeStore(tmp_path / "qdrant") as store:
        make_collection(store, "fm__pixels", load_sample(sample_dir, 3000, "train"))
        make_collection(store, "fm__pixels", load_sample(sample_dir, 615, "test"))
        ev = evaluate(store, "fm__pixels", (1, 5), progress=False, exclude_leaks=0.98)
    assert (len(ev.leaked_ids), ev.n_query) == (43, 615)
    assert round(ev.results[1].accuracy, 3) == 0.782 and round(ev.results[5].accuracy, 3) == 0.784
    assert round(ev.results_without_leaks[1].accuracy, 3) == 0.769
    assert round(ev.results_without_leaks[5].accuracy, 3) == 0.769
