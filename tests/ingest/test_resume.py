"""An ingest killed with SIGKILL halfway resumes on re-run and ends with exactly the dataset's count."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from embedscope.store.edge import EdgeStore


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "embedscope", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_halfway_then_resume(sample_dir: Path, tiny_model_dir: Path, tmp_path: Path):
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    args = ["ingest", "--dataset", str(sample_dir), "--model", str(tiny_model_dir),
            "--image-size", "56", "--batch-size", "16", "--num-workers", "0",
            "--split", "train", "--limit", "1500"]
    proc = _cli(args, env)
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    seen, buf, deadline = 0, b"", time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        chunk = proc.stderr.read() or b""
        buf += chunk
        counts = [int(m) for m in re.findall(rb"\| *(\d+)/1500", buf)]
        seen = max(counts, default=0)
        if seen >= 400:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest finished before it could be killed: " + buf.decode()[-500:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 400 <= seen < 1500

    done = subprocess.run([sys.executable, "-m", "embedscope", *args, "--json", "--no-progress"],
                          env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    summary = json.loads(done.stdout)
    assert summary["points_in_collection"] == 1500
    assert summary["skipped"] >= seen - 16 * 3  # what was upserted before the kill stays
    assert summary["skipped"] + summary["ingested"] == 1500
    with EdgeStore(tmp_path / "data" / "qdrant") as store:
        assert store.count(summary["collection"]) == 1500
        assert store.count(summary["collection"], None) == len(
            {r.id for r in store.scroll(summary["collection"], with_payload=False)})
