"""`embedscope snapshot` / `restore`: byte-faithful backups of a collection, verified on restore.

A snapshot file is a tar (gzip level 1) holding ``embedscope-snapshot.json`` (format, kind,
collection, point count, metadata and a sample of points with their vectors) and either the
embedded shard (``meta.json``, ``integrity.json``, ``shard/…`` without its write-ahead log,
which the engine rebuilds on open) or the Qdrant server's own collection snapshot
(``collection.snapshot``). Restoring checks the count, the metadata and the sampled vectors.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

import embedscope.store.integrity as integrity
from embedscope.contract import CollectionMeta, now_iso
from embedscope.errors import DamagedCollectionError, EmbedscopeError, UsageError
from embedscope.store import Store
from embedscope.store.edge import EdgeStore
from embedscope.store.points import check_name
from embedscope.store.remote import RemoteStore

MANIFEST = "embedscope-snapshot.json"
SERVER_FILE = "collection.snapshot"
FORMAT = 1
#: Points whose vectors travel in the manifest and are compared after a restore.
SAMPLE = 32
VECTOR_ATOL = 1e-6


@dataclass
class SnapshotReport:
    """What snapshot or restore did."""

    action: str
    collection: str
    path: str
    points: int
    kind: str
    target: str
    bytes: int
    seconds: float
    verified_sample: int = 0
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """As `--json` prints it."""
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        if self.action == "snapshot":
            out = [f"snapshot of {self.collection} ({self.points} points, {self.kind}) written to "
                   f"{self.path} ({self.bytes / 2**20:.1f} MB) in {self.seconds:.1f} s"]
        else:
            out = [f"restored {self.collection} ({self.points} points) into {self.target} from "
                   f"{self.path} in {self.seconds:.1f} s; verified: count, metadata and "
                   f"{self.verified_sample} sampled vectors"]
        return out + ([f"  {self.note}"] if self.note else [])


def _sample(store: Store, name: str) -> list[dict[str, Any]]:
    recs, _ = store.scroll_page(name, None, SAMPLE, None, False, True)
    return [{"id": r.id, "vector": np.asarray(r.vector, dtype=np.float32).tolist()} for r in recs]


def default_path(data_dir: Path, name: str) -> Path:
    """Where a snapshot goes without --output: ``<data dir>/snapshots/<name>-<UTC time>.tar.gz``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return data_dir / "snapshots" / f"{name}-{stamp}.tar.gz"


def _manifest(kind: str, name: str, points: int, meta: CollectionMeta,
              sample: list[dict[str, Any]]) -> bytes:
    return json.dumps({"format": FORMAT, "kind": kind, "collection": name, "points": points,
                       "meta": meta.model_dump(), "sample": sample, "created_at": now_iso()}).encode()


def _add_bytes(tar: tarfile.TarFile, arcname: str, data: bytes) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def snapshot(store: Store, name: str, output: Path) -> SnapshotReport:
    """Write a verified-on-restore snapshot of ``name`` to ``output``.

    Raises:
        CollectionNotFoundError: no such collection.
        DamagedCollectionError: the collection fails its integrity check (a snapshot of
            damaged data would only carry the damage along).
        CollectionBusyError: (embedded) another process has it open.
    """
    start = time.perf_counter()
    meta = store.get_meta(name)
    points = store.count(name)
    sample = _sample(store, name)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    kind = "embedded" if isinstance(store, EdgeStore) else "server"
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
            _add_bytes(tar, MANIFEST, _manifest(kind, name, points, meta, sample))
            if isinstance(store, EdgeStore):
                _pack_edge(store, name, tar)
            elif isinstance(store, RemoteStore):
                _pack_server(store, name, tar)
            else:  # pragma: no cover - every backend is one of the two
                raise UsageError(f"snapshots are not supported for {store.location}")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return SnapshotReport("snapshot", name, str(output), points, kind, store.location,
                          output.stat().st_size, time.perf_counter() - start)


def _pack_edge(store: EdgeStore, name: str, tar: tarfile.TarFile) -> None:
    """Flush and close the shard (the lock stays held), then add its files."""
    if name in store._shards:
        store._close_one(name)
    cdir = store._dir(name)
    tar.add(cdir / integrity.META, integrity.META)
    tar.add(cdir / integrity.RECORD, integrity.RECORD)
    shard = cdir / "shard"
    for root, dirs, files in os.walk(shard):
        if Path(root) == shard:
            dirs[:] = [d for d in dirs if d != "wal"]
        for fname in sorted(files):
            path = Path(root) / fname
            tar.add(path, "shard/" + str(path.relative_to(shard)))


