"""`embedscope check`: verify a collection's count, vectors and payloads against its contract."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import DamagedCollectionError
from embedscope.store import Store
from embedscope.store.footprint import SCANNED_LIMIT
from embedscope.thumbnails import thumbnail_problem

#: |‖v‖ − 1| above this is a damaged vector (cosine collections store unit vectors).
NORM_TOL = 1e-3
#: Payload fields every ingested point carries, and their types.
REQUIRED: dict[str, type] = {Payload.DATASET: str, Payload.SPLIT: str}
#: Fields that, when present, must have these types (None allowed for label).
TYPED: dict[str, type | tuple[type, ...]] = {
    Payload.INDEX: int, Payload.LABEL: (int, type(None)), Payload.LABEL_NAME: str, Payload.SOURCE: str,
    Payload.WIDTH: int, Payload.HEIGHT: int, Payload.THUMBNAIL: str, Payload.MODEL: str,
    Payload.INGESTED_AT: str, Payload.TAGS: list,
}
#: Problems listed per kind before "… and N more".
_SHOW = 5
#: Vectors outside the HNSW index past which `check` says so (store/footprint.py).
SCANNED_WARNING = SCANNED_LIMIT


@dataclass
class CheckReport:
    """What `check` found in one collection."""

    collection: str
    ok: bool = True
    points: int | None = None
    scrolled: int = 0
    recorded: int | None = None
    dimension: int | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: quantization, vectors_on_disk, hnsw_on_disk (from the metadata).
    storage: dict[str, Any] = field(default_factory=dict)
    #: Bytes and placement of each structure (None where the backend does not say).
    memory: dict[str, dict[str, Any]] | None = None
    #: About how many vectors lie outside the HNSW index (None where the backend does not say).
    scanned: int | None = None
    #: Seconds `check --reindex` took to build the index again (None: not built).
    reindexed: float | None = None

    def add(self, kind: str, detail: str) -> None:
        """Record one problem of ``kind`` (only the first few details are kept)."""
        self.ok = False
        self.counts[kind] = self.counts.get(kind, 0) + 1
        shown = self.problems.setdefault(kind, [])
        if len(shown) < _SHOW:
            shown.append(detail)

    def as_json(self) -> dict[str, Any]:
        """The report as `embedscope check --json` prints it."""
        return {"collection": self.collection, "ok": self.ok, "points": self.points,
                "scrolled": self.scrolled, "recorded": self.recorded, "dimension": self.dimension,
                "problems": {k: {"count": self.counts[k], "examples": v}
                             for k, v in self.problems.items()},
                "seconds": round(self.seconds, 3), "storage": self.storage,
                "memory": self.memory, "scanned_vectors": self.scanned,
                "reindexed_seconds": self.reindexed}

    def _storage_lines(self) -> list[str]:
        from embedscope.store.footprint import footprint_text

        out = []
        if self.storage:
            out.append(f"  stored as: {_storage_text(self.storage)}")
        if self.memory:
            out.append(f"  memory: {footprint_text(self.memory)}")
        if self.reindexed is not None:
            out.append(f"  index: built again in {self.reindexed:.1f} s (--reindex); about "
                       f"{self.scanned or 0:,} vectors lie outside it now")
        elif self.scanned is not None and self.scanned > SCANNED_WARNING:
            out.append(
                f"  index: about {self.scanned:,} vectors lie outside the HNSW index, and every "
                "search compares the query with each of them (points written since the index "
                "was built, or whose payload changed: the engine moves those out of it). "
                f"Build it again: embedscope check --collection {self.collection} --reindex")
        return out

    def lines(self) -> list[str]:
        """Human-readable lines: one when healthy, one per problem kind otherwise."""
        if self.ok:
            rec = ", matches its integrity record" if self.recorded is not None else ""
            return [f"{self.collection}: ok: {self.points} points{rec}, all vectors finite, "
                    f"{self.dimension}-d and unit length, payloads decode ({self.seconds:.1f} s)",
                    *self._storage_lines()]
        out = [f"{self.collection}: DAMAGED"]
        for kind, examples in self.problems.items():
            more = self.counts[kind] - len(examples)
            out.append(f"  {kind} ({self.counts[kind]}): " + "; ".join(examples)
                       + (f"; … and {more} more" if more > 0 else ""))
        return out


def _storage_text(storage: dict[str, Any]) -> str:
    from embedscope.contract import CollectionMeta

    return CollectionMeta(model="-", dimension=1, **storage).storage_text()


def _check_payload(report: CheckReport, pid: str, payload: dict[str, Any]) -> None:
    for key, kind in REQUIRED.items():
        if not isinstance(payload.get(key), kind):
            report.add("payload", f"{pid}: {key!r} missing or not {kind.__name__}")
    for key, kinds in TYPED.items():
        if key in payload and not isinstance(payload[key], kinds):
            report.add("payload", f"{pid}: {key!r} is {type(payload[key]).__name__}")
    if isinstance(payload.get(Payload.INDEX), bool):
        report.add("payload", f"{pid}: 'index' is a bool")
    thumb = payload.get(Payload.THUMBNAIL)
    if isinstance(thumb, str):  # what the page and the reports would not draw
        problem = thumbnail_problem(thumb)
        if problem is not None:
            report.add("thumbnail", f"{pid}: {problem}")


def _check_vectors(report: CheckReport, ids: list[str], vecs: list[Any], dim: int) -> None:
    good: list[int] = []
    for i, vec in enumerate(vecs):
        if vec is None:
            report.add("vector", f"{ids[i]}: no vector")
        elif np.shape(vec) != (dim,):
            report.add("vector", f"{ids[i]}: {np.shape(vec)} instead of ({dim},)")
        else:
            good.append(i)
    if not good:
        return
    mat = np.vstack([vecs[i] for i in good]).astype(np.float32, copy=False)
    finite = np.isfinite(mat).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        norms = np.linalg.norm(np.where(np.isfinite(mat), mat, 0.0), axis=1)
    for j in np.flatnonzero(~finite):
        report.add("vector", f"{ids[good[j]]}: NaN or infinite values")
    for j in np.flatnonzero(finite & (np.abs(norms - 1.0) > NORM_TOL)):
        report.add("vector", f"{ids[good[j]]}: length {norms[j]:.4f}, not 1")


def check_collection(store: Store, name: str, page_size: int = 1024,
                     payloads: bool = True) -> CheckReport:
    """Verify one collection: count vs integrity record vs points read, vectors, payloads.

    Opening failures (a damaged collection the engine cannot read) are reported as problems,
    not raised, so that `check` over every collection goes on to the next one.
    """
    start = time.perf_counter()
    report = CheckReport(collection=name)
    try:
        meta = store.get_meta(name)
        report.dimension = meta.dimension
        report.storage = meta.storage()
        record = store.integrity_record(name)
        report.recorded = getattr(record, "points", None)
        report.points = store.count(name)
        seen: set[str] = set()
        offset: str | None = None
        while True:
            recs, offset = store.scroll_page(name, offset, page_size, None, payloads, True)
            ids = [r.id for r in recs]
            dupes = [pid for pid in ids if pid in seen]
            for pid in dupes:
                report.add("duplicate id", pid)
            seen.update(ids)
            report.scrolled += len(recs)
            _check_vectors(report, ids, [r.vector for r in recs], meta.dimension)
            if payloads:
                for r in recs:
                    _check_payload(report, r.id, r.payload)
            if offset is None:
                break
    except DamagedCollectionError as exc:  # busy, unreachable …: not damage, raised as is
        report.add("open", str(exc))
    if report.points is not None and report.scrolled != report.points:
        report.add("count", f"count says {report.points}, reading found {report.scrolled}")
    if report.recorded is not None and report.points is not None \
            and report.points < report.recorded:
        report.add("count", f"{report.points} points, integrity record says {report.recorded}")
    try:
        report.memory = store.footprint(name)
        report.scanned = store.scanned_vectors(name)
    except (OSError, DamagedCollectionError):  # the sizes are a description, never a failure
        report.memory = None
    report.seconds = time.perf_counter() - start
    return report


def reindex(store: Store, name: str, report: CheckReport) -> None:
    """`check --reindex`: build the collection's HNSW index again when more than
    SCANNED_WARNING vectors lie outside it (an embedded collection; a server indexes by itself)."""
    if report.scanned is None or report.scanned <= SCANNED_WARNING:
        return
    started = time.perf_counter()
    store.optimize(name)
    report.reindexed = time.perf_counter() - started
    report.scanned = store.scanned_vectors(name)
