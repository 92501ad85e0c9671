"""What one ingest run did: counts, rejects, timings and what happened to the index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reject:
    """An image that could not be embedded, and why."""

    point_id: str
    split: str
    index: int
    source: str | None
    reason: str


@dataclass
class IngestSummary:
    """What one ingest run did.

    ``seconds`` runs from the start to a complete, searchable collection (exact search by brute
    force where no index is built yet); ``index_seconds`` is the index build, counted apart.
    """

    collection: str
    selected: int = 0
    ingested: int = 0
    skipped: int = 0
    rejected: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    rejects_file: str | None = None
    points_in_collection: int = 0
    index: str = "not built"  # what happened to the HNSW index (see `index_line`)
    index_seconds: float = 0.0
    indexed_vectors: int | None = None  # embedded: vectors in the HNSW index; server: not reported
    first_batch_seconds: float = 0.0  # start → the first batch embedded and stored
    loop_seconds: float = 0.0  # the embedding loop alone (first batch → last upsert)
    compiled: bool = False  # torch.compile was used
    device: str = ""
    max_label: int = -1  # the largest label id seen (names integer labels that have none)

    @property
    def images_per_second(self) -> float:
        """Throughput of the images embedded in this run (start → searchable collection)."""
        return self.ingested / self.seconds if self.seconds > 0 else 0.0

    def index_line(self) -> str:
        """One line saying what happened to the index and how search behaves meanwhile."""
        if self.index == "built":
            done = "" if self.indexed_vectors is None else f", {self.indexed_vectors} vectors indexed"
            if self.indexed_vectors is not None and self.indexed_vectors < self.points_in_collection:
                done += " (segments under Qdrant's indexing threshold are searched exactly, by brute force)"
            return f"index             built in {self.index_seconds:.1f} s{done}"
        if self.index == "pending":
            return "index             building now; the collection is already searchable (exact search)"
        if self.index == "skipped":
            return ("index             not built (--index skip): searches are exact (brute force); "
                    "re-run with --index wait to build it")
        if self.index == "server":
            return "index             built by the Qdrant server in the background"
        return f"index             {self.index}"

    def lines(self) -> list[str]:
        """The closing summary, one line per figure."""
        out = [
            f"collection        {self.collection} ({self.points_in_collection} points)",
            f"ingested          {self.ingested}",
            f"skipped (stored)  {self.skipped}",
            f"rejected          {len(self.rejected)}",
            f"time              {self.seconds:.1f} s to a searchable collection "
            f"(first batch after {self.first_batch_seconds:.1f} s, embedding loop {self.loop_seconds:.1f} s)",
            f"images/s          {self.images_per_second:.1f}",
            self.index_line(),
        ]
        for r in self.rejected[:20]:
            out.append(f"  rejected {r.source or f'{r.split}[{r.index}]'}: {r.reason}")
        if len(self.rejected) > 20:
            out.append(f"  … and {len(self.rejected) - 20} more")
        if self.rejected and self.rejects_file:
            out.append(f"rejects listed in {self.rejects_file}")
        return out

    def as_json(self) -> dict[str, Any]:
        """The summary as plain JSON-able data (``--json``)."""
        data = {k: v for k, v in self.__dict__.items() if k not in ("rejected", "max_label")}
        data["rejected"] = [r.__dict__ for r in self.rejected]
        data["images_per_second"] = self.images_per_second
        return data
