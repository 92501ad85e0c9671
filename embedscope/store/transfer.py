"""Copy a collection between stores (embedded ↔ server) without re-embedding, then verify it."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from embedscope.errors import EmbedscopeError, TransferMismatchError, UsageError
from embedscope.store import Record, Store

#: Tolerance for vectors read back from the target (both engines store float32).
VECTOR_ATOL = 1e-5


class TransferSettings(BaseSettings):
    """What push / pull copy, where to, and how."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_TRANSFER_", extra="ignore")

    remote_url: str | None = Field(
        default=None, description="The Qdrant server copied to (push: --to) or from (pull: --from), "
        "e.g. http://host:6333.", json_schema_extra={"metavar": "URL"},
    )
    collection: str | None = Field(default=None, description="Collection to copy.")
    target_collection: str | None = Field(
        default=None, description="Name of the copy (default: the same name).",
        json_schema_extra={"flag": "--as", "metavar": "NAME"},
    )
    remote_api_key: SecretStr | None = Field(
        default=None, description="API key of the remote server (default: EMBEDSCOPE_QDRANT_API_KEY).",
        json_schema_extra={"flag": "--api-key"},
    )
    batch: int = Field(default=256, ge=1, description="Points read and written per request.")
    verify_sample: int = Field(
        default=256, ge=0, description="How many points are compared (payload and vector) after the copy.",
    )
    seed: int = Field(default=0, description="Seed for choosing the verified sample.")
    recreate: bool = Field(default=False, description="Replace the target collection if it exists.")
    shard_number: int | None = Field(
        default=None, ge=1, description="Shards of the new collection on a server or cluster."
    )
    replication_factor: int | None = Field(
        default=None, ge=1, description="Copies of each shard of the new collection on a cluster."
    )

    def check(self) -> None:
        """A remote URL and a collection must be given.

        Raises:
            UsageError: one is missing.
        """
        if not self.remote_url:
            raise UsageError("no Qdrant server given: pass --to URL (push) or --from URL (pull), "
                             "e.g. http://localhost:6333")
        if not self.collection:
            raise UsageError("no collection given: pass --collection NAME "
                             "(`embedscope collections` lists them)")


@dataclass
class TransferReport:
    """What a copy did and what its verification found."""

    source: str
    target: str
    collection: str
    target_collection: str
    copied: int
    source_count: int
    target_count: int
    verified_sample: int
    created: bool
    seconds: float

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        rate = self.copied / self.seconds if self.seconds > 0 else 0.0
        return [
            f"copied {self.collection} ({self.source}) → {self.target_collection} ({self.target})",
            f"  points: {self.copied} copied in {self.seconds:.1f} s ({rate:.0f}/s); "
            f"source {self.source_count}, target {self.target_count}",
            f"  verified: counts equal, metadata equal, {self.verified_sample} sampled points "
            "with equal payloads and vectors",
        ]


def _sample_ids(ids_seen: list[str], rng: random.Random, k: int, seen: int, new: list[str]) -> int:
    """Reservoir-sample ``new`` ids into ``ids_seen`` (size ≤ k); return the updated count."""
    for pid in new:
        seen += 1
        if len(ids_seen) < k:
            ids_seen.append(pid)
        else:
            j = rng.randrange(seen)
            if j < k:
                ids_seen[j] = pid
    return seen


def verify_copy(src: Store, dst: Store, name: str, dst_name: str, sample_ids: list[str]) -> int:
    """Check counts, metadata and the sampled points (payload equal, vectors close).

    Returns the number of points compared; raises TransferMismatchError naming what differs.
    """
    fix = "Re-run with --recreate to replace the target collection."
    src_count, dst_count = src.count(name), dst.count(dst_name)
    if src_count != dst_count:
        raise TransferMismatchError(
            f"{dst_name!r} in {dst.location} holds {dst_count} points; the source {name!r} holds "
            f"{src_count}. The target probably held other points before the copy. {fix}"
        )
    src_meta, dst_meta = src.get_meta(name), dst.get_meta(dst_name)
    if src_meta.model_dump() != dst_meta.model_dump():
        raise TransferMismatchError(
            f"metadata of {dst_name!r} differs from the source after the copy "
            f"(source {src_meta.model_dump()}, target {dst_meta.model_dump()}). {fix}"
        )
    if not sample_ids:
        return 0
    theirs: dict[str, Record] = {
        r.id: r for r in dst.retrieve(dst_name, sample_ids, with_payload=True, with_vectors=True)
    }
    mine = src.retrieve(name, sample_ids, with_payload=True, with_vectors=True)
    for rec in mine:
        other = theirs.get(rec.id)
        if other is None:
            raise TransferMismatchError(f"point {rec.id} is missing from {dst_name!r}. {fix}")
        if other.payload != rec.payload:
            keys = sorted(k for k in set(rec.payload) | set(other.payload)
                          if rec.payload.get(k) != other.payload.get(k))
            raise TransferMismatchError(
                f"point {rec.id}: payload fields {keys} differ between source and target. {fix}"
            )
        a, b = rec.vector, other.vector
        if a is None or b is None or a.shape != b.shape or not np.allclose(a, b, atol=VECTOR_ATOL):
            raise TransferMismatchError(
                f"point {rec.id}: the vector in {dst_name!r} differs from the source. {fix}"
            )
    return len(mine)


