"""`embedscope export` (parquet, a 🤗 dataset folder): rows per second and peak memory, against the
recipe a user would otherwise write (every point scrolled into one DataFrame, then to_parquet).

    python benchmarks/bench_export_parquet.py                        # 20k and 100k × 384
    python benchmarks/bench_export_parquet.py --points 20000 --dim 384 --atlas

The collection is built through the store: random unit vectors, a "umap" map and a k-means
field (the fields analysis writes), a per-point score, and the shared Fashion-MNIST sample's real
28×28 PNG thumbnails cycled (bench_export.real_thumbnails). Each run is a fresh process (peak
RSS is per process): the export with its defaults (15 exact neighbours up to 50k points, the
collection's HNSW index beyond), then the recipe. ``--atlas`` then times Embedding Atlas's own
CLI (``--export-application``, no server) on the export with our map and neighbours, against
the same command computing its own UMAP from the vectors. Never asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLASSES = 10


def status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (VmHWM, RssAnon …), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MB: with the store's memory-mapped
    files, whose pages count as resident once read (the page cache, not the process's own)."""
    return status_mb("VmHWM")


class AnonPeak:
    """The peak of the process's own memory (RssAnon: heap, arrays; no mapped files), sampled
    every 20 ms on a thread while the block runs."""

    def __enter__(self) -> AnonPeak:
        import threading

        self.peak, self._stop = status_mb("RssAnon"), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, status_mb("RssAnon"))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def build(root: Path, n: int, dim: int, seed: int = 0) -> None:
    """The collection ``bench`` of ``n`` points, as analysis leaves it."""
    from benchmarks.bench_export import real_thumbnails
    from benchmarks.bench_map import CLASSES as NAMES
    from embedscope.contract import CollectionMeta, now_iso
    from embedscope.store.edge import EdgeStore

    thumbs = real_thumbnails() or [""]
    rng = np.random.default_rng(seed)
    with EdgeStore(root) as store:
        store.ensure_collection("bench", CollectionMeta(model="fake", dimension=dim, dataset="b",
                                                        labels=NAMES))
        for start in range(0, n, 5000):
            stop = min(n, start + 5000)
            X = rng.normal(size=(stop - start, dim)).astype(np.float32)
            X /= np.linalg.norm(X, axis=1, keepdims=True)
            ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"b/{i}")) for i in range(start, stop)]
            payloads = [{"dataset": "b", "split": "test" if i % 5 == 0 else "train", "index": i,
                         "label": i % CLASSES, "label_name": NAMES[i % CLASSES],
                         "thumbnail": thumbs[i % len(thumbs)],
                         "umap": [float(v) for v in rng.normal(size=2)],
                         "cluster_kmeans": int(i % 7), "uniqueness": float(rng.random())}
                        for i in range(start, stop)]
            store.upsert("bench", ids, X, payloads)
        store.update_meta("bench", analysis={"run_id": "bench", "created_at": now_iso(),
                                             "fields": ["umap", "cluster_kmeans", "uniqueness"]})
        store.optimize("bench")


def run_export(root: Path, out: Path, exact_up_to: int = 50_000) -> None:
    """One `embedscope export` (defaults but ``exact_up_to``), then its figures."""
    from embedscope.analysis.export import export
    from embedscope.analysis.export_config import ExportSettings
    from embedscope.store.edge import EdgeStore

    before = peak_rss_mb()
    with EdgeStore(root) as store, AnonPeak() as anon:
        done = export(store, ExportSettings(collection="bench", out=out, progress=False,
                                            exact_neighbors_up_to=exact_up_to))
    print(f"  embedscope export: {done.rows} rows in {done.seconds:.1f} s = "
          f"{done.rows / done.seconds:,.0f} rows/s; {len(done.files)} files, "
          f"{done.bytes / 1e6:.1f} MB; neighbours {done.neighbours}; peak RSS "
          f"{peak_rss_mb():.0f} MB (process before: {before:.0f} MB), own memory (RssAnon) "
          f"peak {anon.peak:.0f} MB", flush=True)


def run_recipe(root: Path, out: Path) -> None:
    """What a user writes without the command: scroll everything into pandas, then to_parquet."""
    import pandas as pd

    from embedscope.store.edge import EdgeStore

    before = peak_rss_mb()
    began = time.perf_counter()
    with EdgeStore(root) as store, AnonPeak() as anon:
        rows = [{"id": r.id, **r.payload, "vector": r.vector}
                for r in store.scroll("bench", with_payload=True, with_vectors=True)]
        df = pd.DataFrame(rows)
        df.to_parquet(out / "points.parquet")
    seconds = time.perf_counter() - began
    print(f"  recipe (scroll into a DataFrame, to_parquet; no neighbours): {len(df)} rows in "
          f"{seconds:.1f} s = {len(df) / seconds:,.0f} rows/s; peak RSS {peak_rss_mb():.0f} MB "
          f"(process before: {before:.0f} MB), own memory (RssAnon) peak {anon.peak:.0f} MB",
          flush=True)


def run_atlas(out: Path) -> None:
    """Embedding Atlas's CLI on the export: with our map and neighbours, then computing its own."""
    import glob

    files = sorted(glob.glob(str(out / "data" / "*.parquet")))
    atlas = str(Path(sys.executable).parent / "embedding-atlas")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(out / "cache")}
    for label, flags in (("our map and neighbours", ["--x", "umap_x", "--y", "umap_y",
                                                     "--neighbors", "neighbors"]),
                         ("its own UMAP from the vectors", ["--vector", "vector"])):
        began = time.perf_counter()
        done = subprocess.run([atlas, *files, *flags, "--image", "thumbnail",
                               "--export-application", str(out / f"app-{len(flags)}")],
                              capture_output=True, env=env, check=False)
        print(f"  embedding-atlas --export-application, {label}: "
              f"{time.perf_counter() - began:.1f} s (exit {done.returncode})", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Build each size, export in a fresh process, run the recipe in another; print figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--points", type=int, nargs="+", default=[20_000, 100_000])
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--atlas", action="store_true", help="time Embedding Atlas on the export")
    p.add_argument("--exact-up-to", type=int, default=50_000,
                   help="the export's --exact-neighbors-up-to (0: HNSW neighbours at any size)")
    p.add_argument("--step", choices=["build", "export", "recipe", "atlas"], help=argparse.SUPPRESS)
    p.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.step:  # one measured step in this (fresh) process
        {"build": lambda: build(args.root / "qdrant", args.points[0], args.dim),
         "export": lambda: run_export(args.root / "qdrant", args.root / "export",
                                      args.exact_up_to),
         "recipe": lambda: run_recipe(args.root / "qdrant", args.root),
         "atlas": lambda: run_atlas(args.root / "export")}[args.step]()
        return 0
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    me = [sys.executable, str(Path(__file__).resolve())]
    for n in args.points:
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            subprocess.run([*me, "--step", "build", "--root", tmp, "--points", str(n), "--dim",
                            str(args.dim)], check=True)
            print(f"{n:,} points × {args.dim}-d (built in {time.perf_counter() - began:.0f} s, "
                  "not timed):", flush=True)
            steps = ["export", "recipe"] + (["atlas"] if args.atlas else [])
            for step in steps:
                subprocess.run([*me, "--step", step, "--root", tmp, "--exact-up-to",
                                str(args.exact_up_to)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
