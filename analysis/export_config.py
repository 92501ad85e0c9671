"""Settings of `embedscope export`: one pydantic-settings class, fed by EMBEDSCOPE_EXPORT_* and flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from embedscope.errors import UsageError


class ExportSettings(BaseSettings):
    """Everything `embedscope export` can be told."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_EXPORT_", extra="ignore")

    collection: str | None = Field(
        default=None, description="Collection exported (required; `embedscope collections` "
        "lists them).",
    )
    out: Path | None = Field(
        default=None, description="Folder written (required): data/<split>-NNNNN-of-NNNNN.parquet "
        "and a dataset card README.md, a 🤗 dataset folder (files of an earlier export there "
        "are replaced).",
    )
    vectors: bool = Field(
        default=True, description="Write the vector column (a fixed-size list of float32); "
        "--no-vectors leaves it out (a smaller file for Embedding Atlas or pandas).",
    )
    thumbnails: bool = Field(
        default=True, description="Write the thumbnail column (image bytes, the 🤗 Image "
        "feature); --no-thumbnails leaves it out.",
    )
    neighbors: int = Field(
        default=15, ge=0, le=200,
        description="Nearest neighbours per row in the neighbors column ({ids: row numbers of "
        "the export, distances: cosine distances}, as Embedding Atlas reads them); 0: no column.",
    )
    exact_neighbors_up_to: int = Field(
        default=50_000, ge=0,
        description="Collections of at most this many points get exact neighbours (blocked "
        "products of all their vectors, held once: 50k × 384-d is 77 MB); larger ones the "
        "collection's HNSW index, one page of queries at a time (approximate, bounded memory).",
    )
    rows_per_file: int = Field(
        default=100_000, ge=1, description="Rows per parquet file: bounds each file's size.",
    )
    batch_size: int = Field(
        default=1024, ge=1, le=100_000,
        description="Points read from the store (and queried for neighbours) per request: "
        "memory holds one batch, whatever the collection's size.",
    )
    push_to_hub: str = Field(
        default="", description="After writing, upload the folder to this 🤗 Hub dataset "
        "repository (e.g. user/fashion-mnist-dinov2; empty: no upload). Needs a token "
        "(`hf auth login` or HF_TOKEN) and the hub reachable.",
        json_schema_extra={"metavar": "REPO"},
    )
    private: bool = Field(default=False, description="Create the --push-to-hub repository private.")
    progress: bool = Field(default=True, description="A progress bar on stderr.")

    def check(self) -> None:
        """Fail early without a collection or a folder, or with the hub switched off."""
        if not self.collection:
            raise UsageError("no collection given: pass --collection NAME (`embedscope "
                             "collections` lists them)")
        if self.out is None:
            raise UsageError("no folder given: pass --out DIR (it is created; the parquet files "
                             "go to DIR/data and the dataset card to DIR/README.md)")
