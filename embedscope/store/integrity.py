"""The integrity record of an embedded collection, and the child-process probe for damaged shards.

``<collection>/integrity.json`` holds the point count, a checksum of ``meta.json`` and a
fingerprint (size and mtime of each shard file) as the last writer or reader left them on a
clean close. Opening compares: a matching fingerprint means nothing touched the files since,
so the shard loads in-process at once; otherwise (a crash, a copy, a damaged file) the shard is
first opened in a child process, because the engine aborts the whole process on some damaged
files (a Rust panic, exit 134) and the user must still get one clear line.

``meta.json`` and the record change together (`replace_meta`, `read_meta_and_record`), without
a lock on the reader's side, so that a process listing collections while another changes one
never sees one file without the other: the writer (who holds the collection's lock) first
records the checksum of the metadata to come (``next_meta_sha256``), then replaces
``meta.json``, then records it as the only one; a reader reads the record, ``meta.json``, then
the record again, and reads again when the two records differ. With both records alike the
pair is one a writer left, so a checksum the record does not accept means a hand edit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from embedscope.errors import CollectionBusyError, DamagedCollectionError
from embedscope.store.locks import busy_message

log = logging.getLogger(__name__)

RECORD = "integrity.json"
META = "meta.json"
#: The engine rewrites its write-ahead log on every open; it is left out of the fingerprint.
_UNFINGERPRINTED = ("wal",)
#: The probe reads at most this many vectors (all of them in most collections): a crash of a
#: large ingest must not cost minutes at the next opening; `embedscope check` reads them all.
PROBE_VECTORS = 50_000
#: Seconds a probe may take before the shard is called damaged (a 100k-point shard opens in ~1 s).
PROBE_TIMEOUT = 120.0
#: Reads of the record–metadata pair before a reader settles for the last one (a writer changes
#: the pair in three renames, far less than a millisecond apart).
_PAIR_TRIES = 200


@dataclass
class IntegrityRecord:
    """What a collection held when its last user closed it cleanly (or flushed, while writing)."""

    points: int
    meta_sha256: str | None = None
    state: str = "closed"  # "closed": left cleanly; "writing": a writer has it open (or died)
    files: dict[str, list[int]] = field(default_factory=dict)  # relpath -> [size, mtime_ns]
    updated_at: str = ""
    version: int = 1
    #: While a writer replaces meta.json: the checksum of the metadata it writes (both are
    #: accepted until it records the new one alone).
    next_meta_sha256: str | None = None
    #: On a clean close: the facets of the page's lists (``RECORDED_FACETS``), field → [[value,
    #: count], …], so that a page load reads them with the count instead of opening the shard.
    facets: dict[str, list[list[Any]]] = field(default_factory=dict)

    def accepts(self, meta_checksum: str | None) -> bool:
        """Whether a meta.json of this checksum is one embedscope wrote for this record."""
        if self.meta_sha256 is None:
            return True
        return meta_checksum in (self.meta_sha256, self.next_meta_sha256)


def way_out(name: str) -> str:
    """The fix every damage message ends with."""
    return (
        f"Way out: restore a snapshot (`embedscope restore FILE --as {name} --recreate`) or "
        f"re-ingest with the same `embedscope ingest …` command plus --recreate; "
        f"`embedscope check --collection {name}` lists what is wrong."
    )


def damaged(name: str, what: str) -> DamagedCollectionError:
    """The one-line error for a damaged collection: which, what is wrong, the way out."""
    return DamagedCollectionError(f"collection {name!r} is damaged: {what}. {way_out(name)}")


def meta_sha256(collection_dir: Path) -> str | None:
    """Checksum of ``meta.json`` (None when there is none)."""
    try:
        return hashlib.sha256((collection_dir / META).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def fingerprint(shard_dir: Path) -> dict[str, list[int]]:
    """Size and mtime of every shard file except the write-ahead log (~1 ms for a shard)."""
    out: dict[str, list[int]] = {}
    for root, dirs, files in os.walk(shard_dir):
        if Path(root) == shard_dir:
            dirs[:] = [d for d in dirs if d not in _UNFINGERPRINTED]
        for fname in files:
            path = os.path.join(root, fname)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            out[os.path.relpath(path, shard_dir)] = [st.st_size, st.st_mtime_ns]
    return out


def read_record(collection_dir: Path, name: str) -> IntegrityRecord | None:
    """The stored record, None for a collection made before records existed.

    Raises:
        DamagedCollectionError: the record exists but cannot be read.
    """
    return _parse_record(_read_bytes(collection_dir / RECORD, name), collection_dir / RECORD, name)


def _read_bytes(path: Path, name: str) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        what = "integrity record" if path.name == RECORD else "metadata file"
        raise damaged(name, f"its {what} {path} cannot be read ({exc})") from exc


def _parse_record(raw: bytes | None, path: Path, name: str) -> IntegrityRecord | None:
    if raw is None:
        return None
    known = {f.name for f in fields(IntegrityRecord)}
    try:
        data = json.loads(raw)
        return IntegrityRecord(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError, AttributeError) as exc:
        raise damaged(name, f"its integrity record {path} cannot be read ({exc})") from exc


def stamp(collection_dir: Path) -> tuple[Any, ...] | None:
    """Inode, size and mtime of ``meta.json`` and the record: another value means either was
    replaced since (None when one is missing)."""
    try:
        a, b = os.stat(collection_dir / META), os.stat(collection_dir / RECORD)
    except OSError:
        return None
    return (a.st_ino, a.st_size, a.st_mtime_ns, b.st_ino, b.st_size, b.st_mtime_ns)


def read_meta_and_record(collection_dir: Path, name: str) -> tuple[bytes | None, IntegrityRecord | None]:
    """``meta.json``'s bytes and the integrity record as one writer left them (see the module
    docstring); None for a file that does not exist.

    Raises:
        DamagedCollectionError: the record exists but cannot be read.
    """
    record_path = collection_dir / RECORD
    after = _read_bytes(record_path, name)
    meta: bytes | None = None
    for _ in range(_PAIR_TRIES):
        before = after
        meta = _read_bytes(collection_dir / META, name)
        after = _read_bytes(record_path, name)
        if after == before:
            break
        time.sleep(0.001)  # a writer is between its renames
    return meta, _parse_record(after, record_path, name)


def write_record(collection_dir: Path, record: IntegrityRecord) -> None:
    """Replace the record atomically (temp file + rename)."""
    from embedscope.contract import now_iso

    record.updated_at = now_iso()
    data = asdict(record)
    if data["next_meta_sha256"] is None:
        del data["next_meta_sha256"]  # the record as versions before the field read it
    _replace(collection_dir / RECORD, json.dumps(data, indent=1).encode())


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` under a temporary name of its own, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_meta(collection_dir: Path, name: str, meta: bytes) -> None:
    """Replace ``meta.json`` and the record's checksum of it together (the caller holds the
    collection's lock): a reader (`read_meta_and_record`) sees the old pair or the new one."""
    record = read_record(collection_dir, name)
    checksum = hashlib.sha256(meta).hexdigest()
    if record is not None:
        record.next_meta_sha256 = checksum
        write_record(collection_dir, record)
    _replace(collection_dir / META, meta)
    if record is not None:
        record.meta_sha256, record.next_meta_sha256 = checksum, None
        write_record(collection_dir, record)


