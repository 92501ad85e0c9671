"""Adding points to an analysed collection: `analyze --update` against the full run, one process.

``python benchmarks/bench_update.py`` (the issue's figure: 1,000 points added to an analysed
60k × 768 collection): synthetic clustered unit vectors (benchmarks/bench_analysis.py's) are
upserted into an embedded Qdrant (not timed), the full default analysis runs (timed: fetch, every
stage, plots, write-back, report, the fitted models kept), 1,000 more points are upserted (not
timed) and ``analyze --update`` places them (timed: load the fitted models, fetch, place, k-NN of
the new points, scores, write-back, report). Prints both totals, their ratio, the update's stages
and the size of fitted.joblib. ``--size``, ``--add``, ``--dim`` change the shape; ``--set
name=value`` passes analysis settings. numba compiles UMAP's fit and transform in a warm-up
first (not counted). Never asserts a time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_analysis import _load, synthetic  # noqa: E402


def upsert_rows(path: str, total: int, start: int, stop: int, d: int, seed: int) -> float:
    """Upsert rows [start, stop) of ``total`` synthetic points (a child process); the seconds."""
    from embedscope.contract import CollectionMeta
    from embedscope.store.edge import EdgeStore

    X, y = synthetic(total, d, seed=seed)
    with EdgeStore(Path(path)) as store:
        store.ensure_collection("bench", CollectionMeta(
            model="synthetic", dimension=d, labels=[f"c{i}" for i in range(10)]))
        ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(total)]
        began = time.perf_counter()
        for s in range(start, stop, 20000):
            e = min(stop, s + 20000)
            store.upsert("bench", ids[s:e], X[s:e], [{"label": int(v)} for v in y[s:e]])
        return time.perf_counter() - began


def warm_up() -> float:
    """Compile UMAP's fit and transform (numba) on a tiny set; the seconds."""
    import umap

    began = time.perf_counter()
    X, _ = synthetic(400, 16)
    model = umap.UMAP(metric="cosine", random_state=0).fit(X[:300])
    model.transform(X[300:])
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    """Full run, then the update; print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=60000, help="points of the full run")
    p.add_argument("--add", type=int, default=1000, help="points added, then placed by --update")
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="an analysis setting, e.g. --set projections=umap,pca")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch

    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.fitted import FITTED_FILE
    from embedscope.analysis.job import run
    from embedscope.analysis.update import run_update
    from embedscope.store.edge import EdgeStore

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}, CUDA {torch.cuda.is_available()}; "
          f"warm-up (numba compiles UMAP fit + transform, not counted) {warm_up():.1f} s")
    overrides: dict[str, Any] = dict(kv.split("=", 1) for kv in args.set)
    n, m, d = args.size, args.add, args.dim
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "qdrant")
        with ctx.Pool(1) as pool:
            took = pool.apply(upsert_rows, (path, n + m, 0, n, d, args.seed))
        print(f"== {n} points × {d} dims, then {m} more ==")
        print(f"  upsert {n} points (setup, not timed): {took:.1f} s", flush=True)
        s = AnalysisSettings(collection="bench", out=Path(tmp) / "report", progress=False,
                             **overrides)
        with EdgeStore(Path(path)) as store:
            began = time.perf_counter()
            run(store, s)
            full = time.perf_counter() - began
        size = (Path(tmp) / "report" / FITTED_FILE).stat().st_size / 1e6
        print(f"  full run: {full:.1f} s  [{_load()}]; fitted.joblib {size:.0f} MB", flush=True)
        with ctx.Pool(1) as pool:
            took = pool.apply(upsert_rows, (path, n + m, n, n + m, d, args.seed))
        print(f"  upsert {m} more points (not timed): {took:.1f} s", flush=True)
        with EdgeStore(Path(path)) as store:
            began = time.perf_counter()
            entry, _ = run_update(store, s.model_copy(update={"update": True}))
            update = time.perf_counter() - began
    print(f"  update ({entry['new_points']} new points placed), stage by stage (seconds):"
          f"  [{_load()}]")
    for stage, secs in entry.get("timings", {}).items():
        print(f"    {stage:<52} {secs:8.2f}")
    print(f"  update total: {update:.1f} s")
    print(f"  full run total: {full:.1f} s")
    print(f"  update / full run: {update / full:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
