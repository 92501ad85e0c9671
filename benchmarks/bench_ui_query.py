"""UI query latency: upload → embed (dinov2-small-sized model, 224 px) → k-NN in Qdrant → vote → tiles.

    python benchmarks/bench_ui_query.py            # CPU; --device cuda on a GPU
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import random_collection  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/fashion_mnist_sample"


def main() -> None:
    """Build a small collection, then time page searches as the UI runs them."""
    import pyarrow.parquet as pq
    from PIL import Image

    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--stored", type=int, default=300, help="images stored in the collection")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, q = random_collection(args.data, root, args.size, args.stored, args.device)
        raw = pq.read_table(args.data / "test.parquet").column("image").to_pylist()[: args.queries]
        files = []
        for i, row in enumerate(raw):
            img = Image.open(io.BytesIO(row["bytes"]))
            path = root / (f"q{i}.png" if i % 2 else f"q{i}.jpg")
            (img.resize((640, 480)).convert("RGB") if i % 2 == 0 else img).save(path)
            files.append(path)
        from embedscope.store.edge import EdgeStore

        session = Session(UISettings(device=args.device), store=EdgeStore(q.embedded_dir))
        times = []
        for path in files:
            start = time.perf_counter()
            session.search_upload("bench", str(path), k=10)
            times.append(time.perf_counter() - start)
        session.close()
    first, rest = times[0], sorted(times[1:])
    p90 = rest[int(0.9 * (len(rest) - 1))]
    print(f"dinov2-{args.size} (random weights), 224 px, {args.stored} stored points, "
          f"{len(files)} queries (28×28 PNG and 640×480 JPEG alternately)")
    print(f"first query (loads the model): {first * 1000:.0f} ms")
    print(f"then: median {statistics.median(rest) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
          f"max {rest[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