def _server_http(store: RemoteStore) -> Any:
    import httpx

    headers = {"api-key": store.api_key} if store.api_key else {}
    return httpx.Client(base_url=store.url.rstrip("/"), headers=headers, timeout=600)


def _pack_server(store: RemoteStore, name: str, tar: tarfile.TarFile) -> None:
    if store.backend == "memory":
        raise UsageError("qdrant-client's in-memory mode has no snapshots; use a Qdrant server "
                         "or the embedded store")
    desc = store._call(store.client.create_snapshot, name, wait=True)
    if desc is None:
        raise EmbedscopeError(f"the {store.location} made no snapshot of {name!r}")
    try:
        with tempfile.TemporaryDirectory() as tmpdir, _server_http(store) as http:
            local = Path(tmpdir) / SERVER_FILE
            with http.stream("GET", f"/collections/{name}/snapshots/{desc.name}") as resp:
                resp.raise_for_status()
                with open(local, "wb") as fh:
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
            tar.add(local, SERVER_FILE)
    finally:
        store._call(store.client.delete_snapshot, name, desc.name, wait=True)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a snapshot file.

    Raises:
        UsageError: the file is missing or not an embedscope snapshot.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"snapshot {str(path)!r} is not a file; `embedscope snapshot` writes "
                         "them (default folder: <data dir>/snapshots)")
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.extractfile(MANIFEST)
            raw = json.loads(member.read()) if member else None
    except (tarfile.TarError, KeyError, ValueError, OSError, EOFError) as exc:
        raise UsageError(f"{str(path)!r} is not a readable embedscope snapshot ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise UsageError(f"{str(path)!r} is not an embedscope snapshot of format {FORMAT}")
    return raw


def restore(store: Store, path: Path, as_name: str | None = None,
            recreate: bool = False) -> SnapshotReport:
    """Restore the snapshot at ``path`` into ``store`` as ``as_name`` (default: its own name).

    Raises:
        UsageError: not a snapshot, or the target exists and ``recreate`` is not set.
        CollectionBusyError: (embedded) another process has the target open.
        DamagedCollectionError: the restored data does not match the snapshot's manifest.
    """
    start = time.perf_counter()
    manifest = read_manifest(path)
    name = as_name or str(manifest["collection"])
    check_name(name)
    note = ""
    if isinstance(store, EdgeStore):
        if manifest["kind"] != "embedded":
            raise UsageError(
                f"{str(path)!r} is a Qdrant server snapshot: restore it into a server "
                "(--qdrant-url URL), then `embedscope pull` copies it to the embedded store")
        _restore_edge(store, Path(path), manifest, name, recreate)
    elif isinstance(store, RemoteStore) and manifest["kind"] == "server":
        _restore_server(store, Path(path), name, recreate)
    elif isinstance(store, RemoteStore):
        note = _restore_edge_to_server(store, Path(path), manifest, name, recreate)
    verified = verify(store, name, manifest)
    return SnapshotReport("restore", name, str(path), int(manifest["points"]), manifest["kind"],
                          store.location, Path(path).stat().st_size,
                          time.perf_counter() - start, verified, note)


def verify(store: Store, name: str, manifest: dict[str, Any]) -> int:
    """Compare count, metadata and sampled vectors with the manifest; the number compared."""
    def bad(what: str) -> DamagedCollectionError:
        return DamagedCollectionError(
            f"restored collection {name!r} does not match its snapshot: {what}. The snapshot file "
            "is damaged or was changed; restore an older one or re-ingest.")

    count = store.count(name)
    if count != manifest["points"]:
        raise bad(f"{count} points, the snapshot holds {manifest['points']}")
    meta = store.get_meta(name).model_dump()
    if meta != manifest["meta"]:
        diff = sorted(k for k in meta if meta.get(k) != manifest["meta"].get(k))
        raise bad(f"metadata fields {diff} differ")
    sample = {s["id"]: np.asarray(s["vector"], dtype=np.float32) for s in manifest["sample"]}
    found = {r.id: r.vector for r in store.retrieve(name, list(sample), False, True)}
    for pid, vec in sample.items():
        got = found.get(pid)
        if got is None or got.shape != vec.shape or not np.allclose(got, vec, atol=VECTOR_ATOL):
            raise bad(f"point {pid} is missing or its vector differs")
    return len(sample)


def _restore_edge(store: EdgeStore, path: Path, manifest: dict[str, Any], name: str,
                  recreate: bool) -> None:
    import embedscope.store.space as space

    store._lock(name, "open")
    if store.collection_exists(name) and not recreate:
        raise UsageError(f"collection {name!r} already exists in {store.location}; pass "
                         "--recreate to replace it with the snapshot, or --as NAME for a copy")
    store.root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "r:*") as tar:
        size = sum(m.size for m in tar.getmembers())
        space.require(store.root, name, 0, 0, size + store.reserve, "restore a snapshot")
        tmp = store.root / f".restoring-{name}-{uuid.uuid4().hex[:8]}"
        try:
            tar.extractall(tmp, filter="data")
            _check_restored_shard(store, tmp, manifest, name)
            trash = store.root / f".deleting-{name}-{uuid.uuid4().hex[:8]}"
            if store.collection_exists(name):
                store._forget(name)
                shard = store._shards.pop(name, None)
                store._open.pop(name, None)
                if shard is not None:
                    shard.close()
                os.rename(store._dir(name), trash)
            os.rename(tmp, store._dir(name))
            shutil.rmtree(trash, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _check_restored_shard(store: EdgeStore, tmp: Path, manifest: dict[str, Any],
                          name: str) -> None:
    """Open the unpacked shard (in a child first: a damaged file may abort the engine)."""
    (tmp / MANIFEST).unlink(missing_ok=True)
    count = integrity.probe(tmp / "shard", name)
    if count != manifest["points"]:
        raise DamagedCollectionError(
            f"snapshot of {name!r} holds {count} points, its manifest says "
            f"{manifest['points']}: the snapshot file is damaged; use another one or re-ingest.")
    try:
        CollectionMeta.model_validate_json((tmp / integrity.META).read_bytes())
    except (ValueError, OSError) as exc:
        raise DamagedCollectionError(
            f"snapshot of {name!r} has unreadable metadata ({exc}): the snapshot file is "
            "damaged; use another one or re-ingest.") from exc
    integrity.write_record(tmp, integrity.IntegrityRecord(
        points=count, meta_sha256=integrity.meta_sha256(tmp),
        files=integrity.fingerprint(tmp / "shard")))


def _restore_server(store: RemoteStore, path: Path, name: str, recreate: bool) -> None:
    if store.collection_exists(name):
        if not recreate:
            raise UsageError(f"collection {name!r} already exists in {store.location}; pass "
                             "--recreate to replace it with the snapshot, or --as NAME")
        store.delete_collection(name)
    with tempfile.TemporaryDirectory() as tmpdir, tarfile.open(path, "r:*") as tar:
        tar.extract(SERVER_FILE, tmpdir, filter="data")
        with _server_http(store) as http, open(Path(tmpdir) / SERVER_FILE, "rb") as fh:
            resp = http.post(f"/collections/{name}/snapshots/upload",
                             params={"priority": "snapshot", "wait": "true"},
                             files={"snapshot": (SERVER_FILE, fh)})
            if resp.status_code >= 400:
                raise EmbedscopeError(f"the {store.location} refused the snapshot of {name!r}: "
                                      f"{resp.status_code} {resp.text[:300]}")
    store._forget(name)


def _restore_edge_to_server(store: RemoteStore, path: Path, manifest: dict[str, Any], name: str,
                            recreate: bool) -> str:
    """An embedded (shard) snapshot into a server: unpack locally, then copy the points."""
    from embedscope.store.transfer import copy_collection

    with tempfile.TemporaryDirectory() as tmpdir:
        local = EdgeStore(Path(tmpdir))
        try:
            _restore_edge(local, path, manifest, name, recreate=False)
            copy_collection(local, store, name, name, recreate=recreate, progress=False)
        finally:
            local.close()
    return ("an embedded snapshot is an Edge shard, which a server does not take as a "
            "collection snapshot: it was unpacked locally and its points copied (as `push` does)")
