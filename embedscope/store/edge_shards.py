"""The embedded backend's collections as shards: loading one under its lock (checked against
its integrity record), writing, flushing, closing with a record of its count, fingerprint and
facets, and lending it to a child process. `EdgeStore` (store/edge.py) adds the Store
primitives on top.

A collection this process has not loaded answers its count and the page's facets from the
record its last clean close left, while the shard's files are still the ones that close
fingerprinted (`_closed`): a page load costs the same at 10M points as at 10k, where loading
the shard costs ~2.2 s a million points.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import embedscope.store.integrity as integrity
import embedscope.store.space as space
from embedscope.errors import EmbedscopeError
from embedscope.store.base import Store
from embedscope.store.facets import FACET_LIMIT, RECORDED_FACETS
from embedscope.store.locks import Holder, StoreLocks
from embedscope.store.points import check_name

log = logging.getLogger(__name__)

#: Points written before the shard is first flushed and reopened. Qdrant Edge keeps the segment
#: it appends to in RAM until it is reopened, when stored segments are mapped from their files.
#: With qdrant-edge-py 0.9 that RAM is nearly all file-backed (40k 768-d points with 3 KB
#: payloads: anonymous memory 37 MB without a reopen, 30 MB with one every 8,192 points), while
#: a reopen costs ~2.5 µs per stored point (loading grows with the collection): at every 8,192
#: points it took 18 % of a 30k-point upsert.
_REOPEN_EVERY = 32_768
#: Later reopens wait until the upserts since the last one took this many times its cost
#: (scaled to the points stored now), so that reopening stays under 2 % of the writing.
_REOPEN_RATIO = 49
#: Points whose payload changed before the shard is reopened: a tenth of the stored points, and
#: at least _MOVED_MIN. Each such point moves into the appendable segment, where the engine
#: holds ~1.25 KB of anonymous memory a point until a reopen (measured writing the analysis's
#: fields into 60,000 indexed 384-d points: 60 → 135 MB, and 60 → 98 MB reopening every 20,000;
#: carried on, 1.25 GB for a million points, 12.5 GB for ten million). About ten reopens a
#: full write-back, each ~2.5 µs a stored point, hold that memory to a tenth.
_MOVED_SHARE = 0.1
_MOVED_MIN = 100_000


@dataclass
class _Open:
    """An open shard: the count verified (or last flushed) and whether this process wrote."""

    points: int
    written: bool = False
    since_open: int = 0  # points upserted since the shard was (re)opened
    write_s: float = 0.0  # seconds spent upserting since the shard was (re)opened
    open_s: float = 0.0  # what the last opening cost, in seconds …
    open_points: int = 0  # … with this many points stored
    moved: int = 0  # points whose payload changed since the shard was (re)opened

    def reopen_due(self) -> bool:
        """Whether a reopen now would cost under 1/_REOPEN_RATIO of the writing since the last."""
        if self.since_open < _REOPEN_EVERY:
            return False
        stored = self.points + self.since_open
        estimate = self.open_s * stored / max(self.open_points, 1)
        return self.write_s >= _REOPEN_RATIO * estimate

    def moved_reopen_due(self) -> bool:
        """Whether the payload writes since the last opening moved enough points (_MOVED_SHARE)
        for a reopen to give their memory back."""
        return self.moved >= max(_MOVED_MIN, _MOVED_SHARE * self.points)


class EdgeShards(Store):
    """Shards under ``root/<name>/shard``, each loaded once under the collection's lock.

    The attributes are set by `EdgeStore.__init__`.
    """

    _q: Any
    root: Path
    _shards: dict[str, Any]
    _open: dict[str, _Open]
    _locks: StoreLocks

    def _dir(self, name: str) -> Path:
        """The collection's directory; a name that is not one path component is refused."""
        check_name(name)
        return self.root / name

    def _lock(self, name: str, doing: str = "open") -> None:
        self._locks.take(name, doing)

    def _unlock(self, name: str) -> None:
        self._locks.drop(name)

    def _shard(self, name: str) -> Any:
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        self.require(name)
        held = self._locks.holds(name)
        self._lock(name)
        try:
            shard = self._load(name)
        except BaseException:
            if not held:
                self._unlock(name)
            raise
        self._shards[name] = shard
        return shard

    def _load(self, name: str) -> Any:
        """Open the shard (the lock is held), checked against its integrity record."""
        cdir = self._dir(name)
        record = integrity.read_record(cdir, name)
        self._read_meta(name)  # unreadable or changed metadata: named before anything else
        free = space.free_bytes(self.root)
        if free < space.OPEN_MIN:
            raise space.space_error(name, self.root, free)
        started = time.perf_counter()
        shard, count = integrity.open_shard(self._q, cdir / "shard", name, record)
        self._open[name] = _Open(points=count, open_s=time.perf_counter() - started, open_points=count)
        return shard

    @contextmanager
    def _reading(self, name: str) -> Iterator[Any]:
        """The shard, with engine failures on damaged files turned into one clear error."""
        shard = self._shard(name)
        try:
            yield shard
        except EmbedscopeError:
            raise
        except Exception as exc:  # qdrant_edge raises plain Exception
            raise integrity.damaged(name, f"reading its files failed ({exc})") from exc

    def _writing(self, name: str) -> Any:
        """The shard, with the record marked "writing" before the first change of this session."""
        shard = self._shard(name)
        state = self._open[name]
        if not state.written:
            self._record(name, state.points, "writing")
            state.written = True
        return shard

    def _record(self, name: str, points: int, state: str,
                facets: dict[str, list[list[Any]]] | None = None) -> None:
        cdir = self._dir(name)
        files = integrity.fingerprint(cdir / "shard") if state == "closed" else {}
        integrity.write_record(cdir, integrity.IntegrityRecord(
            points=points, meta_sha256=integrity.meta_sha256(cdir), state=state, files=files,
            facets=facets or {}))

    def _closed(self, name: str) -> integrity.IntegrityRecord | None:
        """The record of a collection this store has not loaded, when it still describes the
        shard's files (store/integrity.py ``untouched``). The collection's lock is taken as an
        opening takes it, so a job holding it is named as before; the shard is not loaded."""
        if name in self._shards:
            return None
        self.require(name)
        held = self._locks.holds(name)
        self._lock(name)
        record = None
        try:
            record = integrity.untouched(self._dir(name),
                                         integrity.read_record(self._dir(name), name))
        finally:
            if record is None and not held:  # the opening that follows takes it as before,
                self._unlock(name)  # and lets it go again if the shard cannot be opened
        return record

    def _reopen(self, name: str) -> None:
        """Flush and reopen the shard (the lock stays held): its appended points move out of RAM."""
        started = time.perf_counter()
        self.flush(name)
        shard = self._shards.pop(name)
        shard.close()
        self._shards[name] = self._q.EdgeShard.load(str(self._dir(name) / "shard"))
        state = self._open[name]
        state.since_open, state.write_s, state.moved = 0, 0.0, 0
        state.open_s, state.open_points = time.perf_counter() - started, state.points

    def integrity_record(self, name: str) -> integrity.IntegrityRecord | None:
        """The collection's integrity record (None for a collection made before records)."""
        return integrity.read_record(self._dir(name), name)

    def held(self) -> list[str]:
        """The collections this store holds open (or locked) now."""
        return sorted(set(self._shards) | self._locks.held())

    def wanted(self) -> list[str]:
        """The held collections a job in another process is waiting for."""
        return self._locks.wanted(self.held())

    def holder(self, name: str) -> Holder | None:
        """Who holds the collection's lock, as its lock file says (None when unknown)."""
        return self._locks.holder(name)

    def flush(self, name: str) -> None:
        """Persist pending writes of one collection and record its count."""
        shard = self._shards.get(name)
        if shard is None:
            return
        shard.flush()
        state = self._open[name]
        if state.written:
            state.points = int(shard.count(self._q.CountRequest(exact=True)))
            self._record(name, state.points, "writing")

    def close(self) -> None:
        """Flush and close every shard, record its count and fingerprint, release the locks."""
        try:
            for name in list(self._shards):
                self._close_one(name)
        finally:
            self._locks.drop_all()

    def lend(self, name: str) -> None:
        """Close one collection but keep its lock, for a child process to open it meanwhile.

        The child opens it with ``EdgeStore(root, lent={name})`` and must close it before this
        store uses ``name`` again (which reopens it); see store/locks.py.
        """
        self._lock(name)
        if name in self._shards:
            self._close_one(name)

    def rest(self, name: str) -> None:
        """Close the collection's shard, keeping its lock (as :meth:`lend`): its vectors, index
        and payload leave this process's memory until the next call opens it again."""
        if name in self._shards:
            self.lend(name)

    def _close_one(self, name: str) -> None:
        shard = self._shards.pop(name)
        state = self._open.pop(name, _Open(points=-1))
        facets: dict[str, list[list[Any]]] = {}
        try:
            shard.flush()
            if state.written or state.points < 0:
                state.points = int(shard.count(self._q.CountRequest(exact=True)))
            facets = self._recorded_facets(shard)
        finally:
            shard.close()
        try:
            self._record(name, state.points, "closed", facets)
        except OSError as exc:  # a full disk: the next opening probes the shard instead
            log.warning("could not write the integrity record of %s: %s", name, exc)

    def _recorded_facets(self, shard: Any) -> dict[str, list[list[Any]]]:
        """The facets a clean close records (``RECORDED_FACETS`` with a payload index); none
        when the engine cannot give them (the next page load asks the shard instead)."""
        try:
            indexed = set(shard.info().payload_schema)
            return {key: [[h.value, int(h.count)] for h in shard.facet(self._q.FacetRequest(
                        key=key, limit=FACET_LIMIT, exact=True)).hits]
                    for key in RECORDED_FACETS if key in indexed}
        except Exception as exc:  # qdrant_edge raises plain Exception
            log.warning("could not record the facets of a closing shard: %s", exc)
            return {}
