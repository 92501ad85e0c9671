"""Settings of the web interface: one pydantic-settings class fed by EMBEDSCOPE_UI_* and flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from embedscope.errors import UsageError


class UISettings(BaseSettings):
    """Everything `embedscope ui` and `python -m embedscope.ui` can be told."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_UI_", extra="ignore")

    host: str = Field(
        default="127.0.0.1",
        description="Interface to listen on (0.0.0.0 exposes the page to the network: set --auth).",
    )
    port: int = Field(default=7860, ge=0, le=65535, description="TCP port of the page.")
    auth: SecretStr | None = Field(
        default=None, description="'user:password' required to open the page (unset: no login)."
    )
    share: bool = Field(
        default=False,
        description="Ask Gradio for a public *.gradio.live link. Off unless explicitly enabled.",
    )
    collection: str | None = Field(
        default=None,
        description="Collection selected when the page opens (default: the most recently "
        "analysed one, else the first).",
    )
    max_upload_mb: float = Field(
        default=10.0, gt=0, description="Largest query upload accepted, in megabytes."
    )
    k: int = Field(default=10, ge=1, description="Neighbours shown (and voting) by default.",
                   json_schema_extra={"flag": "-k"})
    max_k: int = Field(default=50, ge=1, description="Largest k the slider offers.")
    analysis_projections: str = Field(
        default="pca",
        description="Maps computed by the page's 'Run analysis' button, comma-separated names of "
        "registered projections (pca is fast). `embedscope analyze` runs the full analysis.",
    )
    analysis_clusterers: str = Field(
        default="kmeans", description="Clusterings computed by the page's 'Run analysis' button."
    )
    analysis_sample: int = Field(
        default=20000, ge=0,
        description="The 'Run analysis' button analyses at most this many points (0 = all).",
    )
    device: str = Field(default="auto", description="Device of the query model: auto | cpu | cuda.")
    text_int8: bool = Field(
        default=False, description="Search by words and colour by a phrase with the text tower's "
        "linear layers in int8 (dynamic quantization on the CPU): several times faster, the "
        "phrase's vector near the fp32 one.",
    )

    def credentials(self) -> tuple[str, str] | None:
        """The (user, password) pair for Gradio's login, or None.

        Raises:
            UsageError: the value is not of the form user:password.
        """
        if self.auth is None:
            return None
        user, sep, password = self.auth.get_secret_value().partition(":")
        if not sep or not user or not password:
            raise UsageError(
                "--auth / EMBEDSCOPE_UI_AUTH must look like user:password (both non-empty)."
            )
        return user, password


class ExportMapSettings(BaseSettings):
    """Everything `embedscope export-map` can be told."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_EXPORT_MAP_", extra="ignore")

    collection: str | None = Field(default=None, description="Collection whose map is exported "
                                   "(required; `embedscope analyze` must have drawn it).")
    out: Path | None = Field(
        default=None, description="Folder written (required): index.html opens from disk "
        "(file://) or any static host, with no server and no store.",
    )
    projection: str = Field(
        default="", description="The map exported (a stored projection: umap, pca, …; empty: "
        "the first one stored).",
    )
    thumbnail_size: int = Field(
        default=32, ge=4, le=256,
        description="Pixels of a thumbnail's tile in the atlas images (100k Fashion-MNIST "
        "thumbnails at 32 px: 29 MB of JPEG).",
    )
    atlas_columns: int = Field(
        default=64, ge=1, le=256, description="Thumbnails per row (and rows) of one atlas image.",
    )
    atlas_quality: int = Field(default=80, ge=1, le=95, description="JPEG quality of the atlases.")
    progress: bool = Field(default=True, description="Progress lines on stderr.")

    def check(self) -> None:
        """Fail early without a collection or a folder."""
        if not self.collection:
            raise UsageError("no collection given: pass --collection NAME (`embedscope "
                             "collections` lists them)")
        if self.out is None:
            raise UsageError("no folder given: pass --out DIR (it is created; index.html opens "
                             "from disk)")
