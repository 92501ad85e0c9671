"""End to end against a real Qdrant server (testcontainers): ingest → search → analyze, push / pull,
and an ingest that survives the server freezing mid-run. Skipped, with the reason, without Docker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from embedscope.store.edge import EdgeStore
from embedscope.store.remote import RemoteStore
from embedscope.store.transfer import copy_collection

pytestmark = pytest.mark.docker


def _cli(url: str, data: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "EMBEDSCOPE_QDRANT_URL": url, "EMBEDSCOPE_DATA_DIR": str(data),
           "EMBEDSCOPE_QDRANT_RETRY_SECONDS": "60"}
    return subprocess.run([sys.executable, "-m", "embedscope", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_ingest_search_analyze_against_a_server(qdrant_server_url, sample_dir, tmp_path):
    url, name = qdrant_server_url, "e2e_fashion__pixels"
    ingest = ["ingest", "--dataset", str(sample_dir), "--model", "pixels", "--limit", "300",
              "--collection", name, "--no-progress", "--num-workers", "0", "--json"]
    first = json.loads(_ok(_cli(url, tmp_path, *ingest)).stdout)
    assert first["ingested"] == first["selected"] == first["points_in_collection"] == 600

    again = json.loads(_ok(_cli(url, tmp_path, *ingest)).stdout)  # idempotent re-run
    assert again["ingested"] == 0 and again["points_in_collection"] == 600

    with RemoteStore(url, retry_seconds=10) as store:
        meta = store.get_meta(name)
        assert meta.model == "pixels" and meta.dimension == 28 * 28 and len(meta.labels) == 10
        info = store.client.get_collection(name)
        assert {"split", "label"} <= set(info.payload_schema)  # server-side payload indexes
        assert info.config.metadata["embedscope"]["model"] == "pixels"  # the documented contract
        probe = next(store.scroll(name, page_size=1))

    found = _ok(_cli(url, tmp_path, "search", "--collection", name, "--id", probe.id, "-k", "5",
                     "--json"))
    hits = json.loads(found.stdout)
    assert len(hits) == 5 and probe.id not in {h["id"] for h in hits}  # the query is left out
    assert all(-1.0 <= h["score"] <= 1.0 and "label" in h for h in hits)

    _ok(_cli(url, tmp_path, "analyze", "--collection", name, "--projections", "pca",
             "--clusterers", "kmeans", "--no-progress", "--out", str(tmp_path / "report")))
    with RemoteStore(url, retry_seconds=10) as store:
        rec = store.retrieve(name, [probe.id])[0]
        assert len(rec.payload["pca"]) == 2 and isinstance(rec.payload["cluster_kmeans"], int)
        assert store.get_meta(name).analysis  # the report says which run wrote the fields


def test_push_and_pull_through_a_real_server(qdrant_server_url, tmp_path):
    from embedscope.contract import CollectionMeta, row_point_id

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(500, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [row_point_id("t", "train", i) for i in range(500)]
    payloads = [{"split": "train", "index": i, "label": i % 4, "umap": [i, -i]} for i in range(500)]
    meta = CollectionMeta(model="fake", dimension=16, dataset="t", labels=list("abcd"))
    data = tmp_path / "data"
    with EdgeStore(data / "qdrant") as local:
        local.ensure_collection("t__fake", meta)
        local.upsert("t__fake", ids, vecs, payloads)
    env_url = ""  # the local side is embedded; the server is named by --to / --from
    push = _ok(_cli(env_url, data, "push", "--collection", "t__fake", "--to", qdrant_server_url,
                    "--as", "pushed", "--recreate", "--json"))
    assert json.loads(push.stdout)["target_count"] == 500
    pull = _ok(_cli(env_url, data, "pull", "--collection", "pushed", "--from", qdrant_server_url,
                    "--as", "pulled", "--json"))
    assert json.loads(pull.stdout)["verified_sample"] == 256
    with EdgeStore(data / "qdrant") as local:
        recs = {r.id: r for r in local.scroll("pulled", with_vectors=True)}
        assert len(recs) == 500 and recs[ids[9]].payload == payloads[9]
        np.testing.assert_allclose(recs[ids[9]].vector, vecs[9], atol=1e-6)
        assert local.get_meta("pulled").model_dump() == local.get_meta("t__fake").model_dump()


def test_cluster_style_collection_options_reach_the_server(qdrant_server_url, tmp_path):
    with EdgeStore(tmp_path / "e") as src, RemoteStore(qdrant_server_url, retry_seconds=10) as dst:
        from embedscope.contract import CollectionMeta

        src.ensure_collection("s__fake", CollectionMeta(model="fake", dimension=4))
        src.upsert("s__fake", ["00000000-0000-0000-0000-000000000001"],
                   np.ones((1, 4), np.float32), [{"split": "train"}])
        copy_collection(src, dst, "s__fake", recreate=True, shard_number=3, progress=False)
        assert dst.client.get_collection("s__fake").config.params.shard_number == 3


# --- a server that freezes mid-ingest ----------------------------------------------------------
def _container_serving(url: str) -> object:
    """The Docker container whose published REST port the URL points at."""
    import docker

    port = url.rsplit(":", 1)[1]
    for container in docker.from_env().containers.list():
        if any(b.get("HostPort") == port for b in (container.ports or {}).get("6333/tcp") or []):
            return container
    raise LookupError(f"no running container publishes {url}")


def test_ingest_rides_out_a_frozen_server_and_ends_with_the_exact_count(
    qdrant_server_url, sample_dir, tmp_path,
):
    url = qdrant_server_url
    docker_container = _container_serving(url)
    env = {**os.environ, "EMBEDSCOPE_QDRANT_URL": url, "EMBEDSCOPE_DATA_DIR": str(tmp_path),
           "EMBEDSCOPE_QDRANT_RETRY_SECONDS": "120", "EMBEDSCOPE_QDRANT_TIMEOUT": "2"}
    cmd = [sys.executable, "-m", "embedscope", "ingest", "--dataset", str(sample_dir), "--model",
           "pixels", "--collection", "frozen", "--batch-size", "8", "--num-workers", "0", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = {"done": 0, "log": b""}

    def read() -> None:
        while chunk := proc.stderr.read1(4096):  # type: ignore[union-attr]
            state["log"] += chunk
            done = re.findall(rb"(\d+)/(\d+) \[", state["log"][-4096:])
            if done:
                state["done"] = int(done[-1][0])

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 120
    while state["done"] < 500 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    docker_container.pause()  # requests now time out: the client retries with backoff
    try:
        time.sleep(6)
    finally:
        docker_container.unpause()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, state["log"][-3000:].decode(errors="replace")
    assert b"retrying" in state["log"]  # it did see the outage
    summary = json.loads(out)
    assert summary["points_in_collection"] == summary["selected"] == 3615

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["ingested"] == 0


def test_grpc_and_parallel_uploads_store_what_rest_one_at_a_time_stores(
    qdrant_server: tuple[str, int], sample_dir: Path, tmp_path: Path
) -> None:
    """EMBEDSCOPE_QDRANT_GRPC with 4 uploads in flight against REST with one: the same points,
    vectors and payloads."""
    url, grpc_port = qdrant_server
    runs = {"rest1": {"EMBEDSCOPE_QDRANT_UPLOAD_PARALLEL": "1"},
            "grpc4": {"EMBEDSCOPE_QDRANT_GRPC": "true", "EMBEDSCOPE_QDRANT_GRPC_PORT": str(grpc_port),
                      "EMBEDSCOPE_QDRANT_UPLOAD_PARALLEL": "4"}}
    for name, extra in runs.items():
        env = {**os.environ, "EMBEDSCOPE_QDRANT_URL": url, "EMBEDSCOPE_DATA_DIR": str(tmp_path),
               "EMBEDSCOPE_QDRANT_RETRY_SECONDS": "60", **extra}
        proc = subprocess.run(
            [sys.executable, "-m", "embedscope", "ingest", "--dataset", str(sample_dir), "--model",
             "pixels", "--limit", "500", "--batch-size", "32", "--collection", f"{name}__pixels",
             "--no-progress", "--num-workers", "0", "--json"],
            env=env, capture_output=True, text=True, timeout=300)
        assert json.loads(_ok(proc).stdout)["points_in_collection"] == 1000
    with RemoteStore(url, retry_seconds=10) as store:
        got = {r.id: (r.payload, r.vector) for r in store.scroll("grpc4__pixels", None, True, True)}
        want = {r.id: (r.payload, r.vector) for r in store.scroll("rest1__pixels", None, True, True)}
    assert got.keys() == want.keys() and len(got) == 1000
    drop = ("ingested_at",)
    for pid, (payload, vector) in want.items():
        assert {k: v for k, v in got[pid][0].items() if k not in drop} == \
            {k: v for k, v in payload.items() if k not in drop}
        np.testing.assert_array_equal(got[pid][1], vector)
