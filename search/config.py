"""Settings for reaching Qdrant: embedded under a data directory, or a server by URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The data directory used when EMBEDSCOPE_DATA_DIR is unset (XDG data home)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "embedscope"


class QdrantSettings(BaseSettings):
    """Where the vectors live."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_", extra="ignore")

    qdrant_url: str | None = Field(
        default=None,
        description="Qdrant server URL (e.g. http://localhost:6333). Unset: embedded Qdrant Edge "
        "under the data directory. ':memory:' uses qdrant-client's in-memory mode (tests only).",
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None, description="API key for the Qdrant server, if it requires one."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory for embedded collections, reports and reject lists "
        "(default: $XDG_DATA_HOME/embedscope, i.e. ~/.local/share/embedscope).",
    )
    qdrant_timeout: int = Field(default=60, description="Seconds one Qdrant server request may take.")
    qdrant_retry_seconds: float = Field(
        default=120.0,
        description="How long to keep retrying (with exponential backoff) while a Qdrant server "
        "is unreachable, before failing with a clear error. Batch commands only (ingest, "
        "analyze, compare, push, pull); interactive ones use --qdrant-interactive-seconds.",
    )
    qdrant_interactive_seconds: float = Field(
        default=3.0, ge=0,
        description="How long interactive commands (collections, search, classify, evaluate, "
        "check, snapshot, restore, the UI) wait for an unreachable Qdrant server before failing "
        "with the URL and the fix.",
    )
    disk_reserve_mb: float = Field(
        default=64.0, ge=0,
        description="Free disk space (MB) the embedded store keeps in reserve: a write that would "
        "leave less stops with a clear error before the disk fills (what is stored is kept; the "
        "run resumes once space is freed).",
    )

    @property
    def embedded_dir(self) -> Path:
        """The directory holding embedded (Qdrant Edge) collections."""
        return self.data_dir / "qdrant"


class OutputSettings(BaseSettings):
    """How a command prints its result."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_", extra="ignore")

    json_output: bool = Field(
        default=False, description="Print the result as JSON (for scripts).",
        json_schema_extra={"flag": "--json"},
    )


class _OneCollection(BaseSettings):
    """A command that works on one named collection."""

    collection: str | None = Field(
        default=None, description="The collection (`embedscope collections` lists them)."
    )

    def check(self) -> None:
        """A collection must be named.

        Raises:
            UsageError: none is.
        """
        from embedscope.search.errors import UsageError

        if not self.collection:
            raise UsageError("no collection given: pass --collection NAME "
                             "(`embedscope collections` lists them)")


class QuerySettings(_OneCollection):
    """What `embedscope search` and `classify` ask: a query image or point, k and filters."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_SEARCH_", extra="ignore")

    image: str | None = Field(
        default=None, description="Query image file (any mode or size; embedded with the "
        "collection's own model and preprocessing). Give this or --id.",
    )
    point_id: str | None = Field(
        default=None, description="Query by a stored point (left out of its own neighbours). "
        "Give this or --image.", json_schema_extra={"flag": "--id"},
    )
    k: int = Field(default=10, ge=1, description="Number of neighbours.", json_schema_extra={"flag": "-k"})
    split: str | None = Field(default=None, description="Only neighbours from this split.")
    label: str | None = Field(
        default=None, description="Only neighbours of this class (id or name; search only)."
    )
    exact: bool = Field(default=False, description="Exact (brute-force) search instead of HNSW.")

    def check(self) -> None:
        """A collection and exactly one of image / point id.

        Raises:
            UsageError: either is missing, or both query kinds are given.
        """
        from embedscope.search.errors import UsageError

        super().check()
        if (self.image is None) == (self.point_id is None):
            raise UsageError("give exactly one query: --image FILE or --id POINT_ID")


class EvaluateSettings(_OneCollection):
    """What `embedscope evaluate` measures."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_EVALUATE_", extra="ignore")

    query_split: str | None = Field(
        default=None, description="Split to classify (default: test, else validation)."
    )
    reference_split: str | None = Field(default=None, description="Split that votes (default: train).")
    ks: str = Field(default="1,5,10,20", description="k values, comma-separated.",
                    json_schema_extra={"flag": "-k"})
    approximate: bool = Field(
        default=False, description="HNSW search instead of exact; also measures HNSW recall."
    )
    batch_size: int = Field(default=256, ge=1, description="Queries per request.")
    progress: bool = Field(default=True, description="Show a progress bar (on a terminal).")


class BackupSettings(BaseSettings):
    """What `embedscope check`, `snapshot` and `restore` work on."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_BACKUP_", extra="ignore")

    collection: str | None = Field(
        default=None, description="The collection (check: every collection when omitted)."
    )
    output: Path | None = Field(
        default=None, description="Snapshot file to write (default: "
        "<data dir>/snapshots/<collection>-<UTC time>.tar.gz).",
    )
    target_collection: str | None = Field(
        default=None, description="Restore under this name (default: the snapshot's own).",
        json_schema_extra={"flag": "--as", "metavar": "NAME"},
    )
    recreate: bool = Field(
        default=False, description="Restore over an existing collection of the same name."
    )


def add_store_flags(parser: Any) -> None:
    """--qdrant-url, --data-dir and the other Qdrant settings, for a command that opens the store."""
    from embedscope.search.flags import add_settings_flags

    add_settings_flags(parser, QdrantSettings, title="Qdrant and storage")


def store_settings(args: Any) -> QdrantSettings:
    """The Qdrant settings of a parsed command line (flags over EMBEDSCOPE_* variables)."""
    from embedscope.search.flags import settings_from_args

    return settings_from_args(QdrantSettings, args)
