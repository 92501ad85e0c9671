"""The serving process shares embedded collections with the jobs: it lets go when idle or asked,
names the job that holds a collection, and serves what the job wrote without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from embedscope.errors import CollectionBusyError
from embedscope.store.edge import EdgeStore
from embedscope.ui.config import UISettings
from embedscope.ui.service import Session
from tests.ui.conftest import Built


def _env(b: Built) -> dict[str, str]:
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(b.data_dir), "HF_HUB_OFFLINE": "1",
           "EMBEDSCOPE_LOCK_WAIT_SECONDS": "60"}
    env.pop("EMBEDSCOPE_QDRANT_URL", None)
    return env


def _embedscope(b: Built, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "embedscope", *argv], env=_env(b),
                          capture_output=True, text=True, timeout=timeout)


def _serving(b: Built, idle: float = 30.0) -> Session:
    return Session(UISettings(idle_release_seconds=idle),
                   EdgeStore(b.qdrant_dir, serving=True))


def test_the_page_lets_go_of_an_idle_collection_and_reopens_it(fresh: Built) -> None:
    session = _serving(fresh, idle=0.3)
    try:
        assert "300 points" in session.describe(fresh.collection)
        assert session.holds() == [fresh.collection]
        deadline = time.monotonic() + 5
        while session.holds() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.holds() == []
        with EdgeStore(fresh.qdrant_dir) as other:  # another store may take it now
            assert other.count(fresh.collection) == 300
        started = time.perf_counter()
        assert "300 points" in session.describe(fresh.collection)
        assert time.perf_counter() - started < 1.0  # no probe: the record matched
    finally:
        session.shutdown()


_HOLD = textwrap.dedent("""
    import sys, time
    from embedscope.store import locks
    from embedscope.store.edge import EdgeStore
    locks.set_command("analyze")
    store = EdgeStore(sys.argv[1], lock_wait=30)  # as a job: it waits for a serving process
    store.count(sys.argv[2])
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
    store.close()
""")


def test_while_a_job_holds_the_collection_the_page_names_it(fresh: Built) -> None:
    session = _serving(fresh)
    job = subprocess.Popen([sys.executable, "-c", _HOLD, str(fresh.qdrant_dir), fresh.collection,
                            "60"], stdout=subprocess.PIPE, text=True, env=_env(fresh))
    try:
        assert job.stdout is not None and job.stdout.readline().strip() == "held"
        expected = f"collection busy: analyze running (pid {job.pid})"
        assert expected in session.describe(fresh.collection)
        with pytest.raises(CollectionBusyError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            session.search_point(fresh.collection, "0" * 8 + "-0000-0000-0000-" + "0" * 12, 5)
        assert session.collections() == [fresh.collection]  # the picker still lists it
    finally:
        job.kill()
        job.wait()
        session.shutdown()
    assert "300 points" in session.describe(fresh.collection)  # the lock died with the job


def test_ingest_waits_for_the_page_and_the_page_then_serves_the_new_points(
        fresh: Built, sample_dir: Path, tiny_model_dir: Path) -> None:
    session = _serving(fresh, idle=60)  # never idle long enough: the job must ask
    try:
        assert "300 points" in session.describe(fresh.collection)
        assert session.holds() == [fresh.collection]
        done = _embedscope(fresh, "ingest", "--dataset", str(sample_dir), "--model",
                           str(tiny_model_dir), "--image-size", "56", "--limit", "200",
                           "--num-workers", "0", "--collection", fresh.collection,
                           "--no-progress")
        assert done.returncode == 0, done.stderr
        assert "400 points" in session.describe(fresh.collection)
    finally:
        session.shutdown()


def test_analyze_runs_while_the_page_is_open_and_the_page_shows_the_new_map(fresh: Built) -> None:
    from embedscope.ui.map.maps import Maps

    session = _serving(fresh, idle=60)
    maps = Maps(session)
    try:
        view, projections, note = maps.open(fresh.collection, None, None)
        assert projections == [] and "no 2-d map" in note.lower()
        done = _embedscope(fresh, "analyze", "--collection", fresh.collection, "--projections",
                           "pca", "--clusterers", "kmeans", "--no-progress")
        assert done.returncode == 0, done.stderr
        view, projections, note = maps.open(fresh.collection, None, None)
        assert projections == ["pca"] and "300 points" in note
        assert view.token is not None
    finally:
        session.shutdown()
