"""Settings every command shares: where the store is (embedded or a server), how output prints."""

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
    qdrant_grpc: bool = Field(
        default=False,
        description="Talk to the Qdrant server over gRPC (port --qdrant-grpc-port) instead of "
        "REST: cheaper to encode vectors (see docs/benchmarks.md); the server must expose the port.",
    )
    qdrant_grpc_port: int = Field(default=6334, ge=1, le=65535,
                                  description="The Qdrant server's gRPC port (with --qdrant-grpc).")
    qdrant_upload_parallel: int = Field(
        default=4, ge=1, le=64,
        description="Batches of points an ingest has in flight to a Qdrant server at once (the "
        "server applies them in parallel while the next ones are encoded); 1: one at a time.",
    )
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

    lock_wait_seconds: float = Field(
        default=30.0, ge=0,
        description="How long a command waits for a serving process (ui, serve) to let go of an "
        "embedded collection it holds between requests; another job holding it is reported at "
        "once (exit code 5).",
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
    reindex: bool = Field(
        default=False, description="check: build an embedded collection's HNSW index again "
        "where more than 10,000 vectors lie outside it (points written since it was built, or "
        "whose payload changed), which every search would compare one by one.",
    )


#: The wait for an unreachable server that each kind of command does not read: a batch
#: command (ingest, analyze, compare, push, pull) retries for --qdrant-retry-seconds, an
#: interactive one (and the UI) gives up after --qdrant-interactive-seconds.
_OTHER_WAIT = {True: "qdrant_interactive_seconds", False: "qdrant_retry_seconds"}


def add_store_flags(parser: Any, batch: bool = False) -> None:
    """--qdrant-url, --data-dir and the other Qdrant settings, for a command that opens the store.

    Args:
        parser: The command's parser.
        batch: The command opens the store with ``open_store(..., batch=True)``: it offers (and
            reads) --qdrant-retry-seconds, an interactive one --qdrant-interactive-seconds.
    """
    from embedscope.flags import add_settings_flags

    add_settings_flags(parser, QdrantSettings, title="Qdrant and storage", skip={_OTHER_WAIT[batch]})


def store_settings(args: Any) -> QdrantSettings:
    """The Qdrant settings of a parsed command line (flags over EMBEDSCOPE_* variables)."""
    from embedscope.flags import settings_from_args

    return settings_from_args(QdrantSettings, args)
