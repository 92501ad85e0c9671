"""Fault injection: each case a real process against the real engine (Qdrant Edge).

Every case asserts the message, the exit code, and that after the documented way out
(re-ingest, which resumes, or `embedscope restore`) the collection holds exactly the dataset:
the same ids, no duplicate, every vector equal to the reference ingest's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from embedscope.store.edge import EdgeStore

NAME = "faults__pixels"
LIMIT = "200"  # rows per split: 200 train + 200 test = 400 points of 784-d pixels
POINTS = 400


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBEDSCOPE_")}
    return {**env, "EMBEDSCOPE_DATA_DIR": str(data), "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1", "EMBEDSCOPE_INGEST_PROGRESS": "false", **extra}


def es(data: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    """`python -m embedscope ARGS` with its own data directory."""
    return subprocess.run([sys.executable, "-m", "embedscope", *args], env=_env(data, **extra),
                          capture_output=True, text=True, timeout=timeout)


def ingest_args(sample: Path, *more: str) -> list[str]:
    return ["ingest", "--dataset", str(sample), "--model", "pixels", "--limit", LIMIT,
            "--collection", NAME, *more]


def read_all(data: Path) -> tuple[list[str], np.ndarray]:
    with EdgeStore(data / "qdrant") as store:
        ids, vecs, _ = store.fetch_all(NAME)
    return ids, vecs


@pytest.fixture(scope="module")
def reference(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One clean ingest, its points and a snapshot of it; each case starts from a copy."""
    root = tmp_path_factory.mktemp("faults-ref")
    data = root / "data"
    proc = es(data, *ingest_args(sample_dir))
    assert proc.returncode == 0, proc.stderr
    snap = root / "ref.tar.gz"
    proc = es(data, "snapshot", "--collection", NAME, "--output", str(snap))
    assert proc.returncode == 0, proc.stderr
    ids, vecs = read_all(data)
    assert len(ids) == POINTS
    return {"data": data, "snapshot": snap, "vectors": dict(zip(ids, vecs, strict=True))}


