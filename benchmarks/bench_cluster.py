"""`ingest --engine ray` against the single process, in one run: what Ray's scheduling costs.

Prints images/s of the single-process ingest and of the Ray path (a local Ray on this
machine's CPUs, or --ray-address) on the same data, and their ratio, for

- `--model pixels` on the 60k parquet set (the shared Fashion-MNIST train sample × 20, written
  as row groups of 7,500 rows: eight units for Ray's read tasks), and
- a stand-in model (a randomly initialised DINOv2 of --size, at --image-size) on --model-n of
  those rows, where the model's compute, not the plumbing, sets the pace.

Both engines write into embedded Qdrant; the index is skipped (its build is the same for
both). Figures only, never a pass/fail; run both sides in one command, since a loaded machine
shifts absolute numbers between runs.

    python benchmarks/bench_cluster.py                              # 2 CPUs: minutes
    python benchmarks/bench_cluster.py --size base --device cuda --model-n 60000 --batch-size 256
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import random_dinov2  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/fashion_mnist_sample"


def make_units(data: Path, n: int, out: Path, rows_per_group: int = 7_500) -> Path:
    """The train sample repeated to ``n`` rows in one parquet file of ``rows_per_group`` row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(data / "train.parquet")
    reps = -(-n // table.num_rows)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables([table] * reps).slice(0, n), out / "train.parquet",
                   row_group_size=rows_per_group)
    return out


def run(dataset: Path, root: Path, engine: str, **settings: Any) -> tuple[int, float]:
    """One ingest (embedded store, index skipped); (images stored, seconds start → stored)."""
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.settings import QdrantSettings

    s = IngestSettings(dataset=str(dataset), progress=False, collection="bench", index="skip",
                       engine=engine, **settings)
    started = time.perf_counter()
    summary = run_ingest(s, QdrantSettings(data_dir=root))
    return summary.ingested, time.perf_counter() - started


def compare(label: str, dataset: Path, tmp: Path, **settings: Any) -> None:
    """Single process, then Ray, on the same data; prints both and the ratio of their times."""
    n1, t1 = run(dataset, tmp / f"{label}-local", "local", **settings)
    n2, t2 = run(dataset, tmp / f"{label}-ray", "ray", **settings)
    print(f"  {label:<34} single {n1:>6} img {t1:7.1f} s {n1 / t1:8.1f} img/s | ray {n2:>6} img "
          f"{t2:7.1f} s {n2 / t2:8.1f} img/s | ray/single time {t2 / t1:4.2f}×", flush=True)


def main() -> None:
    """Start (or join) Ray, build the data, print the comparisons."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60_000, help="rows of the pixels set")
    p.add_argument("--model-n", type=int, default=2_048, help="rows for the stand-in model")
    p.add_argument("--size", default="tiny", choices=["tiny", "small", "base", "large"])
    p.add_argument("--image-size", type=int, default=56)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--ray-address", default=os.environ.get("RAY_ADDRESS"))
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = p.parse_args()
    try:
        import ray
    except ImportError:
        sys.exit("bench_cluster needs Ray: pip install 'embedscope[ray]'")
    ray.init(address=args.ray_address, include_dashboard=False, logging_level="WARNING")
    res = ray.cluster_resources()
    print(f"ray {ray.__version__}: {res.get('CPU', 0):.0f} CPUs, {res.get('GPU', 0):.0f} GPUs "
          f"({args.ray_address or 'local'}); this machine {os.cpu_count()} CPUs; "
          f"batch {args.batch_size}; both engines in this one run")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        data = make_units(args.data, args.n, tmp / "pixels")
        compare(f"pixels, {args.n} × 28×28", data, tmp, model="pixels", batch_size=args.batch_size,
                num_workers=0)
        model = random_dinov2(args.size, tmp / "model")
        small = make_units(args.data, args.model_n, tmp / "model-data", rows_per_group=512)
        compare(f"dinov2-{args.size} stand-in, {args.image_size} px", small, tmp, model=str(model),
                image_size=args.image_size, batch_size=args.batch_size, device=args.device, num_workers=0)
    ray.shutdown()


if __name__ == "__main__":
    main()
