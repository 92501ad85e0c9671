"""``ingest --engine ray`` on a local 2-CPU Ray: the single-process collection, worker deaths retried."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from embedscope.cli import main
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.pipeline import run_ingest
from embedscope.ingest.ray_engine import decode_rows, run_ray
from embedscope.settings import QdrantSettings
from tests.ingest.badimages import EXPECTED, make_bad_folder
from tests.ingest.sourcefixtures import ingest_json, stored_points


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'embedscope[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


def _assert_same(one: dict, other: dict) -> None:
    assert one.keys() == other.keys()
    for pid, (payload, vector) in one.items():
        assert other[pid][0] == payload, pid
        np.testing.assert_allclose(other[pid][1], vector, atol=1e-6)


def test_ray_run_stores_the_single_process_collection(local_ray, sample_dir, data_env):
    flags = ["--dataset", str(sample_dir), "--limit", "300"]
    single = ingest_json(*flags, "--collection", "single")
    ray_run = ingest_json(*flags, "--collection", "ray", "--engine", "ray")
    assert single["ingested"] == ray_run["ingested"] == ray_run["points_in_collection"] == 600
    assert ray_run["index"] == single["index"] == "built"
    _assert_same(stored_points(data_env, "single"), stored_points(data_env, "ray"))
    again = ingest_json(*flags, "--collection", "ray", "--engine", "ray")  # resume: all stored
    assert again["ingested"] == 0 and again["skipped"] == again["selected"] == 600


def test_a_decode_worker_killed_mid_run_is_retried_and_nothing_is_lost(local_ray, sample_dir, data_env,
                                                                       tmp_path):
    marker = tmp_path / "died-once"

    def dies_once(batch, opts):
        if not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies; Ray runs the task again elsewhere
        return decode_rows(batch, opts)

    common = {"dataset": str(sample_dir), "model": "pixels", "limit": 200, "splits": ["train"],
              "batch_size": 32, "progress": False, "num_workers": 0}
    run_ingest(IngestSettings(**common, collection="single"))
    summary = run_ray(IngestSettings(**common, collection="killed", engine="ray"), QdrantSettings(),
                      decode=dies_once)
    assert marker.exists(), "the decode stage never ran the dying function"
    assert summary.ingested == summary.points_in_collection == 200 and not summary.rejected
    _assert_same(stored_points(data_env, "single"), stored_points(data_env, "killed"))


def test_a_bad_image_is_a_reported_reject(local_ray, tmp_path, data_env):
    folder = make_bad_folder(tmp_path / "photos")
    out = ingest_json("--dataset", str(folder), "--image-size", "16", "--labels-from-folders", "--engine", "ray")
    good = [k for k, v in EXPECTED.items() if v == "ok"]
    assert out["ingested"] == out["points_in_collection"] == len(good)
    reasons = {Path(r["source"]).relative_to(folder.resolve()).as_posix(): r["reason"] for r in out["rejected"]}
    assert set(reasons) == {k for k, v in EXPECTED.items() if v != "ok"}
    for name, reason in reasons.items():
        assert EXPECTED[name] in reason, (name, reason)
    assert len(Path(out["rejects_file"]).read_text().splitlines()) == len(reasons)


def test_without_ray_one_line_names_the_extra(sample_dir, data_env, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError, as when not installed
    code = main(["ingest", "--model", "pixels", "--dataset", str(sample_dir), "--engine", "ray", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and "pip install 'embedscope[ray]'" in err, err
