"""Points as the store returns them (Hit, Record) and the checks every backend shares."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.errors import UsageError


@dataclass
class Hit:
    """A scored point from a query."""

    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None


@dataclass
class Record:
    """A stored point as returned by scroll or retrieve."""

    id: str
    payload: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None


def to_vector(value: Any) -> np.ndarray | None:
    """A stored vector as float32 (the unnamed one when the engine returns named vectors)."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("", next(iter(value.values()), None))
    return np.asarray(value, dtype=np.float32)


def to_records(points: Sequence[Any], with_vectors: bool) -> list[Record]:
    """Engine records (Qdrant Edge or qdrant-client) as Records with string ids."""
    return [Record(str(p.id), dict(p.payload or {}), to_vector(p.vector) if with_vectors else None)
            for p in points]


def to_hits(points: Sequence[Any], with_vectors: bool) -> list[Hit]:
    """Engine scored points (Qdrant Edge or qdrant-client) as Hits with string ids."""
    return [Hit(str(p.id), float(p.score), dict(p.payload or {}),
                to_vector(p.vector) if with_vectors else None)
            for p in points]


def as_matrix(vectors: np.ndarray | Sequence[Sequence[float]], dim: int | None = None) -> np.ndarray:
    """Validate and convert query/upsert vectors to a C-contiguous float32 matrix."""
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise UsageError(f"expected a 2-D array of vectors, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise UsageError(f"vectors have dimension {arr.shape[1]}; the collection expects {dim}")
    if not np.isfinite(arr).all():
        raise UsageError("vectors contain NaN or infinite values")
    return arr


def checked_queries(
    vectors: np.ndarray | Sequence[Sequence[float]], dim: int, k: int,
    exclude_per_query: Sequence[str | None] | None, ef: int | None,
) -> tuple[np.ndarray, int, int | None]:
    """A search's queries as a float32 matrix, ``k``, and the beam (at least ``k``), checked.

    Raises:
        UsageError: k < 1, vectors of the wrong dimension or not finite, an exclusion list of
            another length than the queries, or ef < 1.
    """
    if int(k) < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    mat = as_matrix(vectors, dim)
    if exclude_per_query is not None and len(exclude_per_query) != len(mat):
        raise UsageError(f"{len(exclude_per_query)} exclusions for {len(mat)} queries")
    if ef is not None and int(ef) < 1:
        raise UsageError(f"ef must be at least 1, got {ef}")
    return mat, int(k), None if ef is None else max(int(ef), int(k))


_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdefABCDEF", dtype=np.uint8)] = True
_DASHES = np.array([8, 13, 18, 23])
_DIGITS = np.setdiff1d(np.arange(36), _DASHES)


def check_ids(ids: Sequence[str]) -> None:
    """Point ids are UUID strings (the contract derives them from the data).

    The canonical form (36 characters, hex digits and four dashes) is checked for the whole
    batch at once with numpy; only ids that fail it go through `uuid.UUID` one by one (which
    also accepts braces, ``urn:uuid:`` and undashed forms).

    Raises:
        UsageError: one is not.
    """
    if not len(ids):
        return
    try:
        raw = np.array(ids, dtype="S37")  # one byte more: a longer id is not cut to 36
    except (UnicodeEncodeError, ValueError, TypeError):  # non-ASCII or not strings
        odd = list(range(len(ids)))
    else:
        chars = raw.view(np.uint8).reshape(len(raw), 37)
        ok = (np.char.str_len(raw) == 36) & (chars[:, _DASHES] == ord("-")).all(axis=1) \
            & _HEX[chars[:, _DIGITS]].all(axis=1)
        odd = np.flatnonzero(~ok).tolist()
    for i in odd:
        pid = ids[i]
        try:
            uuid.UUID(str(pid))
        except ValueError:
            raise UsageError(f"point id {pid!r} is not a UUID (see embedscope.contract.row_point_id)") from None


def check_name(name: str) -> None:
    """A collection name is one path component of letters, digits, '_', '-' and '.'.

    Raises:
        UsageError: it is not (e.g. contains '/' or is '..').
    """
    if not name or name in (".", "..") or not all(c.isalnum() or c in "_-." for c in name):
        raise UsageError(f"invalid collection name {name!r}: use letters, digits, '_', '-' and '.'")
