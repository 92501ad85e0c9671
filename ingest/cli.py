"""`embedscope ingest`: flags in, a progress bar and a summary out."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ingest flags (each also read from EMBEDSCOPE_<NAME>)."""
    d = p.add_argument_group("dataset")
    d.add_argument("--dataset", help="hub name (fashion_mnist, cifar10, user/name), a parquet file, "
                   "a directory of HF-layout parquet files, or a folder of images")
    d.add_argument("--split", dest="splits", action="append", metavar="SPLIT",
                   help="split to ingest (repeatable; default: all)")
    d.add_argument("--image-column", help="image column (default: detected: image, img, …)")
    d.add_argument("--label-column", help="label column (default: detected: label, labels, fine_label, …)")
    d.add_argument("--labels-from-folders", action="store_true", default=None,
                   help="image folders: the first-level subfolder name is the label")
    d.add_argument("--limit", type=int, help="at most N images per split (the first N)")
    d.add_argument("--sample", type=int, help="random N images per split, stratified by label")
    d.add_argument("--seed", type=int, help="seed for --sample (default 0)")
    d.add_argument("--shard", help="process shard i of N only ('i/N', 0-based), e.g. "
                   "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT")
    m = p.add_argument_group("model")
    m.add_argument("--model", help="hub model (default facebook/dinov2-small), a local model "
                   "directory, or 'pixels' for the raw-pixel baseline")
    m.add_argument("--revision", help="model revision (branch, tag or commit)")
    m.add_argument("--pooling", choices=["cls", "mean", "cls+mean"], help="token pooling (default cls)")
    m.add_argument("--image-size", type=int, help="model input size (default 224; pixels: native)")
    m.add_argument("--batch-size", type=int, help="images per batch (default 64)")
    m.add_argument("--device", help="auto | cuda | mps | cpu (default auto; bf16 on CUDA)")
    m.add_argument("--num-workers", type=int, help="decoding worker processes (default: from CPU count)")
    c = p.add_argument_group("collection")
    c.add_argument("--collection", help="collection name (default <dataset>__<model>)")
    c.add_argument("--recreate", action="store_true", default=None, help="drop and rebuild the collection")
    c.add_argument("--shard-number", type=int, help="Qdrant server: shards of a new collection")
    c.add_argument("--replication-factor", type=int, help="Qdrant server: replicas of a new collection")
    b = p.add_argument_group("bad input")
    b.add_argument("--max-pixels", type=int, help="reject larger images (default 64,000,000)")
    b.add_argument("--min-side", type=int, help="reject images smaller than this a side (default 4)")
    b.add_argument("--rejects-file", help="JSONL list of rejected images "
                   "(default <data_dir>/rejects/<collection>.jsonl)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def register(sub: Any) -> None:
    """Add the `ingest` subcommand."""
    p = sub.add_parser(
        "ingest", help="embed a dataset into a Qdrant collection (resumable)",
        description="Embed every image of a dataset with a pretrained model and upsert the "
        "L2-normalised vectors with their labels into Qdrant (embedded by default; a server when "
        "EMBEDSCOPE_QDRANT_URL is set). Re-running resumes: stored images are skipped.",
    )
    add_arguments(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the ingest and print its summary; 0 when the run completed (rejects are listed)."""
    from ingest.config import IngestSettings
    from ingest.pipeline import run_ingest
    from search.config import settings_from_args

    summary = run_ingest(settings_from_args(IngestSettings, args))
    if args.json:
        data = {k: v for k, v in summary.__dict__.items() if k != "rejected"}
        data["rejected"] = [r.__dict__ for r in summary.rejected]
        data["images_per_second"] = summary.images_per_second
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(summary.lines()))
    return 0
