"""What every dataset source yields: `Item`s, one per row, image file or WebDataset sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHUNK = 256  # rows per chunk read from a source (the unit of the prefetch and the stored-ids check)


@dataclass
class Item:
    """One image to embed: where it comes from and what payload it gets (not decoded yet)."""

    point_id: str
    split: str
    index: int
    label: int | None
    source: str | None  # file path or URL; None for images held in the data
    data: bytes | None = None  # encoded image bytes
    error: str | None = None  # why this row has no usable image (it becomes a reject)
    vector: Any = None  # a precomputed vector from --vector-column (a list or array), or None
