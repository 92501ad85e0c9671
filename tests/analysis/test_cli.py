"""`embedscope analyze` / `compare` in-process, `python -m embedscope.analysis`, and the failure paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.cli import main
from embedscope.contract import CollectionMeta, row_point_id
from embedscope.store.edge import EdgeStore

FAST = ["--projections", "pca", "--clusterers", "kmeans,kmedoids,hdbscan", "--no-progress"]


def _build(data: Path, name: str, sample: dict[str, Any], make: Any, **kw: Any) -> None:
    with EdgeStore(data / "qdrant") as store:
        make(store, name, sample, **kw)


def test_analyze_cli_sample_and_auto_k(
    data_env: Path, sample800: dict[str, Any], make_collection: Any, capsys: Any
) -> None:
    _build(data_env, "fm__pixels", sample800, make_collection, n=400)
    rc = main(["analyze", "--collection", "fm__pixels", "--sample", "200", "--seed", "1",
               "--clusters", "auto", "--clusters-max", "6", *FAST])
    assert rc == 0, capsys.readouterr().err
    out_dir = data_env / "reports" / "fm__pixels"
    rep = json.loads((out_dir / "report.json").read_text())
    assert rep["data"]["points_analysed"] == 200 and rep["data"]["points_total"] == 400
    assert rep["k"]["mode"] == "auto" and 2 <= rep["k"]["value"] <= 6
    assert (out_dir / "k_curve.png").exists()
    assert "report:" in capsys.readouterr().out
    with EdgeStore(data_env / "qdrant") as store:
        recs = list(store.scroll("fm__pixels", with_payload=["pca", "cluster_kmeans"]))
    assert sum("pca" in r.payload for r in recs) == 200  # only the sample is written back


def test_unlabelled_collection_omits_label_figures(
    data_env: Path, sample800: dict[str, Any], make_collection: Any, capsys: Any
) -> None:
    _build(data_env, "plain", sample800, make_collection, n=150, labelled=False)
    rc = main(["analyze", "--collection", "plain", *FAST])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((data_env / "reports" / "plain" / "report.json").read_text())
    assert not rep["data"]["labelled"] and rep["label_errors"] is None
    assert rep["k"]["value"] == 10 and "labels" not in rep["silhouette"]["embedding"]
    assert rep["silhouette"]["embedding"]["kmeans"] is not None
    assert any("unlabelled" in n for n in rep["notes"])
    assert "per_class_silhouette" not in rep["files"]


def test_hdbscan_finding_only_noise_still_reports(
    data_env: Path, sample800: dict[str, Any], make_collection: Any, capsys: Any
) -> None:
    _build(data_env, "few", sample800, make_collection, n=40)
    rc = main(["analyze", "--collection", "few", "--hdbscan-min-cluster-size", "40", *FAST])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((data_env / "reports" / "few" / "report.json").read_text())
    assert any("no clusters" in n for n in rep["notes"])
    assert "thumbnails_kmeans" in rep["files"] and "thumbnails_hdbscan" not in rep["files"]


def test_too_few_points_and_bad_flags(data_env: Path, sample800: dict[str, Any],
                                      make_collection: Any, capsys: Any) -> None:
    _build(data_env, "tiny", sample800, make_collection, n=8)
    rc = main(["analyze", "--collection", "tiny", "--projections", "umap", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--umap-neighbors" in err
    assert main(["analyze", "--collection", "tiny", "--projections", "mds"]) == 2
    assert "unknown projections mds" in capsys.readouterr().err
    assert main(["analyze", "--collection", "nope", *FAST]) == 3


def test_compare_and_service(
    data_env: Path, sample800: dict[str, Any], make_collection: Any, capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _build(data_env, "fm__pixels", sample800, make_collection, n=200)
    with EdgeStore(data_env / "qdrant") as store:  # a second "model": square-rooted pixels
        X = np.sqrt(sample800["X"][:200])
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        store.ensure_collection("fm__sqrt", CollectionMeta(
            model="sqrt-pixels", dimension=784, pooling="pixels", labels=sample800["names"]))
        ids = [row_point_id("fashion_mnist_sample", "train", i) for i in range(200)]
        store.upsert("fm__sqrt", ids, X, [{"label": int(v), "split": "train", "index": i}
                                         for i, v in enumerate(sample800["labels"][:200])])
    rc = main(["compare", "fm__pixels", "fm__sqrt", "--clusterers", "kmeans",
               "--projections", "pca", "--no-progress", "--no-write-back"])
    assert rc == 0, capsys.readouterr().err
    out = data_env / "reports" / "compare__fm__pixels__fm__sqrt"
    summary = json.loads((out / "comparison.json").read_text())
    assert set(summary["figures"]["ARI kmeans"]) == {"fm__pixels", "fm__sqrt"}
    for file in ("comparison.csv", "comparison.png", "comparison.html",
                 "fm__sqrt/report.html"):
        assert (out / file).exists(), file

    from embedscope.analysis.__main__ import main as service

    monkeypatch.setenv("EMBEDSCOPE_ANALYSIS_COLLECTION", "fm__sqrt")
    monkeypatch.setenv("EMBEDSCOPE_ANALYSIS_PROJECTIONS", "pca")
    monkeypatch.setenv("EMBEDSCOPE_ANALYSIS_CLUSTERERS", "kmeans")
    monkeypatch.setenv("EMBEDSCOPE_ANALYSIS_PROGRESS", "false")
    assert service([]) == 0
    assert (data_env / "reports" / "fm__sqrt" / "report.html").exists()
    monkeypatch.setenv("EMBEDSCOPE_ANALYSIS_COLLECTION", "missing")
    assert service([]) == 3
    # flags win over the environment, as in `embedscope analyze`
    assert service(["--collection", "fm__sqrt", "--out", str(data_env / "svc")]) == 0
    assert (data_env / "svc" / "report.html").exists()


def test_help_stays_light() -> None:
    code = ("import sys, embedscope.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('sklearn', 'umap', 'matplotlib', 'kmedoids') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
