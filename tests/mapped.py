"""The resident memory of one mapping of this process (Linux /proc/self/smaps): what a scratch
file of vectors holds in memory, apart from every other file the process maps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np


def mapped_kb(X: np.ndarray) -> int:
    """KiB of the mapping holding ``X``'s first byte that are resident now."""
    address = X.ctypes.data
    inside = False
    with open("/proc/self/smaps", encoding="ascii", errors="replace") as fh:
        for line in fh:
            head = line.split(maxsplit=1)[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(v, 16) for v in head.split("-"))
                inside = start <= address < end
            elif inside and head == "Rss:":
                return int(line.split()[1])
    raise AssertionError(f"no mapping holds address {address:#x}")


def peak_kb(X: np.ndarray, work: Callable[[], Any]) -> int:
    """The most KiB of ``X``'s mapping resident at once while ``work`` ran (sampled every 2 ms,
    and at the end)."""
    peak, done = [mapped_kb(X)], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], mapped_kb(X))
            done.wait(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        work()
    finally:
        done.set()
        watcher.join()
    return max(peak[0], mapped_kb(X))
