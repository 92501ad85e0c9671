"""Each point's row number in an export, found from its id without holding the ids in memory.

The export writes rows split by split (splits in name order), and within a split in the store's
scroll order (ascending point id). A first pass scrolls ids and splits only and appends each id's
16 bytes to its split's file; the files are then memory-mapped, so the row of a neighbour's id is
a binary search in the page cache, not a dictionary of every id (10M ids: 160 MB on disk).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import UsageError
from embedscope.store import Store
from embedscope.store.keys import IdRows


class RowIndex:
    """The splits of a collection, their row ranges in the export, and id → row lookups."""

    def __init__(self, store: Store, collection: str, batch: int, progress: Any = None) -> None:
        """Scroll every id and split once (no vectors, one payload field), ``batch`` at a time.

        Raises:
            UsageError: Points without a ``split`` payload (the export groups rows by split).
        """
        self._tmp = tempfile.TemporaryDirectory(prefix="embedscope-export-")
        folder = Path(self._tmp.name)
        files: dict[str, Any] = {}
        counts: dict[str, int] = {}
        missing = 0
        offset: str | None = None
        try:
            while True:
                records, offset = store.scroll_page(collection, offset, batch, None,
                                                    [Payload.SPLIT], False)
                for rec in records:
                    split = rec.payload.get(Payload.SPLIT)
                    if split is None:
                        missing += 1
                        continue
                    split = str(split)
                    if split not in files:
                        files[split] = open(folder / f"{len(files)}.ids", "wb")  # noqa: SIM115
                        counts[split] = 0
                    files[split].write(uuid.UUID(rec.id).bytes)
                    counts[split] += 1
                if progress is not None:
                    progress(len(records))
                if offset is None:
                    break
        finally:
            for f in files.values():
                f.close()
        if missing:
            raise UsageError(
                f"{missing} points of {collection!r} have no {Payload.SPLIT!r} payload: the "
                "export writes one set of files per split. Re-ingest them with `embedscope "
                "ingest` (it always sets the split).")
        paths = {s: folder / f"{i}.ids" for i, s in enumerate(files)}
        #: The splits in export order (by name, so that a shell glob lists the files in row order).
        self.splits = sorted(files)
        self.counts = {s: counts[s] for s in self.splits}
        self.offsets: dict[str, int] = {}
        total = 0
        for s in self.splits:
            self.offsets[s] = total
            total += counts[s]
        self.total = total
        self._ids = {s: np.memmap(paths[s], dtype="S16", mode="r") if counts[s] else
                     np.zeros(0, "S16") for s in self.splits}
        # A backend whose scroll is not in id order (none known) gets its split's ids sorted in
        # memory, with the permutation (IdRows), so lookups still work.
        self._rows = {s: IdRows(self._ids[s]) for s in self.splits}

    def ids_at(self, split: str, start: int, stop: int) -> np.ndarray:
        """The ids (16-byte) of positions ``start:stop`` of ``split`` in scroll order."""
        return np.asarray(self._ids[split][start:stop])

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The export row of each 16-byte id (-1 for an id the first pass did not see)."""
        out = np.full(len(ids), -1, dtype=np.int64)
        for s in self.splits:
            found = self._rows[s].rows(ids)
            hit = (out < 0) & (found >= 0)
            out[hit] = self.offsets[s] + found[hit]
        return out

    def close(self) -> None:
        """Drop the memory maps and their files."""
        self._ids.clear()
        self._rows.clear()
        self._tmp.cleanup()
