"""Point ids as 16-byte keys: batched search results as arrays, and the rows of ids by binary search.

A pass that searches for every point's neighbours (the analysis's k-NN graph, the leak search, the
export) meets tens of millions of hits. As Hits they cost a Python object, a UUID turned into a
string and a dictionary lookup each (a dictionary of a million string ids holds ~100 MB). Here
they stay arrays: each hit's id as its 16 big-endian bytes (the order Qdrant gives UUIDs, and
that of their canonical strings), its score, and how many hits each query got; the row of an id
among the points read is a binary search over their sorted keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

#: The numpy type of a key: a UUID's 16 bytes (compared as bytes, so in UUID order).
KEY = "S16"


def id_bytes(ids: Sequence[str]) -> np.ndarray:
    """Point ids (UUID strings) as 16-byte keys, in one pass for canonical ids (``uuid`` parses
    the other forms it accepts, and names an id that is none)."""
    if not len(ids):
        return np.zeros(0, KEY)
    try:
        raw = bytes.fromhex("".join(ids).replace("-", ""))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 16 * len(ids):  # braces, urn:uuid: or an id that is no UUID
        raw = b"".join(uuid.UUID(str(i)).bytes for i in ids)
    return np.frombuffer(raw, KEY).copy()


#: The hex digit of each half-byte, and where a canonical UUID string puts the dashes.
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_DASHED = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def key_strings(keys: np.ndarray) -> list[str]:
    """16-byte keys as canonical UUID strings (lowercase, dashed), all at once."""
    raw = np.ascontiguousarray(keys, KEY).view(np.uint8).reshape(-1, 16)
    out = np.full((len(raw), 36), ord("-"), np.uint8)
    out[:, _DASHED[0::2]] = _HEX_DIGITS[raw >> 4]
    out[:, _DASHED[1::2]] = _HEX_DIGITS[raw & 15]
    return out.view("S36").ravel().astype(str).tolist()


class PointIds(Sequence[str]):
    """Point ids held as 16-byte keys (16 bytes a point; a list of id strings holds ~90), read
    back as canonical strings: what the analysis keeps for ten million points."""

    #: Ids turned into strings at a time while iterating.
    CHUNK = 65536

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.ascontiguousarray(keys, KEY)

    @classmethod
    def of(cls, ids: Sequence[str]) -> PointIds:
        """Ids given as strings."""
        return cls(id_bytes(ids))

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return key_strings(self.keys[i])
        h = bytes(self.keys[i]).ljust(16, b"\0").hex()  # numpy drops trailing NUL bytes
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), self.CHUNK):
            yield from key_strings(self.keys[start:start + self.CHUNK])

    def take(self, rows: np.ndarray) -> PointIds:
        """The ids of ``rows``, in that order."""
        return PointIds(self.keys[rows])


def _point_keys(points: Sequence[Any]) -> np.ndarray:
    """The keys of engine points (Qdrant Edge gives ``uuid.UUID`` ids, qdrant-client and Hits
    strings)."""
    try:
        raw = b"".join([p.id.bytes for p in points])
    except AttributeError:
        return id_bytes([str(p.id) for p in points])
    return np.frombuffer(raw, KEY).copy()


@dataclass
class HitKeys:
    """The results of a batch of searches as arrays: the hits of query 0, then of query 1 …"""

    keys: np.ndarray  # hits, 16-byte ids (KEY)
    scores: np.ndarray  # hits, float32 cosine similarities, best first within a query
    counts: np.ndarray  # queries, int64: how many hits each query got

    @classmethod
    def of(cls, results: Sequence[Sequence[Any]]) -> HitKeys:
        """Engine points or Hits, one list per query (anything with ``id`` and ``score``)."""
        flat = [p for found in results for p in found]
        return cls(_point_keys(flat),
                   np.fromiter((p.score for p in flat), np.float32, len(flat)),
                   np.fromiter((len(found) for found in results), np.int64, len(results)))

    @property
    def query(self) -> np.ndarray:
        """The query (0 …) each hit answers."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    @property
    def rank(self) -> np.ndarray:
        """Each hit's place (0 …) among its query's hits."""
        return np.arange(len(self.keys)) - np.repeat(np.cumsum(self.counts) - self.counts,
                                                     self.counts)


class IdRows:
    """The row of each point id in a list of ids, by binary search over their sorted keys."""

    def __init__(self, ids: Sequence[str] | np.ndarray) -> None:
        """Index ``ids`` (strings, or keys as :func:`id_bytes` gives them). Ids read in id order
        (every scroll of the store) are used as they are; others are sorted once."""
        keys: np.ndarray
        if isinstance(ids, PointIds):
            keys = ids.keys
        elif isinstance(ids, np.ndarray) and ids.dtype == np.dtype(KEY):
            keys = ids
        else:
            keys = id_bytes([str(i) for i in ids])
        self.n = len(keys)
        self._order: np.ndarray | None = None
        if self.n > 1 and not bool((keys[1:] >= keys[:-1]).all()):
            self._order = np.argsort(keys, kind="stable")
            keys = keys[self._order]
        self._keys = keys

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """The row (int64) of each key; -1 for a key that is not among the ids."""
        out = np.full(len(keys), -1, dtype=np.int64)
        if not self.n or not len(keys):
            return out
        pos = np.minimum(np.searchsorted(self._keys, keys), self.n - 1)
        hit = np.asarray(self._keys[pos]) == keys
        out[hit] = pos[hit] if self._order is None else self._order[pos[hit]]
        return out
