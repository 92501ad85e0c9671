"""A 3-node Qdrant cluster (sharded, replication 2, one shared key), as the compose `cluster`
profile starts it: a node killed during an ingest loses nothing once it is back.
Skipped, with the reason, without Docker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embedscope.contract import row_point_id
from embedscope.store.remote import RemoteStore
from tests.conftest import QDRANT_IMAGE, docker_unavailable_reason

pytestmark = pytest.mark.docker
KEY = "cluster-test-key"


def _url(node: Any) -> str:
    return f"http://{node.get_container_host_ip()}:{node.get_exposed_port(6333)}"


def _ready(node: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{_url(node)}/readyz", timeout=3) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"Qdrant node {_url(node)} not ready after {timeout} s")


@pytest.fixture
def cluster() -> Iterator[list[Any]]:
    """Three nodes on one network, node1 bootstrapping the others, as docker-compose.yml has them."""
    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    with Network() as net:
        nodes: list[Any] = []
        try:
            for k in (1, 2, 3):
                cmd = ["./qdrant", "--uri", f"http://node{k}:6335"]
                if k > 1:
                    cmd += ["--bootstrap", "http://node1:6335"]
                node = (DockerContainer(QDRANT_IMAGE).with_network(net).with_network_aliases(f"node{k}")
                        .with_exposed_ports(6333).with_command(cmd)
                        .with_env("QDRANT__SERVICE__API_KEY", KEY)
                        .with_env("QDRANT__CLUSTER__ENABLED", "true")
                        .with_env("QDRANT__CLUSTER__P2P__PORT", "6335")
                        .with_env("QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR", "2"))
                node.start()
                nodes.append(node)
                _ready(node)
            yield nodes
        finally:
            for node in nodes:
                node.stop()


def _all_replicas_active(url: str, name: str) -> bool:
    request = urllib.request.Request(f"{url}/collections/{name}/cluster", headers={"api-key": KEY})
    with urllib.request.urlopen(request, timeout=10) as reply:
        info = json.load(reply)["result"]
    states = [s["state"] for s in info["local_shards"]] + [s["state"] for s in info["remote_shards"]]
    return bool(states) and all(s == "Active" for s in states)


def test_a_node_killed_during_an_ingest_loses_nothing_once_back(cluster, sample_dir, tmp_path):
    url, name = _url(cluster[0]), "cluster_fashion__pixels"
    env = {**os.environ, "EMBEDSCOPE_QDRANT_URL": url, "EMBEDSCOPE_QDRANT_API_KEY": KEY,
           "EMBEDSCOPE_DATA_DIR": str(tmp_path), "EMBEDSCOPE_QDRANT_RETRY_SECONDS": "120"}
    cmd = [sys.executable, "-m", "embedscope", "ingest", "--dataset", str(sample_dir), "--model", "pixels",
           "--collection", name, "--shard-number", "6", "--replication-factor", "2", "--batch-size", "16",
           "--num-workers", "0", "--no-progress", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RemoteStore(url, api_key=KEY, retry_seconds=60) as store:
        deadline = time.monotonic() + 120
        while (not store.collection_exists(name) or store.count(name) < 500) and proc.poll() is None:
            assert time.monotonic() < deadline, "the ingest did not get going"
            time.sleep(0.2)
        assert proc.poll() is None, "the ingest finished before a node could be killed"
        victim = cluster[2].get_wrapped_container()
        victim.kill()  # mid-ingest: its replicas go dead, the other copies take the writes
        time.sleep(3)
        victim.start()  # back with its storage; it catches up from the other replicas
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-4000:]
        summary = json.loads(out)
        assert summary["ingested"] + summary["skipped"] == summary["selected"] == 3615

        deadline = time.monotonic() + 180
        while not _all_replicas_active(url, name):
            assert time.monotonic() < deadline, "the killed node's replicas never came back"
            time.sleep(1)
        assert store.count(name) == 3615
        expected = {row_point_id("fashion_mnist_sample", split, i)
                    for split, n in (("train", 3000), ("test", 615)) for i in range(n)}
        assert {r.id for r in store.scroll(name, with_payload=False)} == expected
    with RemoteStore(_url(cluster[2]), api_key=KEY, retry_seconds=60) as back:  # asked through the node
        assert back.count(name) == 3615


def test_the_cluster_test_knows_what_it_needs():
    """The cluster above is the compose file's: same image, same replication, same key variable."""
    text = (Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text()
    assert QDRANT_IMAGE.split(":")[-1] in text or "EMBEDSCOPE_QDRANT_IMAGE" in os.environ
    assert 'QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR: "2"' in text


def test_ray_ingest_search_and_analyze_work_against_the_cluster(cluster, sample_dir, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'embedscope[ray]')")
    url, name = _url(cluster[0]), "cluster_ray__pixels"
    env = {**os.environ, "EMBEDSCOPE_QDRANT_URL": url, "EMBEDSCOPE_QDRANT_API_KEY": KEY,
           "EMBEDSCOPE_DATA_DIR": str(tmp_path), "EMBEDSCOPE_QDRANT_RETRY_SECONDS": "60"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "embedscope", *args], env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return proc

    ingest = ["ingest", "--dataset", str(sample_dir), "--model", "pixels", "--limit", "200", "--engine", "ray",
              "--collection", name, "--shard-number", "3", "--no-progress", "--json"]
    first = json.loads(cli(*ingest).stdout)  # written by Ray's writer actors, through node 1
    assert first["ingested"] == first["points_in_collection"] == 400 and first["index"] == "server"
    again = json.loads(cli(*ingest).stdout)
    assert again["ingested"] == 0 and again["skipped"] == 400
    probe = row_point_id("fashion_mnist_sample", "train", 3)
    hits = json.loads(cli("search", "--collection", name, "--id", probe, "-k", "5", "--json").stdout)
    assert len(hits) == 5 and probe not in {h["id"] for h in hits}
    cli("analyze", "--collection", name, "--projections", "pca", "--clusterers", "kmeans", "--no-progress",
        "--out", str(tmp_path / "report"))
    with RemoteStore(url, api_key=KEY, retry_seconds=60) as store:
        assert len(store.retrieve(name, [probe])[0].payload["pca"]) == 2
