"""Read the vectors of a collection back from Qdrant, optionally as a seeded stratified sample."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import CollectionMeta, Payload
from embedscope.errors import EmptyCollectionError, UsageError
from embedscope.scratch import ScratchWriter, spill, spilled, take
from embedscope.store import Store
from embedscope.store.keys import PointIds, id_bytes
from embedscope.thumbnails import thumbnail_image


@dataclass
class Vectors:
    """The points one analysis runs on, sorted by point id so every backend gives one order."""

    ids: Sequence[str]  # PointIds from fetch: 16 bytes a point
    X: np.ndarray
    labels: np.ndarray | None
    label_names: list[str]
    meta: CollectionMeta
    total: int
    notes: list[str] = field(default_factory=list)
    #: The ``split`` payload of each point (None where a point has none).
    splits: list[str | None] | None = None
    #: Further payload fields read on request (``fetch(fields=…)``): field → value per point.
    extra: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of points."""
        return len(self.ids)

    def class_name(self, label: int) -> str:
        """Readable name of a label id."""
        return self.label_names[label] if 0 <= label < len(self.label_names) else str(label)


#: Rows whose L2 norm is within this of 1 count as unit already (Qdrant stores cosine vectors
#: normalised; float32 rounding leaves them ~1e-7 off).
UNIT_TOLERANCE = 1e-5


def normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32; zero rows stay zero).

    A row whose norm is within UNIT_TOLERANCE of 1 is kept as it is, whatever the other rows
    are. Vectors read back from a cosine collection are all unit: they come back with no copy
    (1.5 GB at a million 384-d points), and the norms are summed without an n × d temporary.
    """
    if spilled(X):  # written unit (fetch): reading it all to check would hold it all
        return X
    X = np.asarray(X, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
    unit = (np.abs(norms - 1.0) <= UNIT_TOLERANCE) | (norms == 0)  # row by row: kept as is
    if unit.all():
        return X
    return X / np.where(unit, 1.0, norms)


def stratified_indices(
    n: int, size: int, seed: int, labels: np.ndarray | None = None
) -> np.ndarray:
    """Sorted indices of a seeded sample of ``size`` rows, stratified by ``labels`` when given.

    Stratification is sklearn's ``train_test_split(stratify=labels, random_state=seed)``;
    classes too small to split fall back to a plain seeded sample.
    """
    if size >= n:
        return np.arange(n)
    if labels is not None:
        from sklearn.model_selection import train_test_split

        counts = np.bincount(labels - labels.min())
        if (counts[counts > 0] >= 2).all() and size >= int((counts > 0).sum()):
            idx, _ = train_test_split(
                np.arange(n), train_size=size, stratify=labels, random_state=seed
            )
            return np.sort(idx)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def fetch(
    store: Store, collection: str, sample: int = 0, seed: int = 0, progress: bool = True,
    fields: tuple[str, ...] = (), stream_from: int = 0, scratch_dir: Path | str | None = None,
) -> Vectors:
    """All vectors of ``collection`` (or a stratified sample); labels when every point has one.

    ``fields`` names further payload fields to read (``Vectors.extra``; None where absent).
    From ``stream_from`` points analysed on (0: never) the vectors go, unit rows, into a scratch
    file under ``scratch_dir`` instead of memory (embedscope.scratch), read once from
    the store.
    """
    from tqdm import tqdm

    meta = store.get_meta(collection)
    total = store.count(collection)
    if total == 0:
        raise EmptyCollectionError(
            f"collection {collection!r} holds no points: run `embedscope ingest` into it first"
        )
    stream = bool(stream_from) and total >= stream_from
    sink = _Sink(meta.dimension, total, scratch_dir if stream else False)
    read = _Ids()
    raw: list[Any] = []
    split_of: list[str | None] = []
    one_of: dict[str, str] = {}  # one string object per distinct split: 8 bytes a point
    extra: dict[str, list[Any]] = {f: [] for f in fields}
    bar = tqdm(total=total, desc="fetch vectors", unit="pt", disable=not progress, leave=False)
    try:
        for rec in store.scroll(collection, None, [Payload.LABEL, Payload.SPLIT, *fields], True,
                                2048):
            if rec.vector is None:
                raise UsageError(f"point {rec.id} of {collection!r} has no vector")
            sink.add(rec.vector)
            read.add(rec.id)
            raw.append(rec.payload.get(Payload.LABEL))
            split = rec.payload.get(Payload.SPLIT)
            split_of.append(one_of.setdefault(split, split) if isinstance(split, str) else split)
            for f in fields:
                extra[f].append(rec.payload.get(f))
            bar.update(1)
        X = sink.array()
    finally:
        sink.close()
        bar.close()
    ids = read.all()
    order = np.argsort(ids.keys, kind="stable")
    sorted_already = np.array_equal(order, np.arange(len(ids)))
    if not sorted_already:
        ids = ids.take(order)
        raw = [raw[i] for i in order]
        split_of = [split_of[i] for i in order]
        extra = {f: [v[i] for i in order] for f, v in extra.items()}
    notes: list[str] = []
    labels: np.ndarray | None = None
    if all(v is not None for v in raw):
        labels = np.asarray(raw, dtype=np.int64)
    elif any(v is not None for v in raw):
        missing = sum(v is None for v in raw)
        notes.append(
            f"{missing} of {len(raw)} points have no label: the collection is treated as "
            "unlabelled, so label-based figures are omitted."
        )
    else:
        notes.append("the collection is unlabelled: label-based figures are omitted.")
    rows = None if sorted_already else order
    if sample and sample < len(ids):
        idx = stratified_indices(len(ids), sample, seed, labels)
        rows = idx if rows is None else rows[idx]
        ids = ids.take(idx)
        labels = labels[idx] if labels is not None else None
        split_of = [split_of[i] for i in idx]
        extra = {f: [v[i] for i in idx] for f, v in extra.items()}
        how = "stratified by label" if labels is not None else "uniform"
        notes.append(f"analysed a seeded sample of {len(ids)} of {total} points ({how}).")
    if rows is not None:  # the points in id order (or the sample): in memory or a new file
        X = spill(X, rows, scratch_dir) if stream and len(rows) >= stream_from else take(X, rows)
    return Vectors(ids, X, labels, list(meta.labels), meta, total, notes, split_of, extra)


class _Ids:
    """The ids ``fetch`` reads, turned into 16-byte keys a page at a time."""

    PAGE = 4096

    def __init__(self) -> None:
        self.page: list[str] = []
        self.keys: list[np.ndarray] = []

    def add(self, pid: str) -> None:
        self.page.append(pid)
        if len(self.page) == self.PAGE:
            self.keys.append(id_bytes(self.page))
            self.page = []

    def all(self) -> PointIds:
        return PointIds(np.concatenate([*self.keys, id_bytes(self.page)]))


class _Sink:
    """Where ``fetch`` puts the vectors it reads: one growing float32 array, or a scratch file
    of unit rows (``directory`` False: memory; None: the system's temporary directory)."""

    def __init__(self, dim: int, expected: int, directory: Path | str | None | bool) -> None:
        self.dim = dim
        self.file = None if isinstance(directory, bool) else ScratchWriter(dim, directory)
        self.X = np.empty((4096 if self.file else expected, dim), dtype=np.float32)
        self.used = 0

    def add(self, vector: Any) -> None:
        if self.used == len(self.X):
            if self.file is not None:
                self._flush()
            else:  # points added since the count
                more = np.empty((max(1024, len(self.X) // 4), self.dim), np.float32)
                self.X = np.concatenate([self.X, more])
        self.X[self.used] = vector
        self.used += 1

    def _flush(self) -> None:
        assert self.file is not None
        self.file.append(normalize(self.X[:self.used]))
        self.used = 0

    def array(self) -> np.ndarray:
        if self.file is None:
            return self.X[:self.used]
        self._flush()
        return self.file.array()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def thumbnails(store: Store, collection: str, ids: list[str]) -> dict[str, Any]:
    """Decoded ``thumbnail`` payloads (PIL images) of ``ids``; points without a usable one are
    left out."""
    out: dict[str, Any] = {}
    for start in range(0, len(ids), 256):
        for rec in store.retrieve(collection, ids[start:start + 256], [Payload.THUMBNAIL]):
            img = thumbnail_image(rec.payload.get(Payload.THUMBNAIL))
            if img is not None:  # an unusable thumbnail only leaves a gap in the grid
                out[rec.id] = img
    return out
