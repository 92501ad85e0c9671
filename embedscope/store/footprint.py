"""How much each structure of an embedded collection takes, and where it lives (RAM or disk).

Read from the files of the shard (their allocated size, so preallocated pages not yet written
are not counted): the vectors, the quantized vectors, the HNSW graph, the payload and its
indexes, the point ids and the write-ahead log. Qdrant Edge maps every one of them from its
files; those placed in RAM (``Pinned``/cached) are resident while the collection is open, the
others are read from disk as searches touch them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedscope.contract import CollectionMeta

#: Vectors outside the HNSW index past which building it again is worth it (`check --reindex`,
#: and `analyze` before a graph through the index): below, a scan of them costs little.
SCANNED_LIMIT = 10_000
#: Structures in the order `check` lists them.
STRUCTURES = ("vectors", "quantized vectors", "HNSW graph", "payload", "ids", "WAL")


def _structure(rel: Path) -> str | None:
    parts = rel.parts
    if parts[0] == "wal":
        return "WAL"
    if parts[0] != "segments" or len(parts) < 3:
        return None
    top = parts[2]
    if top == "vector_storage":
        return "quantized vectors" if parts[-1].startswith("quantized") else "vectors"
    if top == "vector_index":
        return "HNSW graph"
    if top in ("payload_storage", "payload_index"):
        return "payload"
    if "id_tracker" in top:
        return "ids"
    return None


def _allocated(path: Path) -> int:
    st = path.stat()
    blocks = getattr(st, "st_blocks", None)
    return min(st.st_size, blocks * 512) if blocks is not None else st.st_size


def shard_footprint(shard_dir: Path, meta: CollectionMeta | None) -> dict[str, dict[str, Any]]:
    """``{structure: {"bytes": n, "where": "RAM" | "disk"}}`` for an embedded shard directory."""
    sizes = dict.fromkeys(STRUCTURES, 0)
    for path in shard_dir.rglob("*"):
        if path.is_file():
            kind = _structure(path.relative_to(shard_dir))
            if kind is not None:
                sizes[kind] += _allocated(path)
    on_disk = {
        "vectors": bool(meta and meta.vectors_on_disk),
        "quantized vectors": False,
        "HNSW graph": bool(meta and meta.hnsw_on_disk),
        "payload": True,  # the embedded default: payload read from its files
        "ids": False,
        "WAL": True,
    }
    return {k: {"bytes": sizes[k], "where": "disk" if on_disk[k] else "RAM"}
            for k in STRUCTURES if sizes[k] or k in ("vectors", "HNSW graph", "payload")}


def footprint_text(footprint: dict[str, dict[str, Any]]) -> str:
    """One line: "vectors 307.2 MB (disk), quantized vectors 76.8 MB (RAM), …"."""
    return ", ".join(f"{k} {v['bytes'] / 1e6:.1f} MB ({v['where']})" for k, v in footprint.items())


def scanned_vectors(shard_dir: Path, dimension: int) -> int:
    """About how many vectors of an embedded shard sit in segments without an HNSW index, which
    every search compares with the query one by one: their float32 storage's allocated bytes
    over 4 · dimension (deletion marks and quantized copies left out).

    Points land there when written (until the index is built) and when their payload changes:
    Qdrant Edge moves such a point out of its indexed segment, whose copy stays until the
    index is built again, so the engine's indexed count does not show it.
    """
    total = 0
    for config in shard_dir.glob("segments/*/segment.json"):
        try:
            vectors = json.loads(config.read_text())["config"]["vector_data"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if all(v.get("index", {}).get("type") == "hnsw" for v in vectors.values()):
            continue
        for storage in config.parent.glob("vector_storage*"):
            total += sum(_allocated(f) for f in storage.rglob("*") if f.is_file()
                         and "deleted" not in f.relative_to(storage).as_posix()
                         and not f.name.startswith("quantized"))
    return total // (4 * max(int(dimension), 1))