def untouched(collection_dir: Path, record: IntegrityRecord | None) -> IntegrityRecord | None:
    """``record`` when it describes the shard's files as they are (left closed, the same
    fingerprint): its count and facets are the collection's without opening it; else None."""
    if record is None or record.state != "closed" or not record.files:
        return None
    return record if fingerprint(collection_dir / "shard") == record.files else None


def needs_probe(collection_dir: Path, record: IntegrityRecord | None) -> str | None:
    """Why the shard must be probed in a child process first, or None when it looks untouched."""
    if record is None:
        return "it has no integrity record yet"
    if record.state != "closed":
        return "its last writer did not close it"
    if fingerprint(collection_dir / "shard") != record.files:
        return "its files changed since it was last closed"
    return None


def count_problem(record: IntegrityRecord | None, count: int) -> str | None:
    """What is wrong with ``count`` given the record, or None.

    A writer that died may have left more points than its last flush recorded (the engine's
    write-ahead log replays them), never fewer.
    """
    if record is None:
        return None
    if count < record.points or (record.state == "closed" and count != record.points):
        when = f" at {record.updated_at}" if record.updated_at else ""
        return (f"it holds {count} points but its integrity record says {record.points} "
                f"(written{when}); points were lost or its files were replaced")
    return None


def meta_problem(collection_dir: Path, record: IntegrityRecord | None,
                 meta: bytes | None = None) -> str | None:
    """A meta.json (``meta``: its bytes, read with the record by `read_meta_and_record`; None:
    read now) that differs from the checksum the record holds, or None."""
    if record is None or record.meta_sha256 is None:
        return None
    checksum = hashlib.sha256(meta).hexdigest() if meta is not None else meta_sha256(collection_dir)
    if not record.accepts(checksum):
        return (f"{collection_dir / META} was changed outside embedscope "
                "(its checksum differs from the integrity record)")
    return None


