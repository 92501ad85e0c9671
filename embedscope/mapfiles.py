"""The map's arrays saved as files beside the store, so that a page opens a map of a million
points from a file instead of reading every point's fields from the store.

The analysis writes these files when it writes its payloads (``analyze`` and ``analyze
--update``), so that the page's first visit after any start opens a map from a file; the page
saves them again after tagging. They stay a cache: a file is used only for the key it was
written for (collection, projection, point count, analysis run and update, fields;
``embedscope.maparrays.map_key``) and is rebuilt from the store when missing, stale or
unreadable.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.maparrays import A, MapArrays, available, map_key, read_maps
from embedscope.store import Store

log = logging.getLogger(__name__)


def maps_dir() -> Path:
    """Where map files live: ``<data dir>/maps`` (EMBEDSCOPE_DATA_DIR)."""
    from embedscope.settings import QdrantSettings

    return QdrantSettings().data_dir / "maps"


class MapFiles:
    """Maps saved as .npz under a folder, one file per collection and projection.

    A file is found again only for the key it was saved for; a newer save of the same
    collection and projection replaces it. Write failures (a read-only data dir) only cost the
    speed-up.
    """

    def __init__(self, folder: Path | None) -> None:
        """Maps under ``folder`` (None: none are kept)."""
        self.folder = folder

    def path(self, key: tuple[Any, ...]) -> Path | None:
        """The file of ``key`` (None: no folder).

        Named ``<collection>-<projection>-<family>.<key digest>.npz``: the family is a digest of
        the exact collection and projection names, so that two collections whose readable
        names look alike (``a-b`` and ``a_b``) never share or delete each other's files.
        """
        if self.folder is None:
            return None
        digest = uuid.uuid5(uuid.NAMESPACE_URL, repr(key)).hex[:16]
        return self.folder / f"{self._family(key)}.{digest}.npz"

    @staticmethod
    def _family(key: tuple[Any, ...]) -> str:
        """The file name's prefix shared by every save of one collection's projection."""
        exact = uuid.uuid5(uuid.NAMESPACE_URL, repr((str(key[0]), str(key[1])))).hex[:12]
        return f"{_slug(str(key[0]))}-{_slug(str(key[1]))}-{exact}"

    def load(self, key: tuple[Any, ...], cls: type[A] = MapArrays) -> A | None:  # type: ignore[assignment]
        """The map saved for ``key``, or None."""
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("key") not in (None, json.loads(json.dumps(list(key)))):
                    return None
                return cls(
                    meta["collection"], meta["projection"], z["ids"], z["xy"], z["labels"],
                    meta["label_names"], z["splits"], meta["split_names"],
                    {c: z[f"cluster/{c}"] for c in meta["clusters"]},
                    {c: z[f"score/{c}"] for c in meta["scores"]},
                    {t: z[f"tag/{i}"] for i, t in enumerate(meta["tags"])}, meta["total"],
                )
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the unreadable map file %s: %s", path, exc)
            return None

    def save(self, data: MapArrays, key: tuple[Any, ...]) -> Path | None:
        """Save a map for ``key`` (older saves of the same collection and projection go)."""
        path = self.path(key)
        if path is None:
            return None
        tags = sorted(data.tags)
        meta = {"collection": data.collection, "projection": data.projection,
                "label_names": data.label_names, "split_names": data.split_names,
                "clusters": sorted(data.clusters), "scores": sorted(data.scores), "tags": tags,
                "total": data.total, "key": list(key)}
        arrays = {"meta": np.asarray(json.dumps(meta)), "ids": data.ids, "xy": data.xy,
                  "labels": data.labels, "splits": data.splits,
                  **{f"cluster/{c}": v for c, v in data.clusters.items()},
                  **{f"score/{c}": v for c, v in data.scores.items()},
                  **{f"tag/{i}": data.tags[t] for i, t in enumerate(tags)}}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _folder_lock(path.parent):
                _write_atomically(path, arrays)
                self._drop_older(path, key)
        except OSError as exc:
            log.warning("could not save the map file %s: %s", path, exc)
            return None
        return path


    def _drop_older(self, path: Path, key: tuple[Any, ...]) -> None:
        """Delete the older saves of ``key``'s map (other keys of the same collection and
        projection): every file of the family that sorts before ``path`` by (mtime, name).

        Called under the folder's lock: a file looked at here is not replaced by a newer save
        before it is deleted."""
        mine = _age(path)
        if mine is None:
            return
        for old in path.parent.glob(f"{self._family(key)}.*.npz"):
            other = _age(old)
            if old != path and other is not None and other < mine:
                old.unlink(missing_ok=True)
        # files named as before the family digest (never read now)
        legacy = f"{_slug(str(key[0]))}-{_slug(str(key[1]))}-{'[0-9a-f]' * 16}.npz"
        for old in path.parent.glob(legacy):
            old.unlink(missing_ok=True)


def _age(path: Path) -> tuple[int, str] | None:
    try:
        return path.stat().st_mtime_ns, path.name
    except FileNotFoundError:
        return None


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """The folder's lock (``flock`` on the folder itself, nothing written): one save at a time
    puts its file in place and deletes the older ones, across threads and processes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # the lock goes with the descriptor


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz under a temporary name of its own in the same folder, then rename it into
    place: readers see the old file or the new one, and concurrent writers never share a
    temporary file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_." else "_" for c in text)[:80]


def write_map_files(store: Store, collection: str, projections: Sequence[str],
                    clusters: Sequence[str], scores: Sequence[str],
                    folder: Path | None = None) -> dict[str, Path]:
    """Read the collection's stored maps in one pass and save each as a file for its current
    key (what ``analyze`` does after writing its payloads, so that the page need not read them).

    Args:
        store: The open store.
        collection: The collection.
        projections: Projection payload fields the maps may be in (those stored are written).
        clusters: Clustering payload fields (those stored are kept).
        scores: Per-point score fields.
        folder: Where (default: ``<data dir>/maps``).

    Returns:
        The file of each map written (a failed write is logged and left out).
    """
    files = MapFiles(maps_dir() if folder is None else folder)
    maps, stored_clusters = available(store, collection, projections, clusters)
    if not maps:
        return {}
    read: dict[str, MapArrays] = read_maps(store, collection, maps, stored_clusters, scores)
    written = {}
    for projection, data in read.items():
        path = files.save(data, map_key(store, collection, projection))
        if path is not None:
            written[projection] = path
    return written
