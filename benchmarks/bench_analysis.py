"""The full default analysis report against a bare umap-learn UMAP of the same vectors, one run.

``python benchmarks/bench_analysis.py`` (70k × 768, the issue's figure): synthetic clustered unit
vectors are upserted into an embedded Qdrant (not timed), then, in the same process,
``umap.UMAP(metric="cosine").fit_transform(X)`` (unseeded, parallel: the recipe a user would
write) and ``embedscope analyze``'s job with default settings (fetch, every stage, plots,
payload write-back, report files) are timed. Prints the seconds of each stage, the total, the
bare UMAP, their ratio and the peak RSS. ``--quick``: 10k × 384. ``--sizes``/``--dims`` change
the shape, ``--no-baseline`` skips the bare UMAP (1M points), ``--set name=value`` passes
analysis settings (e.g. ``--set projections=umap,tsne,pca``). Never asserts a time: on a shared
machine only the ratio measured in the same run means much.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def synthetic(n: int, d: int, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised vectors around ``classes`` random centres (float32) and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):  # in blocks: bounded temporaries at 1M points
        part = labels[start:start + 65536]
        block = centres[part] + rng.normal(scale=1.2, size=(len(part), d)).astype(np.float32)
        X[start:start + 65536] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return X, labels


def _load() -> str:
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def build_store(path: str, n: int, d: int, seed: int) -> float:
    """Upsert the synthetic points into an embedded Qdrant at ``path`` (run in a child process,
    so that the vectors it generates do not count in the job's peak memory); the seconds."""
    from embedscope.contract import CollectionMeta
    from embedscope.store.edge import EdgeStore

    X, y = synthetic(n, d, seed=seed)
    with EdgeStore(Path(path)) as store:
        store.ensure_collection("bench", CollectionMeta(
            model="synthetic", dimension=d, labels=[f"c{i}" for i in range(10)]))
        ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]
        start = time.perf_counter()
        for s in range(0, n, 20000):
            store.upsert("bench", ids[s:s + 20000], X[s:s + 20000],
                         [{"label": int(v)} for v in y[s:s + 20000]])
        return time.perf_counter() - start


def bench_one(n: int, d: int, args: argparse.Namespace) -> None:
    """Upsert, bare UMAP, full report; print the table."""
    import multiprocessing

    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run
    from embedscope.analysis.result import peak_rss_gb
    from embedscope.store.edge import EdgeStore

    overrides: dict[str, Any] = dict(kv.split("=", 1) for kv in args.set)
    with tempfile.TemporaryDirectory() as tmp:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            took = pool.apply(build_store, (str(Path(tmp) / "qdrant"), n, d, args.seed))
        print(f"  upsert into embedded Qdrant (setup in a child process, not timed): {took:.1f} s",
              flush=True)
        bare = None
        if not args.no_baseline:
            import umap

            X, _ = synthetic(n, d, seed=args.seed)  # the same vectors
            start = time.perf_counter()
            umap.UMAP(metric="cosine").fit_transform(X)
            bare = time.perf_counter() - start
            print(f"  bare umap-learn UMAP (unseeded, parallel): {bare:.1f} s  [{_load()}]",
                  flush=True)
            del X
        settings = AnalysisSettings(collection="bench", out=Path(tmp) / "report",
                                    progress=args.progress, **overrides)
        with EdgeStore(Path(tmp) / "qdrant") as store:
            start = time.perf_counter()
            report, _ = run(store, settings)
            total = time.perf_counter() - start
    print(f"  full default report, stage by stage (seconds; peak RSS so far, GB):  [{_load()}]")
    for stage, secs in report["timings"].items():
        print(f"    {stage:<52} {secs:8.1f} {report['peak_rss_gb'].get(stage, 0):8.2f}")
    print(f"    {'(outside the stages)':<52} {total - sum(report['timings'].values()):8.1f}")
    print(f"  full report total: {total:.1f} s")
    if bare:
        print(f"  ratio full report / bare UMAP: {total / bare:.2f}")
    print(f"  estimates: {report['estimates']}")
    print(f"  peak RSS of this process: {peak_rss_gb():.2f} GB"
          + ("" if args.no_baseline else " (the bare UMAP's included)"), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run every size × dimension."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="70000", help="point counts (comma-separated)")
    p.add_argument("--dims", default="768", help="vector dimensions (comma-separated)")
    p.add_argument("--quick", action="store_true", help="10k × 384 (a minute or two)")
    p.add_argument("--no-baseline", action="store_true", help="skip the bare UMAP")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="an analysis setting, e.g. --set projections=umap,tsne,pca")
    p.add_argument("--progress", action="store_true", help="stage lines while running")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sizes = [10000] if args.quick else [int(s) for s in args.sizes.split(",")]
    dims = [384] if args.quick else [int(s) for s in args.dims.split(",")]
    import torch
    import umap

    start = time.perf_counter()
    Xw, _ = synthetic(300, 16)
    umap.UMAP(metric="cosine", random_state=0).fit_transform(Xw)
    umap.UMAP(metric="cosine").fit_transform(Xw)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}, CUDA {torch.cuda.is_available()}; "
          f"warm-up (numba compiles UMAP, not counted) {time.perf_counter() - start:.1f} s")
    for n in sizes:
        for d in dims:
            print(f"\n== {n} points × {d} dims ==", flush=True)
            bench_one(n, d, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