_PROBE = """
import json, sys
import numpy as np
import qdrant_edge as q
shard = q.EdgeShard.load(sys.argv[1])
n = shard.count(q.CountRequest(exact=True))
bad, example, offset, seen = 0, None, None, 0
while seen < int(sys.argv[2]):  # stored vectors must be finite and unit length (cosine)
    recs, offset = shard.scroll(q.ScrollRequest(offset=offset, limit=4096, with_payload=False,
                                                with_vector=True))
    vecs = [r.vector.get("", next(iter(r.vector.values()), None)) if isinstance(r.vector, dict)
            else r.vector for r in recs]
    seen += len(recs)
    if recs:
        mat = np.asarray(vecs, dtype=np.float64)
        ok = np.isfinite(mat).all(axis=1)
        with np.errstate(all="ignore"):
            ok &= np.abs(np.linalg.norm(np.where(np.isfinite(mat), mat, 0), axis=1) - 1) <= 1e-3
        if not ok.all():
            bad += int((~ok).sum())
            example = example or str(recs[int(np.flatnonzero(~ok)[0])].id)
    if offset is None:
        break
shard.close()
print(json.dumps({"points": n, "bad_vectors": bad, "example": example}))
"""


def probe(shard_dir: Path, name: str) -> int:
    """Open the shard in a child process and read every vector; the point count, or
    DamagedCollectionError.

    The engine may abort the process on a damaged file; only the child dies then.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(shard_dir), str(PROBE_VECTORS)],
            capture_output=True, text=True,
            timeout=PROBE_TIMEOUT, env={**os.environ, "RUST_BACKTRACE": "0"},
        )
    except subprocess.TimeoutExpired as exc:
        raise damaged(name, f"opening its files took over {PROBE_TIMEOUT:.0f} s") from exc
    if proc.returncode == 0:
        try:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            points, bad = int(out["points"]), int(out["bad_vectors"])
        except (ValueError, KeyError, IndexError) as exc:
            raise damaged(name, f"opening it printed {proc.stdout[-200:]!r}") from exc
        if bad:
            raise damaged(name, f"{bad} of its {points} vectors are not finite or not of unit "
                          f"length (e.g. point {out['example']}): its vector file was altered")
        return points
    raise damaged(name, f"the storage engine {_failure(proc.returncode, proc.stderr)} "
                  f"while opening {shard_dir}")


def _failure(returncode: int, stderr: str) -> str:
    """'crashed (SIGABRT: <panic message>)' or 'failed (<last error line>)'."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    detail = ""
    for i, ln in enumerate(lines):
        if "panicked at" in ln:
            detail = lines[i + 1] if i + 1 < len(lines) and ln.endswith(":") else ln
            break
    if not detail and lines:
        detail = lines[-1]
    detail = detail[:300]
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode).name
        except ValueError:
            sig = f"signal {-returncode}"
        return f"crashed ({sig}{': ' + detail if detail else ''})"
    return f"failed ({detail or f'exit {returncode}'})"


def open_shard(q: Any, shard_dir: Path, name: str, record: IntegrityRecord | None) -> tuple[Any, int]:
    """Load an Edge shard (probed in a child process first when the record asks) and its count.

    Raises:
        CollectionBusyError: another process holds the shard.
        DamagedCollectionError: the engine cannot open or count it, or the count is not the record's.
    """
    why = needs_probe(shard_dir.parent, record)
    if why:
        log.debug("probing %s in a child process: %s", name, why)
        probe(shard_dir, name)
    try:
        shard = q.EdgeShard.load(str(shard_dir))
    except Exception as exc:  # qdrant_edge raises plain Exception
        if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
            raise CollectionBusyError(busy_message(name)) from exc
        raise damaged(name, f"the storage engine cannot open it ({exc})") from exc
    try:
        count = int(shard.count(q.CountRequest(exact=True)))
    except Exception as exc:
        shard.close()
        raise damaged(name, f"counting its points failed ({exc})") from exc
    problem = count_problem(record, count)
    if problem:
        shard.close()
        raise damaged(name, problem)
    return shard, count


def describe(record: IntegrityRecord | None) -> dict[str, Any]:
    """The record as `embedscope check --json` shows it."""
    if record is None:
        return {"record": None}
    return {"record": {"points": record.points, "state": record.state,
                       "updated_at": record.updated_at}}
