"""Settings for reaching Qdrant: embedded under a data directory, or a server by URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


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
        "is unreachable, before failing with a clear error.",
    )

    @property
    def embedded_dir(self) -> Path:
        """The directory holding embedded (Qdrant Edge) collections."""
        return self.data_dir / "qdrant"


def settings_from_args(cls: type[S], args: Any, **overrides: Any) -> S:
    """Build a settings object: CLI flags (non-None) override EMBEDSCOPE_* variables and defaults."""
    values = {k: v for k, v in vars(args).items() if k in cls.model_fields and v is not None}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)
