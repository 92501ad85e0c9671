"""The density overview of a large map: the points binned into a grid, each cell with its count
and the group (or mean value) of the colouring drawn, so the page draws a million points as one
small image at once and shows the points themselves as the user zooms in (ui/frontend/src/map.js).
"""

from __future__ import annotations

import numpy as np

from embedscope.ui.map.colours import Colouring

#: Most cells of the overview, each way (the map is drawn ~620 pixels high).
GRID = 512
#: Maps with at least this many points open on their density overview.
FROM_POINTS = 200_000
#: A cell's code when no point falls in it.
EMPTY = 0xFFFF
#: Up to this many (cell, group) bins each cell's most common group is counted in one array
#: (e.g. 512² cells × 32 groups); past it, from the sorted pairs.
COUNTED_BINS = 1 << 23


def grid_for(n: int) -> int:
    """Cells each way for ``n`` points: a power of two near √n / 2 (a few points to a filled
    cell), 64 to ``GRID``."""
    return int(np.clip(2 ** round(np.log2(max(np.sqrt(max(n, 1)) / 2, 1))), 64, GRID))


def cells(xy: np.ndarray, grid: int = GRID) -> np.ndarray:
    """Each point's cell (row-major, row 0 at the top) for coordinates normalised to [-1, 1]."""
    half = np.float32(0.5 * grid)
    col = ((np.asarray(xy[:, 0], np.float32) + np.float32(1)) * half).astype(np.int32)
    row = ((np.float32(1) - np.asarray(xy[:, 1], np.float32)) * half).astype(np.int32)
    np.clip(col, 0, grid - 1, out=col)
    np.clip(row, 0, grid - 1, out=row)
    row *= grid
    row += col
    return row


def intensity(cell: np.ndarray, grid: int = GRID) -> np.ndarray:
    """Per cell, 0 when empty, else 90–255 growing with the log of its count (the densest 255),
    so that a lone point stays visible and dense regions read as dense."""
    counts = np.bincount(cell, minlength=grid * grid)
    out = np.zeros(grid * grid, dtype=np.uint8)
    filled = counts > 0
    scale = np.log(counts[filled]) / np.log(max(int(counts.max()), 2))
    out[filled] = np.round(90 + 165 * scale).astype(np.uint8)
    return out


def groups(cell: np.ndarray, colouring: Colouring, grid: int = GRID) -> np.ndarray:
    """Per cell, the colouring's most common group there (a categorical colouring) or the mean
    of its values in [0, 1] scaled to 0–255 (a continuous one); ``EMPTY`` where no point is."""
    out = np.full(grid * grid, EMPTY, dtype=np.uint16)
    if len(cell) == 0:
        return out
    if colouring.kind == "continuous":
        counts = np.bincount(cell, minlength=grid * grid)
        sums = np.bincount(cell, weights=np.asarray(colouring.codes, dtype=np.float64),
                           minlength=grid * grid)
        filled = counts > 0
        out[filled] = np.round(np.clip(sums[filled] / counts[filled], 0.0, 1.0) * 255)
        return out
    codes = np.asarray(colouring.codes, dtype=np.int64)
    width = int(codes.max()) + 1
    key = cell.astype(np.int64) * width + codes
    if grid * grid * width <= COUNTED_BINS:  # few groups: count every (cell, group) at once
        per_cell = np.bincount(key, minlength=grid * grid * width).reshape(grid * grid, width)
        seen = np.asarray(per_cell.any(axis=1), dtype=bool)
        out[seen] = per_cell[seen].argmax(axis=1)
        return out
    pairs, counts = np.unique(key, return_counts=True)
    where, code = pairs // width, pairs % width
    # by cell, then count, then code downwards: each cell's last is its mode, the lowest code
    # of a tie (as argmax counts it above)
    order = np.lexsort((-code, counts, where))
    last = np.r_[where[order][1:] != where[order][:-1], True]
    out[where[order][last]] = code[order][last]
    return out


def overview(cell: np.ndarray, colouring: Colouring, grid: int = GRID) -> bytes:
    """The file the page reads: ``grid²`` little-endian uint16 groups, then ``grid²`` uint8
    intensities (both row-major, row 0 at the top of the map)."""
    return groups(cell, colouring, grid).astype("<u2").tobytes() + intensity(cell, grid).tobytes()


def full_zoom(n: int) -> float:
    """The zoom at which the points have replaced the overview: 2× up to a million points,
    then growing with the square root of their number (≈ 6× at ten million), so that about as
    many points fill the view when they take over."""
    return max(2.0, float(np.sqrt(n / 250_000)))
