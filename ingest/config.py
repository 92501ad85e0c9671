"""Ingestion settings: one object fed by defaults, EMBEDSCOPE_INGEST_* variables and CLI flags."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Points from which `--quantization auto` stores a new collection as int8 with its original
#: vectors on disk (docs/operations.md, memory tiers).
LARGE_COLLECTION = 1_000_000


class IngestSettings(BaseSettings):
    """What to embed, with which model, and how."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_INGEST_", extra="ignore")

    dataset: str | None = Field(
        default=None,
        description="What 🤗 datasets reads: a hub name (fashion_mnist, cifar10, user/name), a "
        "parquet / arrow / json(l) / csv file or folder, a save_to_disk folder, a folder of images "
        "(splits from train/ test/ folders), WebDataset .tar shards (a folder or a glob such as "
        "'shards/*.tar'). Streamed: memory does not grow with the dataset.",
    )
    dataset_config: str | None = Field(
        default=None, description="The dataset's configuration (subset), for datasets that have several.",
        json_schema_extra={"flag": "--config", "metavar": "NAME"},
    )
    splits: list[str] = Field(
        default_factory=list,
        description="Splits to ingest (default: all; repeat the flag for several); as a variable, "
        "a JSON list: '[\"train\"]'.",
        json_schema_extra={"flag": "--split", "metavar": "SPLIT"},
    )
    image_column: str | None = Field(default=None, description="Image column (default: detected).")
    vector_column: str | None = Field(
        default=None, description="Store the precomputed vectors of this column instead of running "
        "a model (bring your own vectors: finite, non-zero, one dimension; normalised). Images, "
        "when the dataset has them, still give thumbnails.",
    )
    space: str | None = Field(
        default=None, description="With --vector-column: the name of the vectors' space (recorded "
        "as the collection's model; the collection is <dataset>__<space>). Default: the column's name.",
    )
    label_column: str | None = Field(default=None, description="Label column (default: detected).")
    labels_from_folders: bool | None = Field(
        default=None,
        description="Image folders: the class folder an image sits in is its label. Default: as 🤗 "
        "datasets decides (labels when every image sits in a class folder); "
        "--no-labels-from-folders stores none.",
    )
    limit: int | None = Field(default=None, ge=1, description="At most this many images per split.")
    sample: int | None = Field(
        default=None, ge=1, description="Random sample of this many images per split (stratified by label)."
    )
    seed: int = Field(default=0, description="Seed for --sample.")
    shard: str | None = Field(
        default=None, description="Process only shard i of N ('i/N', 0-based), e.g. a SLURM array task."
    )
    model: str = Field(
        default="facebook/dinov2-small",
        description="Hub model name, a local model directory, or 'pixels' (raw-pixel baseline).",
    )
    revision: str | None = Field(default=None, description="Model revision (branch, tag or commit).")
    pooling: str = Field(
        default="cls", description="cls | mean | cls+mean for backbones (DINOv2, ViT); CLIP / SigLIP "
        "image-feature models use their own pooled embedding (pooled).",
    )
    image_size: int | None = Field(
        default=None, ge=1,
        description="Model input size in pixels (default 224 for models; native size for pixels).",
    )
    batch_size: int = Field(default=64, ge=1, description="Images per model batch.")
    device: str = Field(default="auto", description="auto | cuda | mps | cpu.")
    num_workers: int | None = Field(
        default=None, ge=0, description="Decoding worker processes (default: from the CPU count)."
    )
    compile: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="torch.compile the model: auto (on for CUDA runs of 200,000+ images, where the "
        "compile time pays off), on, off.",
    )
    gpu_decode: bool = Field(
        default=True,
        description="On CUDA, decode plain JPEGs on the GPU in batches (nvJPEG; needs torchvision: "
        "pip install embedscope[gpu]); odd files still take the PIL path.",
    )
    writer: Literal["thread", "process"] = Field(
        default="thread",
        description="Where the embedded store's upserts run: thread, or process (in a separate "
        "process when the run starts from an empty collection, so that the engine's conversions do "
        "not hold the GIL of the thread that feeds the model; a resumed run and a server use a "
        "thread). thread is the default: on two cores it kept 92-93 % of a GPU-speed model's rate "
        "against the process's 90-91 %; process is for machines with cores to spare.",
    )
    collection: str | None = Field(
        default=None, description="Collection name (default: <dataset>__<model>)."
    )
    recreate: bool = Field(default=False, description="Drop and rebuild the collection first.")
    shard_number: int | None = Field(
        default=None, ge=1, description="Qdrant server: shards of a new collection."
    )
    replication_factor: int | None = Field(
        default=None, ge=1, description="Qdrant server: replicas of each shard of a new collection."
    )
    max_pixels: int = Field(
        default=64_000_000, ge=1, description="Images with more pixels are rejected (decompression bombs)."
    )
    min_side: int = Field(default=4, ge=1, description="Images smaller than this on a side are rejected.")
    thumbnail_size: int = Field(default=64, ge=8, description="Longest side of the stored thumbnail.")
    index: Literal["after", "wait", "skip"] = Field(
        default="after",
        description="Embedded Qdrant's HNSW index: after (report the collection searchable, exact "
        "search, then build it with a visible line; interrupting is safe, the next ingest builds "
        "it), wait (build before reporting), skip (searches stay exact).",
    )
    quantization: Literal["auto", "none", "int8", "binary", "turbo4"] = Field(
        default="auto",
        description="How a new collection compresses its vectors for search; the originals are "
        "kept and rescore the candidates (search --oversampling): none, int8 (4× smaller), binary "
        "(32×), turbo4 (TurboQuant 4-bit, 8×). auto: int8 when the run selects "
        f"{LARGE_COLLECTION:,}+ points, else none; an existing collection keeps its own.",
    )
    vectors_on_disk: bool | None = Field(
        default=None,
        description="Keep a new collection's original vectors on disk (memory-mapped, read to "
        "rescore) instead of in RAM. Default: on disk when the vectors are quantized, else in RAM.",
    )
    hnsw_on_disk: bool = Field(
        default=False,
        description="Keep a new collection's HNSW graph on disk (memory-mapped) instead of in RAM: "
        "less memory, slower searches when the disk is not cached.",
    )
    rejects_file: str | None = Field(
        default=None, description="Where to list rejected images (default: <data_dir>/rejects/<collection>.jsonl)."
    )
    progress: bool = Field(default=True, description="Show a progress bar.")
    engine: Literal["local", "ray"] = Field(
        default="local",
        description="local: this process (with decoding workers); ray: Ray Data reads the units in "
        "parallel, decodes on CPU tasks and embeds on an actor pool (one actor a GPU), on the Ray "
        "cluster at --ray-address (needs embedscope[ray]).",
    )
    ray_address: str | None = Field(
        default=None,
        description="--engine ray: the Ray cluster to join (ray://host:10001 or host:6379); default "
        "$RAY_ADDRESS, else a local Ray started for the run.",
    )

#: The --help sections of `embedscope ingest` (fields not named here are listed last).
FLAG_GROUPS = {
    "dataset": ["dataset", "dataset_config", "splits", "image_column", "label_column", "labels_from_folders", "limit",
                "sample", "seed", "shard"],
    "model": ["model", "revision", "pooling", "image_size", "batch_size", "device", "num_workers",
              "compile", "gpu_decode"],
    "collection": ["collection", "recreate", "shard_number", "replication_factor", "thumbnail_size",
                   "index", "quantization", "vectors_on_disk", "hnsw_on_disk"],
    "bad input": ["max_pixels", "min_side", "rejects_file"],
    "engine": ["engine", "ray_address"],
}
