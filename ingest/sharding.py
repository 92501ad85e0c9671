"""Deterministic, disjoint shards of a dataset for many workers (SLURM arrays, indexed jobs)."""

from __future__ import annotations

import re
import uuid

from embedscope.errors import UsageError


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/N"`` (0 ≤ i < N) into ``(i, N)``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise UsageError(f"--shard {text!r}: expected i/N, e.g. 0/4 (shard 0 of 4)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"--shard {text!r}: need 0 <= i < N, e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT")
    return index, count


def shard_of(point_id: str, count: int) -> int:
    """The shard (0 … count-1) a point belongs to, from its UUID: stable across machines and runs."""
    return uuid.UUID(point_id).int % count
