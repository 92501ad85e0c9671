"""Ingestion throughput: embedscope's pipeline vs the common notebook recipe, same images and model.

The baseline does what most notebooks do: PIL images through AutoImageProcessor, fp32, batch 64,
one upsert per batch. Both write to embedded Qdrant. Prints images/s and the ratio.

    python benchmarks/bench_ingest.py --n 512 --size small          # CPU
    python benchmarks/bench_ingest.py --n 8192 --size base --device cuda
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import random_dinov2  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/fashion_mnist_sample"


def baseline(model_dir: Path, images: list[bytes], labels: list[int], root: Path, device: str) -> float:
    """The notebook recipe; returns seconds for all images, model load included."""
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel

    from embedscope.search.contract import CollectionMeta, row_point_id
    from embedscope.search.edge import EdgeStore

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
        store.upsert("baseline", ids, vecs, [{"label": int(x)} for x in labels[s:s + 64]])
    store.close()
    return time.perf_counter() - start


def ours(model_dir: Path, data: Path, n: int, root: Path, device: str, image_size: int,
         batch: int) -> float:
    """embedscope's pipeline on the same images; returns seconds, model load included."""
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.search.config import QdrantSettings

    settings = IngestSettings(dataset=str(data), splits=["train"], limit=n, model=str(model_dir),
                              image_size=image_size, batch_size=batch, device=device, progress=False,
                              collection=f"ours_{image_size}")
    start = time.perf_counter()
    summary = run_ingest(settings, QdrantSettings(data_dir=root))
    if summary.ingested != n:
        raise SystemExit(f"expected {n} images ingested, got {summary.ingested}")
    return time.perf_counter() - start


def main() -> None:
    """Run both and print the figures."""
    import pyarrow.parquet as pq
    import torch

    from embedscope.ingest.models import pick_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="images (from the train split)")
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base", "large"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    device = pick_device(args.device)
    table = pq.read_table(args.data / "train.parquet")
    n = min(args.n, table.num_rows)
    images = [r["bytes"] for r in table.column("image").to_pylist()[:n]]
    labels = table.column("label").to_pylist()[:n]
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"dinov2-{args.size} (random weights), {n} Fashion-MNIST images (28×28)")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = random_dinov2(args.size, Path(tmp) / "model")
        rows = []
        t = baseline(model_dir, images, labels, Path(tmp) / "q0", device)
        rows.append(("notebook recipe (processor, fp32, 224 px)", t))
        for size in (224, 112):
            t = ours(model_dir, args.data, n, Path(tmp) / f"q{size}", device, size, args.batch_size)
            rows.append((f"embedscope pipeline ({size} px)", t))
    base = n / rows[0][1]
    print(f"{'pipeline':<44} {'seconds':>8} {'images/s':>9} {'× baseline':>11}")
    for label, seconds in rows:
        rate = n / seconds
        print(f"{label:<44} {seconds:8.2f} {rate:9.1f} {rate / base:10.2f}×")
    np.set_printoptions(precision=3)


if __name__ == "__main__":
    main()
