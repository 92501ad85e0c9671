"""Sharded ingestion: N workers together ingest every point exactly once, each resumable alone."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from embedscope.cli import main
from embedscope.contract import row_point_id
from embedscope.errors import UsageError
from embedscope.ingest.sharding import parse_shard, shard_of
from embedscope.store.edge import EdgeStore

REPO = Path(__file__).resolve().parents[2]
SBATCH = REPO / "scripts" / "slurm" / "ingest_array.sbatch"


# --- the pure functions ------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [("0/1", (0, 1)), ("2/4", (2, 4)), (" 7 / 8 ", (7, 8))])
def test_parse_shard_accepts_i_of_n(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["", "3", "4/4", "5/4", "-1/4", "1/0", "a/b", "1/2/3", "1.0/2"])
def test_parse_shard_rejects_bad_values_with_the_fix(text):
    with pytest.raises(UsageError, match=re.escape(f"--shard {text!r}")):
        parse_shard(text)


def test_shards_partition_the_ids_and_are_balanced():
    ids = [row_point_id("fashion_mnist", split, i) for split in ("train", "test") for i in range(3000)]
    ids += [str(uuid.UUID(int=n)) for n in range(50)]  # small ints: plain modulo
    for n in (1, 2, 3, 7, 16):
        shards: list[set[str]] = [set() for _ in range(n)]
        for pid in ids:
            k = shard_of(pid, n)
            assert 0 <= k < n
            shards[k].add(pid)
        assert set().union(*shards) == set(ids)  # union is everything
        assert sum(len(s) for s in shards) == len(ids)  # pairwise disjoint
        mean = len(ids) / n
        assert all(abs(len(s) - mean) < 0.15 * mean + 10 for s in shards), [len(s) for s in shards]


def test_shard_of_is_stable_and_case_insensitive():
    pid = row_point_id("cifar10", "train", 42)
    expected = uuid.UUID(pid).int % 5  # the documented rule, reproducible in any language
    assert shard_of(pid, 5) == shard_of(pid.upper(), 5) == shard_of(pid.replace("-", ""), 5) == expected


# --- the real ingest CLI -----------------------------------------------------------------------
def _ingest(*flags: str) -> dict:
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["ingest", "--model", "pixels", "--num-workers", "0", "--no-progress",
                     "--json", *flags])
    assert code == 0, buf.getvalue()
    return json.loads(buf.getvalue())


def _ids(data: Path, collection: str) -> set[str]:
    with EdgeStore(data / "qdrant") as store:
        return {r.id for r in store.scroll(collection, with_payload=False)}


def _rows(data: Path, collection: str) -> dict[str, tuple[str, int]]:
    """Each point's (split, row index)."""
    with EdgeStore(data / "qdrant") as store:
        return {r.id: (r.payload["split"], r.payload["index"]) for r in store.scroll(collection)}


