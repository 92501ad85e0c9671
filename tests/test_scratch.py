"""The scratch file the analysis streams its vectors from: reads, page release, removal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from embedscope.scratch import (
    ScratchWriter,
    block_rows,
    on_tmpfs,
    release,
    row_blocks,
    spill,
    spilled,
    take,
)
from tests.mapped import mapped_kb

linux = pytest.mark.skipif(not sys.platform.startswith("linux"),
                           reason="reads the mapping's resident pages from /proc/self/smaps")


def written(tmp_path: Path, n: int = 5000, d: int = 32) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    out = ScratchWriter(d, tmp_path / "scratch")
    for start in range(0, n, 999):
        out.append(X[start:start + 999])
    return X, out.array()


def test_rows_read_back_equal_the_rows_written_and_the_file_is_gone(tmp_path: Path) -> None:
    X, S = written(tmp_path)
    assert spilled(S) and spilled(S[10:20]) and not spilled(X)
    np.testing.assert_array_equal(S, X)
    assert not list((tmp_path / "scratch").iterdir())  # unlinked once mapped
    rows = np.array([4999, 3, 3, 2500, 0])
    np.testing.assert_array_equal(take(S, rows), X[rows])  # any order, repeats
    np.testing.assert_array_equal(take(X, rows), X[rows])
    P = spill(S, rows[::-1], tmp_path / "scratch")
    assert spilled(P)
    np.testing.assert_array_equal(P, X[rows[::-1]])
    seen = np.concatenate([part for _, part in row_blocks(S, 777)])
    np.testing.assert_array_equal(seen, X)
    with pytest.raises(ValueError, match="rows of 32 values"):
        ScratchWriter(32, tmp_path / "s").append(np.zeros((2, 31), np.float32))


@linux
def test_release_gives_the_pages_back_and_a_later_read_finds_the_data(tmp_path: Path) -> None:
    n, d = 65536, 256  # 64 MiB
    out = ScratchWriter(d, tmp_path)
    for start in range(0, n, 8192):
        out.append(np.full((8192, d), start, np.float32))
    S = out.array()
    assert mapped_kb(S) == 0
    total = float(S.sum(dtype=np.float64))
    grown = mapped_kb(S)
    assert grown > 0.9 * 65536  # every page of the file is resident now
    release(S[1000:2000])
    # a range (1,000 rows of 1 KiB) goes back (the kernel may map the file in larger pieces) …
    assert grown - 4096 <= mapped_kb(S) <= grown - 1000
    release(S)
    assert mapped_kb(S) == 0  # … and all of it
    assert float(S.sum(dtype=np.float64)) == total  # read again from the file
    release(S)
    release(np.zeros((4, 4)))  # memory: nothing to give back


@linux
def test_a_pass_over_streamed_rows_holds_a_block_not_the_file(tmp_path: Path) -> None:
    n, d = 131072, 256  # 128 MiB, blocks of 16 MiB
    out = ScratchWriter(d, tmp_path)
    for _ in range(0, n, 16384):
        out.append(np.ones((16384, d), np.float32))
    S = out.array()
    most = 0
    for _, part in row_blocks(S):
        assert float(part.sum()) == len(part) * d
        most = max(most, mapped_kb(S))
    assert block_rows(S) * d * 4 <= 16 << 20
    assert 8 * 1024 < most <= 16 * 1024 + 64  # KiB: the block being read, never the 128 MiB


def test_a_memory_backed_directory_is_told_apart(tmp_path: Path) -> None:
    assert on_tmpfs(tmp_path) is (_fs_type(tmp_path) in ("tmpfs", "ramfs"))
    if Path("/dev/shm").is_dir() and _fs_type(Path("/dev/shm")) == "tmpfs":
        assert on_tmpfs("/dev/shm")


def _fs_type(path: Path) -> str:
    """The file system type of ``path`` by ``stat -f`` (independent of on_tmpfs's /proc read)."""
    import subprocess

    try:
        return subprocess.run(["stat", "-f", "-c", "%T", os.fspath(path)], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no `stat -f` here")


@linux
def test_scattered_rows_taken_hold_a_block_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import embedscope.scratch as scratch

    n, d = 196_608, 256  # 192 MiB, blocks of 16 MiB
    out = ScratchWriter(d, tmp_path)
    for start in range(0, n, 16384):
        out.append(np.arange(start, start + 16384, dtype=np.float32)[:, None].repeat(d, axis=1))
    S = out.array()
    held: list[int] = []
    real = scratch.release

    def measured(X: np.ndarray, start: int = 0, stop: int | None = None) -> None:
        held.append(mapped_kb(S))  # what the reads since the last release hold
        real(X, start, stop)

    monkeypatch.setattr(scratch, "release", measured)
    rows = np.arange(n - 1, 0, -3072)  # a row every 3 MiB: each read maps up to 2 MiB around it
    np.testing.assert_array_equal(take(S, rows)[:, 0], rows)
    assert mapped_kb(S) == 0
    assert held and max(held) <= 16 * 1024 + 2 * 2048  # KiB: a block and a folio either side
