"""Loaded maps saved on disk between runs, so a restart or a new page skips reading the store."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.ui.map.points import MapData

log = logging.getLogger(__name__)


def map_key(store: Any, collection: str, projection: str) -> tuple[Any, ...]:
    """What identifies a loaded map: collection, projection, point count and analysis run
    (with its latest ``analyze --update``: the points it placed were in the count before)."""
    meta = store.get_meta(collection)
    return (collection, projection, store.count(collection), meta.analysis.get("run_id"),
            meta.analysis.get("created_at"), meta.analysis.get("update_id"))


class DiskCache:
    """Loaded maps saved as .npz under a folder, so a restart or a new page skips the scroll.

    A map is found again only for the same key (collection, projection, point count, analysis
    run); "Show map (reload)" reads the store again and replaces it. Write failures (a
    read-only data dir) only cost the speed-up.
    """

    def __init__(self, folder: Path | None) -> None:
        """Create a cache in ``folder`` (None: no cache)."""
        self.folder = folder

    def _path(self, key: tuple[Any, ...]) -> Path | None:
        if self.folder is None:
            return None
        digest = uuid.uuid5(uuid.NAMESPACE_URL, repr(key)).hex[:16]
        return self.folder / f"{_slug(str(key[0]))}-{_slug(str(key[1]))}-{digest}.npz"

    def load(self, key: tuple[Any, ...]) -> MapData | None:
        """The map saved for ``key``, or None."""
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                return MapData(
                    meta["collection"], meta["projection"], z["ids"], z["xy"], z["labels"],
                    meta["label_names"], z["splits"], meta["split_names"],
                    {c: z[f"cluster/{c}"] for c in meta["clusters"]},
                    {c: z[f"score/{c}"] for c in meta["scores"]},
                    {t: z[f"tag/{i}"] for i, t in enumerate(meta["tags"])}, meta["total"],
                )
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the unreadable map cache %s: %s", path, exc)
            return None

    def save(self, data: MapData, key: tuple[Any, ...]) -> None:
        """Save a map for ``key`` (older saves of the same collection and projection go)."""
        path = self._path(key)
        if path is None:
            return
        tags = sorted(data.tags)
        meta = {"collection": data.collection, "projection": data.projection,
                "label_names": data.label_names, "split_names": data.split_names,
                "clusters": sorted(data.clusters), "scores": sorted(data.scores), "tags": tags,
                "total": data.total}
        arrays = {"meta": np.asarray(json.dumps(meta)), "ids": data.ids, "xy": data.xy,
                  "labels": data.labels, "splits": data.splits,
                  **{f"cluster/{c}": v for c, v in data.clusters.items()},
                  **{f"score/{c}": v for c, v in data.scores.items()},
                  **{f"tag/{i}": data.tags[t] for i, t in enumerate(tags)}}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.npz")
            np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle
            tmp.replace(path)
            for old in path.parent.glob(path.name.rsplit("-", 1)[0] + "-*.npz"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not save the map cache %s: %s", path, exc)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_." else "_" for c in text)[:80]


def cache_dir() -> Path | None:
    """Where loaded maps are saved between runs: ``<data dir>/maps`` (EMBEDSCOPE_DATA_DIR)."""
    from embedscope.settings import QdrantSettings

    return QdrantSettings().data_dir / "maps"
