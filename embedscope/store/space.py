"""Free disk space for the embedded store: estimates per point and the one DiskFullError message."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedscope.errors import DiskFullError

MB = 2**20
#: Bytes a point costs beyond its vector and payload (ids, versions, index links).
_OVERHEAD = 256
#: Each byte is written about three times before an ingest ends: the write-ahead log, the
#: segment, and the optimised copy that `optimize` builds before it drops the old one.
_WRITES = 3
#: Payload bytes assumed per point when the payloads are not at hand (a 28×28 PNG thumbnail
#: and the contract fields take ~1 KB).
DEFAULT_PAYLOAD_BYTES = 2048
#: Below this much free space even opening a shard is refused: the engine rewrites a few of
#: its files through memory maps on open, and a full tmpfs answers that with SIGBUS.
OPEN_MIN = 4 * MB


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def point_bytes(dimension: int, payload_bytes: int = DEFAULT_PAYLOAD_BYTES) -> int:
    """Disk bytes one more point needs (estimate)."""
    return _WRITES * (4 * dimension + payload_bytes) + _OVERHEAD


def human(n: float) -> str:
    """1536 → '1.5 KB'; 3e9 → '2.8 GB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns at GB


def require(root: Path, name: str, points: int, per_point: int, reserve: int, doing: str) -> None:
    """Raise DiskFullError unless ``points`` × ``per_point`` bytes plus ``reserve`` are free.

    Args:
        root: The embedded store's directory.
        name: The collection, for the message.
        points: Points about to be written (0: only the reserve is needed).
        per_point: Estimated bytes per point.
        reserve: Bytes that must stay free (EMBEDSCOPE_DISK_RESERVE_MB).
        doing: What was about to happen ("store 1024 more points", "create it").
    """
    free = free_bytes(root)
    need = points * per_point + reserve
    if free >= need:
        return
    raise DiskFullError(
        f"not enough disk space for collection {name!r} to {doing}: {human(free)} free on "
        f"{root}, about {human(need)} needed ({human(points * per_point)} for {points} points "
        f"+ a reserve of {human(reserve)}, EMBEDSCOPE_DISK_RESERVE_MB). Everything stored so far "
        "is kept. Free some space, or move the data directory to a bigger disk and set "
        "EMBEDSCOPE_DATA_DIR there; then run the same command again: an ingest resumes "
        "where it stopped."
    )


def payload_bytes(payloads: Sequence[dict[str, Any]]) -> int:
    """Average JSON size of the first few payloads (the estimate for disk space)."""
    head = list(payloads[:8])
    if not head:
        return 0
    return sum(len(json.dumps(p, default=str)) for p in head) // len(head)


def space_error(name: str, root: Path, free: int) -> DiskFullError:
    """The DiskFullError for a disk too full to even open a collection."""
    return DiskFullError(
        f"the disk holding collection {name!r} is full ({human(free)} free on {root}; "
        f"opening a collection needs {human(OPEN_MIN)}). Everything stored is kept. "
        "Free some space, or move the data directory to a bigger disk and set "
        "EMBEDSCOPE_DATA_DIR there; then run the same command again."
    )
