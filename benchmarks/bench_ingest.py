"""Ingestion throughput against its ceilings: model forward, bare decode, and the notebook recipe.

One command prints, for a DINOv2 size (random weights) and a device, in one run:

- the model-forward ceiling (tensors already on the device, same batch size and dtype), eager
  and — on CUDA or with --compiled — torch.compile'd;
- the notebook recipe (PIL → AutoImageProcessor → fp32, batch 64, one upsert per batch);
- embedscope's embedding loop and whole run (start → searchable collection) on 28×28 parquet
  (the shared Fashion-MNIST train sample repeated) and on generated 500×375 JPEG photos;
- `--model pixels` on the 60k parquet against a bare PIL decode loop over the same images;
- the time to the first batch with decoding workers;
with the ratios. Figures only, never a pass/fail.

    python benchmarks/bench_ingest.py                                   # CPU defaults (minutes)
    python benchmarks/bench_ingest.py --size base --device cuda --n 60000 --photos 8000 --batch-size 256
    python benchmarks/bench_ingest.py --only pixels --pixels-n 60000 --rss   # + peak RSS 60k vs 120k
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import random_dinov2  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/fashion_mnist_sample"
ROWS: list[tuple[str, int, float, str]] = []


def row(label: str, n: int, seconds: float, note: str = "") -> float:
    """Record and print one figure; returns images/s."""
    ROWS.append((label, n, seconds, note))
    print(f"  {label:<58} {n:>7} {seconds:8.2f} s {n / seconds:9.1f} img/s  {note}", flush=True)
    return n / seconds


def make_parquet(data: Path, n: int, out: Path) -> Path:
    """The train sample repeated to ``n`` rows, HF layout kept (the 60k set is the sample × 20)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(data / "train.parquet")
    reps = -(-n // table.num_rows)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables([table] * reps).slice(0, n), out / "train.parquet")
    return out


def make_photos(n: int, out: Path, size: tuple[int, int] = (500, 375)) -> Path:
    """``n`` smooth random 500×375 JPEG photos (quality 90)."""
    import numpy as np
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.integers(0, 255, size=(size[1] // 20, size[0] // 20, 3), dtype=np.uint8)
        Image.fromarray(base).resize(size, Image.Resampling.BICUBIC).save(out / f"{i:06d}.jpg", quality=90)
    return out


def bare_decode(parquet: Path) -> tuple[int, float]:
    """A bare PIL decode loop over the parquet's images (grayscale arrays); (n, seconds)."""
    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    raw = [r["bytes"] for r in pq.read_table(parquet / "train.parquet").column("image").to_pylist()]
    start = time.perf_counter()
    for b in raw:
        np.asarray(Image.open(io.BytesIO(b)).convert("L"))
    return len(raw), time.perf_counter() - start


def ingest(dataset: Path, root: Path, **settings: Any) -> Any:
    """embedscope's run_ingest (embedded Qdrant, index built after the report, not counted)."""
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.settings import QdrantSettings

    s = IngestSettings(dataset=str(dataset), progress=False, collection="bench", **settings)
    return run_ingest(s, QdrantSettings(data_dir=root))


def forward_ceiling(model_dir: Path, device: str, batch: int, size: int, n: int, compiled: bool) -> float:
    """The model's own forward on ready device tensors, our dtype/autocast; returns seconds for ``n``."""
    import torch

    from embedscope.ingest.models import load_embedder

    emb: Any = load_embedder(str(model_dir), image_size=size, device=device)
    if compiled:
        emb.compile(batch_size=batch)
    x = torch.randn(batch, 3, size, size, device=device)
    steps = max(1, n // batch)
    with emb._on.inference():
        for _ in range(2 if not compiled else 3):  # warm-up (and compile)
            emb.net(pixel_values=x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            emb.net(pixel_values=x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return (time.perf_counter() - start) * n / (steps * batch)


def notebook(model_dir: Path, parquet: Path, n: int, root: Path, device: str) -> float:
    """The notebook recipe on ``n`` parquet images; seconds, model load included."""
    import pyarrow.parquet as pq
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel

    from embedscope.contract import CollectionMeta, row_point_id
    from embedscope.store.edge import EdgeStore

    images = [r["bytes"] for r in pq.read_table(parquet / "train.parquet").column("image").to_pylist()[:n]]
    start = time.perf_counter()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).to(device).eval()
    store = EdgeStore(root)
    store.ensure_collection("baseline", CollectionMeta(model="baseline", dimension=model.config.hidden_size))
    for s in range(0, len(images), 64):
        pil = [Image.open(io.BytesIO(b)).convert("RGB") for b in images[s:s + 64]]
        inputs = processor(images=pil, return_tensors="pt").to(device)
        with torch.no_grad():
            out = model(**inputs).pooler_output
        vecs = torch.nn.functional.normalize(out, dim=-1).cpu().numpy()
        ids = [row_point_id("bench", "train", i) for i in range(s, s + len(pil))]
        store.upsert("baseline", ids, vecs, [{"i": i} for i in range(len(pil))])
    store.close()
    return time.perf_counter() - start


def peak_rss_mb(dataset: Path, root: Path) -> float:
    """Peak RSS (MB) of a `--model pixels` CLI run in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "embedscope", "ingest", "--dataset", str(dataset), "--model", "pixels",
                    "--no-progress", "--index", "skip"], check=True, capture_output=True,
                   env={**__import__("os").environ, "EMBEDSCOPE_DATA_DIR": str(root)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024


def main() -> None:
    """Run the chosen parts and print the figures with their ratios."""
    import torch

    from embedscope.ingest.models import pick_device

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="small", choices=["tiny", "small", "base", "large"])
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--n", type=int, default=256, help="parquet images for the model runs")
    p.add_argument("--photos", type=int, default=64, help="generated 500×375 JPEGs for the model runs")
    p.add_argument("--pixels-n", type=int, default=60_000, help="parquet images for the pixels run")
    p.add_argument("--num-workers", type=int, default=None)
    p.add_argument("--compiled", action="store_true", help="also time torch.compile on the CPU")
    p.add_argument("--rss", action="store_true", help="peak RSS of pixels runs on pixels-n and 2×pixels-n")
    p.add_argument("--only", choices=["model", "pixels"], default=None)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = p.parse_args()
    device = pick_device(args.device)
    cuda = device.startswith("cuda")
    import os

    print(f"device {device} ({torch.cuda.get_device_name() if cuda else f'{os.cpu_count()} CPUs'}), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, dinov2-{args.size} random weights, "
          f"batch {args.batch_size}, {args.image_size} px")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if args.only != "model":
            data = make_parquet(args.data, args.pixels_n, tmp / "pixels")
            n, bare = bare_decode(data)
            print(f"pixels baseline on {n} 28×28 parquet images")
            row("bare PIL decode loop (ceiling)", n, bare)
            s = ingest(data, tmp / "qp", model="pixels", index="skip", num_workers=args.num_workers)
            row("embedscope --model pixels, whole run", s.ingested, s.seconds,
                f"{s.seconds / bare:.1f}× the bare decode; first batch {s.first_batch_seconds:.1f} s")
            s = ingest(data, tmp / "qw", model="pixels", index="skip", num_workers=2, limit=4096)
            print(f"  time to first batch with --num-workers 2: {s.first_batch_seconds:.2f} s")
            if args.rss:
                big = make_parquet(args.data, 2 * args.pixels_n, tmp / "pixels2")
                a, b = peak_rss_mb(data, tmp / "r1"), peak_rss_mb(big, tmp / "r2")
                print(f"  peak RSS, pixels CLI run: {args.pixels_n} images {a:.0f} MB, "
                      f"{2 * args.pixels_n} images {b:.0f} MB")
        if args.only == "pixels":
            return
        model_dir = random_dinov2(args.size, tmp / "model")
        n = args.n
        parquet = make_parquet(args.data, n, tmp / "parquet")
        photos = make_photos(args.photos, tmp / "photos")
        print(f"dinov2-{args.size}: {n} parquet images (28×28), {args.photos} JPEG photos (500×375)")
        ceiling = row("model forward, eager (ready tensors)", n,
                      forward_ceiling(model_dir, device, args.batch_size, args.image_size, n, False))
        if cuda or args.compiled:
            row("model forward, torch.compile (ready tensors)", n,
                forward_ceiling(model_dir, device, args.batch_size, args.image_size, n, True))
        recipe = row("notebook recipe (PIL → processor → fp32, batch 64)", n,
                     notebook(model_dir, parquet, n, tmp / "qn", device))
        common = dict(model=str(model_dir), device=device, batch_size=args.batch_size,
                      image_size=args.image_size, num_workers=args.num_workers)
        for what, dataset in (("parquet", parquet), ("photos", photos)):
            for compile_mode in (("off", "on") if cuda else ("off",)):
                s = ingest(dataset, tmp / f"q{what}{compile_mode}", compile=compile_mode, **common)
                tag = f"{what}, compile {compile_mode}"
                row(f"embedscope loop ({tag})", s.ingested, s.loop_seconds,
                           f"{s.loop_seconds and s.ingested / s.loop_seconds / ceiling:.0%} of the eager forward")
                row(f"embedscope whole run ({tag})", s.ingested, s.seconds,
                    f"{s.ingested / s.seconds / recipe:.1f}× the recipe; first batch {s.first_batch_seconds:.1f} s; "
                    f"index {s.index_seconds:.1f} s after")


if __name__ == "__main__":
    main()
