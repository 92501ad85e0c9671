"""The lock protocol between processes (embedscope/store/locks.py): a waiting job never finds the
lock file empty, and jobs waiting for a serving process get the collection in the order they came."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from embedscope.store import locks
from embedscope.store.locks import LOCK_DIR, CollectionLock, holder_of

NAME = "shared__fake"

#: Takes and lets go of the lock again and again, as a serving process does between requests.
_FLAPPER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from embedscope.store.locks import CollectionLock
    lock = CollectionLock(Path(sys.argv[1]), sys.argv[2], serving=True)
    print("ready", flush=True)
    for _ in range(int(sys.argv[3])):
        lock.acquire()
        lock.release()
""")

#: A job that waits for a serving process, then says when it got the collection.
_JOB = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from embedscope.store import locks
    locks.set_command("job" + sys.argv[3])
    lock = locks.CollectionLock(Path(sys.argv[1]), sys.argv[2], wait=120)
    lock.acquire()
    print(f"got {time.monotonic()!r}", flush=True)
    time.sleep(0.3)
    lock.release()
""")


def test_a_waiting_job_never_finds_the_lock_file_empty(tmp_path: Path) -> None:
    flapper = subprocess.Popen([sys.executable, "-c", _FLAPPER, str(tmp_path), NAME, "3000"],
                               stdout=subprocess.PIPE, text=True)
    assert flapper.stdout is not None and flapper.stdout.readline().strip() == "ready"
    reads, unknown = 0, 0
    try:
        while flapper.poll() is None:
            if (tmp_path / LOCK_DIR / f"{NAME}.lock").exists():
                reads += 1
                holder = holder_of(tmp_path, NAME)
                unknown += holder is None
    finally:
        flapper.kill()
        flapper.wait(30)
    assert reads > 100
    assert unknown == 0, f"{unknown} of {reads} reads found no holder in the lock file"
    holder = holder_of(tmp_path, NAME)
    assert holder is not None and holder.pid == flapper.pid and holder.serving


def _line_length(root: Path) -> int:
    return len(locks.waiting(root, NAME))


def test_jobs_waiting_for_a_serving_process_get_the_collection_in_the_order_they_came(
        tmp_path: Path) -> None:
    server = CollectionLock(tmp_path, NAME, serving=True)
    server.acquire()
    jobs = []
    try:
        for i in range(3):
            jobs.append(subprocess.Popen([sys.executable, "-c", _JOB, str(tmp_path), NAME, str(i)],
                                         stdout=subprocess.PIPE, text=True))
            deadline = time.monotonic() + 60
            while _line_length(tmp_path) < i + 1 and time.monotonic() < deadline:
                time.sleep(0.02)  # the next job comes once this one stands in line
            assert _line_length(tmp_path) == i + 1
        assert [h.command for h, _ in locks.waiting(tmp_path, NAME)] == ["job0", "job1", "job2"]
        assert locks.wanted_by(tmp_path, NAME).command == "job0"  # type: ignore[union-attr]
        server.release()  # the serving process lets go: the jobs take turns, first come first
        got = []
        for job in jobs:
            out, _ = job.communicate(timeout=120)
            assert job.returncode == 0
            got.append(float(out.split()[1]))
    finally:
        server.release()
        for job in jobs:
            job.kill()
            job.wait()
    assert got == sorted(got), f"the jobs got the collection at {got}: out of their order"
    assert _line_length(tmp_path) == 0  # each took its ticket away


def test_a_serving_process_does_not_take_a_collection_a_job_waits_for(tmp_path: Path) -> None:
    server = CollectionLock(tmp_path, NAME, serving=True)
    server.acquire()
    job = subprocess.Popen([sys.executable, "-c", _JOB, str(tmp_path), NAME, "0"],
                           stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _line_length(tmp_path) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.release()
        again = CollectionLock(tmp_path, NAME, serving=True)
        try:
            again.acquire()
        except Exception as exc:  # noqa: BLE001 - the refusal is what is checked
            assert "collection busy: job0 running" in str(exc)
        else:  # the job may already have taken it and let go
            again.release()
            assert job.poll() is not None
        out, _ = job.communicate(timeout=120)
        assert job.returncode == 0 and out.startswith("got")
    finally:
        server.release()
        job.kill()
        job.wait()