def copy_collection(
    src: Store, dst: Store, name: str, dst_name: str | None = None, batch: int = 256,
    verify_sample: int = 256, recreate: bool = False, shard_number: int | None = None,
    replication_factor: int | None = None, seed: int = 0, progress: bool = True,
) -> TransferReport:
    """Copy collection ``name`` (vectors, payloads, metadata) from ``src`` to ``dst``.

    The target is created with the source's metadata (and ``shard_number`` /
    ``replication_factor`` on a server); an existing target must be in the same vector space
    (MixedSpaceError otherwise) unless ``recreate`` replaces it. Point ids are kept, so a
    re-run overwrites instead of duplicating. After the copy the counts, the metadata and
    ``verify_sample`` randomly chosen points are compared.

    Args:
        src: Store holding the collection.
        dst: Store to copy into.
        name: Source collection.
        dst_name: Target collection (default: the same name).
        batch: Points per scroll page and upsert.
        verify_sample: Points compared after the copy (0: counts and metadata only).
        recreate: Drop an existing target first.
        shard_number: Shards of a new server collection (None: the server's default).
        replication_factor: Copies of each shard on a cluster (None: the server's default).
        seed: Seed for the verified sample.
        progress: Show a progress bar (on a terminal).

    Returns:
        A TransferReport; raises TransferMismatchError when the copy does not match.
    """
    from tqdm.auto import tqdm

    dst_name = dst_name or name
    if batch < 1:
        raise UsageError(f"batch {batch}: expected a positive number of points per request")
    if src is dst and dst_name == name:
        raise UsageError(f"source and target are both {name!r} in {src.location}: nothing to copy")
    start = time.perf_counter()
    meta = src.get_meta(name)
    total = src.count(name)
    created = recreate or not dst.collection_exists(dst_name)
    dst.ensure_collection(
        dst_name, meta, recreate=recreate, shard_number=shard_number,
        replication_factor=replication_factor,
    )
    rng = random.Random(seed)
    sample: list[str] = []
    seen = copied = 0
    offset: str | None = None
    with tqdm(total=total, unit="pt", desc=f"copy {name}", disable=None if progress else True) as bar:
        while True:
            records, offset = src.scroll_page(name, offset, batch, None, True, True)
            if records:
                vectors = np.vstack([_vector_of(r, meta.dimension) for r in records])
                dst.upsert(dst_name, [r.id for r in records], vectors, [r.payload for r in records])
                copied += len(records)
                seen = _sample_ids(sample, rng, verify_sample, seen, [r.id for r in records])
                bar.update(len(records))
            if offset is None:
                break
    dst.update_meta(dst_name, **meta.model_dump())
    dst.optimize(dst_name)
    verified = verify_copy(src, dst, name, dst_name, sample)
    return TransferReport(
        source=src.location, target=dst.location, collection=name, target_collection=dst_name,
        copied=copied, source_count=total, target_count=dst.count(dst_name),
        verified_sample=verified, created=created, seconds=time.perf_counter() - start,
    )


def _vector_of(rec: Record, dim: int) -> np.ndarray:
    if rec.vector is None:
        raise EmbedscopeError(f"point {rec.id} has no vector; the source collection is damaged")
    vec = np.asarray(rec.vector, dtype=np.float32)
    if vec.shape != (dim,):
        raise EmbedscopeError(f"point {rec.id} has a {vec.shape} vector; the metadata says {dim}-d")
    return vec
