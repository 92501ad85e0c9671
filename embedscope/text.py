"""Plain-text output the commands share: aligned columns."""

from __future__ import annotations

from typing import Any


def text_table(headers: list[str], rows: list[list[Any]], right: set[int] | None = None) -> str:
    """Plain-text columns; ``right`` holds the indexes of right-aligned columns."""
    right = right or set()
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i in right else c.ljust(w)
                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