def test_three_shards_one_after_another_ingest_everything_once(sample_dir, data_env):
    limit = ["--dataset", str(sample_dir), "--limit", "100"]  # 100 per split: 200 images
    whole = _ingest(*limit, "--collection", "whole")
    everything = _ids(data_env, "whole")
    assert whole["ingested"] == len(everything) == 200

    seen: set[str] = set()
    for i in range(3):
        summary = _ingest(*limit, "--collection", "sharded", "--shard", f"{i}/3")
        assert summary["skipped"] == 0  # nothing another shard already wrote
        now = _ids(data_env, "sharded")
        new = now - seen
        assert len(new) == summary["ingested"] == summary["selected"] > 0
        rows = _rows(data_env, "sharded")  # one row-group per split, fewer than shards: rows split
        assert sorted(rows[pid] for pid in new) == [(split, r) for split in ("test", "train")
                                                   for r in range(i * 100 // 3, (i + 1) * 100 // 3)]
        seen = now
    assert seen == everything
    again = _ingest(*limit, "--collection", "sharded", "--shard", "1/3")
    assert again["ingested"] == 0 and again["skipped"] == again["selected"]


def _progress_reader(proc: subprocess.Popen, state: dict) -> None:
    buf = b""
    while chunk := proc.stderr.read1(4096):  # type: ignore[union-attr]
        buf = (buf + chunk)[-4096:]
        done = re.findall(rb"(\d+)/(\d+) \[", buf)
        if done:
            state["done"] = int(done[-1][0])


def test_a_killed_shard_resumes_alone_with_the_exact_count(sample_dir, data_env):
    flags = ["--dataset", str(sample_dir), "--split", "train", "--limit", "1200",
             "--collection", "killed"]
    cmd = [sys.executable, "-m", "embedscope", "ingest", "--model", "pixels", "--num-workers", "0",
           "--json", *flags]
    proc = subprocess.Popen([*cmd, "--shard", "0/2", "--batch-size", "2"], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = {"done": 0}
    reader = threading.Thread(target=_progress_reader, args=(proc, state), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while state["done"] < 150 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the shard finished before it could be killed"

    other = _ingest(*flags, "--shard", "1/2")  # the other shard is unaffected by the kill
    assert other["skipped"] == 0 and other["ingested"] == other["selected"]

    resumed = _ingest(*flags, "--shard", "0/2")
    assert 100 <= resumed["skipped"] < resumed["selected"], resumed
    assert resumed["skipped"] + resumed["ingested"] == resumed["selected"]
    assert resumed["points_in_collection"] == resumed["selected"] + other["selected"] == 1200
    rows = _rows(data_env, "killed")
    assert sorted(r for _, r in rows.values() if r < 600) == list(range(600))  # shard 0's rows, once


# --- the SLURM array script --------------------------------------------------------------------
def test_sbatch_script_is_valid_bash_and_passes_the_shard():
    text = SBATCH.read_text()
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)
    assert re.search(r"^#SBATCH --array=0-\d+", text, re.M)
    assert '--shard "$SHARD"' in text and 'SHARD="${SLURM_ARRAY_TASK_ID}/${SHARDS}"' in text
    assert "${SLURM_ARRAY_TASK_COUNT" in text and "uv venv" in text and "${TMPDIR}" in text
    assert "EMBEDSCOPE_QDRANT_URL:?" in text


def _fake_uv(bin_dir: Path, log: Path, marker: Path) -> None:
    """A stand-in for uv: `uv venv DIR` makes DIR/bin/embedscope call this checkout's CLI.

    The shim logs the URL and arguments it got, fails once (exit 6, as an unreachable server
    would) to exercise the script's retry, then runs the real CLI on embedded storage.
    """
    shim = (
        "#!/bin/sh\n"
        f'echo "$EMBEDSCOPE_QDRANT_URL $*" >> "{log}"\n'
        f'if [ ! -e "{marker}" ]; then touch "{marker}"; exit 6; fi\n'
        "unset EMBEDSCOPE_QDRANT_URL\n"
        f'exec "{sys.executable}" -m embedscope "$@"\n'
    )
    uv = (
        "#!/bin/sh\n"
        'if [ "$1" = venv ]; then\n'
        '  for last; do :; done\n'
        '  mkdir -p "$last/bin"\n'
        f"  cat > \"$last/bin/embedscope\" <<'SHIM'\n{shim}SHIM\n"
        '  chmod +x "$last/bin/embedscope"\n'
        "fi\n"
    )
    (bin_dir / "uv").write_text(uv)
    (bin_dir / "uv").chmod(0o755)


def test_sbatch_array_tasks_together_ingest_everything(sample_dir, data_env, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log, marker = tmp_path / "calls.log", tmp_path / "failed-once"
    _fake_uv(bin_dir, log, marker)
    base = {
        **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path),
        "EMBEDSCOPE_QDRANT_URL": "http://qdrant-host:6333", "DATASET": str(sample_dir),
        "MODEL": "pixels", "COLLECTION": "slurm", "SLURM_ARRAY_TASK_COUNT": "3",
        "SLURM_ARRAY_JOB_ID": "77", "SLURM_SUBMIT_DIR": str(tmp_path), "RETRY_SLEEP": "0",
        "EMBEDSCOPE_SRC": str(REPO),
    }
    for i in range(3):  # embedded storage: one process per collection, so one task at a time
        proc = subprocess.run(
            ["bash", str(SBATCH), "--split", "test", "--limit", "60", "--num-workers", "0"],
            env={**base, "SLURM_ARRAY_TASK_ID": str(i)}, capture_output=True, text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert f"shard {i}/3 done" in proc.stdout
    calls = log.read_text().splitlines()
    assert len(calls) == 4  # task 0 failed once and was retried
    assert all(c.startswith("http://qdrant-host:6333 ingest --dataset") for c in calls)
    assert [re.search(r"--shard (\S+)", c).group(1) for c in calls] == ["0/3", "0/3", "1/3", "2/3"]
    assert "--rejects-file" in calls[0] and "77.shard-0-of-3.jsonl" in calls[0]
    assert len(_ids(data_env, "slurm")) == 60
    assert not list(tmp_path.glob("embedscope-venv.*"))  # the task's venv is removed at exit


def test_sbatch_rejects_a_task_outside_the_array(tmp_path):
    env = {**os.environ, "EMBEDSCOPE_QDRANT_URL": "http://x:6333", "DATASET": "d",
           "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(["bash", str(SBATCH)], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "--array=0-2" in proc.stderr
    env.pop("EMBEDSCOPE_QDRANT_URL")
    proc = subprocess.run(["bash", str(SBATCH)], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "EMBEDSCOPE_QDRANT_URL" in proc.stderr