def fresh(reference: dict, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(reference["data"], data)
    return data


def assert_exact(data: Path, reference: dict) -> None:
    """The collection holds exactly the reference dataset: ids, no duplicates, vectors."""
    ids, vecs = read_all(data)
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert set(ids) == set(reference["vectors"])
    want = np.vstack([reference["vectors"][i] for i in ids])
    np.testing.assert_allclose(vecs, want, atol=1e-6)


def assert_one_line(proc: subprocess.CompletedProcess, code: int, *parts: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "panicked" not in proc.stderr, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    for part in parts:
        assert part in errors[0], (part, errors[0])


def _shard_segment(data: Path) -> Path:
    segs = sorted((data / "qdrant" / NAME / "shard" / "segments").iterdir())
    return max(segs, key=lambda p: (p / "mutable_id_tracker.mappings").exists())


# --- damaged files ---------------------------------------------------------------------------
def _random_bytes(path: Path, offset: int, n: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(np.random.default_rng(7).integers(0, 256, n, dtype=np.uint8).tobytes())


DAMAGE = {
    "chunk emptied": (lambda seg: open(seg / "vector_storage/vectors/chunk_0.mmap", "w").close(),
                      "out of bounds"),
    "chunk truncated": (lambda seg: os.truncate(seg / "vector_storage/vectors/chunk_0.mmap",
                                                100_000), "out of bounds"),
    "random bytes in id tracker": (
        lambda seg: _random_bytes(seg / "mutable_id_tracker.mappings", 2000, 2000), "crashed"),
    "id tracker truncated to 1000 bytes": (
        lambda seg: os.truncate(seg / "mutable_id_tracker.mappings", 1000), "integrity record"),
    "random bytes in vectors": (
        lambda seg: _random_bytes(seg / "vector_storage/vectors/chunk_0.mmap", 20_000, 100),
        "vectors are not finite or not of unit length"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_file_gives_one_line_then_restore_brings_the_dataset_back(
        case: str, reference: dict, tmp_path: Path) -> None:
    data = fresh(reference, tmp_path)
    damage, what = DAMAGE[case]
    damage(_shard_segment(data))
    commands = [["collections"]]
    if case == "random bytes in id tracker":  # the engine aborts on open: every command is alike
        commands.append(["search", "--collection", NAME, "--id", next(iter(reference["vectors"]))])
    for args in commands:
        proc = es(data, *args)
        assert_one_line(proc, 10, f"'{NAME}'", "damaged", what, "Way out: restore a snapshot")
    proc = es(data, "check")
    assert_one_line(proc, 10, f"1 of 1 collections damaged: {NAME}", "Way out: restore a snapshot")
    assert f"{NAME}: DAMAGED" in proc.stdout and what in proc.stdout, proc.stdout
    proc = es(data, "restore", str(reference["snapshot"]), "--recreate")
    assert proc.returncode == 0, proc.stderr
    assert "verified: count, metadata and 32 sampled vectors" in proc.stdout
    assert_exact(data, reference)


def test_truncated_id_tracker_never_reports_fewer_points(reference: dict, tmp_path: Path) -> None:
    data = fresh(reference, tmp_path)
    os.truncate(_shard_segment(data) / "mutable_id_tracker.mappings", 1000)
    proc = es(data, "collections", "--json")
    assert proc.returncode == 10 and proc.stdout.strip() == "", (proc.stdout, proc.stderr)
    assert f"integrity record says {POINTS}" in proc.stderr


def test_garbled_meta_names_the_collection_and_the_file(
        reference: dict, sample_dir: Path, tmp_path: Path) -> None:
    data = fresh(reference, tmp_path)
    meta = data / "qdrant" / NAME / "meta.json"
    meta.write_text('{"model": "pix')
    for args in (["collections"], ["evaluate", "--collection", NAME]):
        proc = es(data, *args)
        assert_one_line(proc, 10, f"'{NAME}'", str(meta), "cannot be read", "Way out")
        assert "invalid setting" not in proc.stderr
    # way out: re-ingest with --recreate
    proc = es(data, *ingest_args(sample_dir, "--recreate"))
    assert proc.returncode == 0, proc.stderr
    assert_exact(data, reference)


# --- concurrency -----------------------------------------------------------------------------
_HOLDER = textwrap.dedent("""
    import sys
    from embedscope.store.edge import EdgeStore
    src, dst, name = sys.argv[1:4]
    with EdgeStore(src) as ref:
        meta = ref.get_meta(name)
        ids, vecs, payloads = ref.fetch_all(name, payload_fields=[])
        payloads = [r.payload for r in ref.retrieve(name, ids)]
    store = EdgeStore(dst)
    store.ensure_collection(name, meta, recreate=True)
    store.upsert(name, ids[:100], vecs[:100], payloads[:100])
    print("holding", flush=True)
    sys.stdin.readline()  # hold the collection until the test has tried to take it
    store.upsert(name, ids[100:], vecs[100:], payloads[100:])
    store.close()
    print("done", flush=True)
""")


def test_recreate_while_another_process_writes_is_refused(
        reference: dict, sample_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(reference["data"] / "qdrant"), str(data / "qdrant"),
         NAME], env=_env(data), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    proc = es(data, *ingest_args(sample_dir, "--recreate"))
    assert_one_line(proc, 5, f"'{NAME}'", "in another process")
    out, err = holder.communicate("go on\n", timeout=60)
    assert holder.returncode == 0 and "done" in out, err
    assert_exact(data, reference)  # the first process's work is intact
    proc = es(data, *ingest_args(sample_dir, "--recreate"))  # the way out: run it again later
    assert proc.returncode == 0, proc.stderr
    assert_exact(data, reference)


def test_three_simultaneous_creators_one_wins_the_others_are_busy(
        sample_dir: Path, reference: dict, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data)
    procs = [subprocess.Popen([sys.executable, "-m", "embedscope", *ingest_args(sample_dir)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    codes = [c for c, _ in results]
    assert 0 in codes and set(codes) <= {0, 5}, results
    for code, err in results:
        assert "not created by embedscope" not in err and "Traceback" not in err, err
        if code == 5:
            assert f"collection '{NAME}' is " in err and "in another process" in err, err
    proc = es(data, *ingest_args(sample_dir))  # the way out: run it again, it resumes
    assert proc.returncode == 0, proc.stderr
    assert_exact(data, reference)


# --- kill -9 ----------------------------------------------------------------------------------
_WRITER = textwrap.dedent("""
    import sys
    from embedscope.store.edge import EdgeStore
    src, dst, name, mode = sys.argv[1:5]
    with EdgeStore(src) as ref:
        meta = ref.get_meta(name)
        ids, vecs, _ = ref.fetch_all(name, payload_fields=[])
        payloads = [r.payload for r in ref.retrieve(name, ids)]
    store = EdgeStore(dst)
    store.ensure_collection(name, meta)
    if mode == "optimize":
        store.upsert(name, ids, vecs, payloads)
        store.flush(name)
        print("go", flush=True)
        store.optimize(name)
    else:
        for i in range(0, len(ids), 10):
            store.upsert(name, ids[i:i + 10], vecs[i:i + 10], payloads[i:i + 10])
            store.flush(name)
            if i == 200:
                print("go", flush=True)
    store.close()
    print("finished", flush=True)
""")


@pytest.mark.parametrize("mode,delay", [("flush", 0.05), ("optimize", 0.1)])
def test_kill_9_then_open_is_exact_or_named_and_reingest_restores(
        mode: str, delay: float, reference: dict, sample_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(reference["data"] / "qdrant"), str(data / "qdrant"),
         NAME, mode], env=_env(data), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "go"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    proc = es(data, "collections", "--json")
    if proc.returncode == 10:  # named damage; the way out: re-ingest with --recreate
        assert_one_line(proc, 10, f"'{NAME}'", "Way out")
        proc = es(data, *ingest_args(sample_dir, "--recreate"))
    else:  # counts are what was written; the way out: re-ingest, which resumes
        assert proc.returncode == 0, proc.stderr
        proc = es(data, *ingest_args(sample_dir))
    assert proc.returncode == 0, proc.stderr
    assert es(data, "check").returncode == 0
    assert_exact(data, reference)


# --- full disk ----------------------------------------------------------------------------------
def test_reserve_larger_than_the_disk_stops_before_creating(
        reference: dict, sample_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    free_mb = shutil.disk_usage(tmp_path).free / 2**20
    proc = es(data, *ingest_args(sample_dir), EMBEDSCOPE_DISK_RESERVE_MB=str(int(free_mb * 2)))
    assert_one_line(proc, 9, f"'{NAME}'", "not enough disk space", "EMBEDSCOPE_DISK_RESERVE_MB",
                    "resumes")
    assert es(data, "collections").stdout.startswith("no collections")  # nothing half-made
    proc = es(data, *ingest_args(sample_dir))
    assert proc.returncode == 0, proc.stderr
    assert_exact(data, reference)


def _mount_tmpfs(path: Path, size: str) -> str | None:
    path.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run mount ({exc})"
    return None if proc.returncode == 0 else f"cannot mount a tmpfs here: {proc.stderr.strip()}"


def test_small_tmpfs_stops_cleanly_lists_when_full_and_resumes_on_a_bigger_disk(
        reference: dict, sample_dir: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    reason = _mount_tmpfs(mnt, "68m")  # the 64 MB reserve and the estimate for 400 points
    if reason:                          # do not fit together: the run stops before embedding
        pytest.skip(reason)
    try:
        data = mnt / "data"
        proc = es(data, *ingest_args(sample_dir))
        assert_one_line(proc, 9, f"'{NAME}'", "not enough disk space", "resumes")
        with open(mnt / "filler", "wb") as fh:  # fill the disk to the last byte
            try:
                while True:
                    fh.write(b"\0" * 2**20)
                    fh.flush()
            except OSError:
                pass
        assert shutil.disk_usage(mnt).free < 2**20
        proc = es(data, "collections", "--json")  # read-only: works on a full disk
        assert proc.returncode == 0 and f'"name": "{NAME}"' in proc.stdout, proc.stderr
        proc = es(data, *ingest_args(sample_dir))  # still full: the same clean stop, no SIGBUS
        assert_one_line(proc, 9, f"'{NAME}'")
        big = tmp_path / "big"
        shutil.copytree(data, big)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)
    proc = es(big, *ingest_args(sample_dir))
    assert proc.returncode == 0, proc.stderr
    assert_exact(big, reference)


# --- unreachable server ---------------------------------------------------------------------------
def test_unreachable_server_fails_interactive_commands_fast(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for args in (["collections"], ["check"], ["search", "--collection", NAME, "--id", "x"]):
        start = time.monotonic()
        es(data, *args)  # the same command on the embedded store: Python's start-up here
        baseline = time.monotonic() - start
        start = time.monotonic()
        proc = es(data, *args, EMBEDSCOPE_QDRANT_URL="http://127.0.0.1:1")
        assert time.monotonic() - start < 2 * baseline + 10  # 117 s before the fix
        assert "tried for 3 s" in proc.stderr
        assert_one_line(proc, 6, "http://127.0.0.1:1", "EMBEDSCOPE_QDRANT_URL",
                        "EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS")
    assert es(data, "collections").returncode == 0  # the way out: the embedded store
