"""Time each analysis stage on synthetic clustered vectors, against the straightforward recipe.

Quick run (about 3 min on 2 cores): ``python benchmarks/bench_analysis.py --quick``
(10k points × 384 and 768 dims). Full run: ``python benchmarks/bench_analysis.py``
(10k and 70k × 384 and 768; t-SNE only up to --tsne-max points). Shrink with ``--sizes``
and ``--dims``. Prints seconds per stage and peak RSS; never asserts a time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STAGES = ("fetch", "pca", "umap", "tsne", "kmeans", "kmedoids", "hdbscan", "silhouette_cosine",
          "silhouette_map", "trustworthiness", "knn_duplicates")


def synthetic(n: int, d: int, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised vectors around ``classes`` random centres (float32) and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    X = centres[labels] + rng.normal(scale=1.2, size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), labels


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call takes, and its result."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_one(n: int, d: int, args: argparse.Namespace) -> dict[str, float | None]:
    """Every stage of embedscope's analysis on one size, then the baseline recipe."""
    from embedscope.analysis import clustering, findings, metrics, projections
    from embedscope.analysis.data import fetch
    from embedscope.search.contract import CollectionMeta
    from embedscope.search.edge import EdgeStore

    X, y = synthetic(n, d, seed=args.seed)
    stages = set(args.stages.split(","))
    t: dict[str, float | None] = {}
    if "fetch" in stages:
        with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as store:
            store.ensure_collection("bench", CollectionMeta(model="synthetic", dimension=d))
            ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]
            t["upsert (setup)"], _ = timed(lambda: store.upsert(
                "bench", ids, X, [{"label": int(v)} for v in y]))
            t["fetch"], _ = timed(lambda: fetch(store, "bench", progress=False))
    t["pca"], pca = timed(lambda: projections.pca(X, 50, args.seed))
    Y = pca.scores[:, :2]
    if "umap" in stages:
        t["umap"], Y = timed(lambda: projections.umap_map(X, 15, 0.1, args.seed))
    if "tsne" in stages:
        t["tsne"] = None if n > args.tsne_max else timed(
            lambda: projections.tsne_map(X, 30.0, args.seed))[0]
    t["kmeans"], km = timed(lambda: clustering.kmeans(X, 10, args.seed, 3))
    if "kmedoids" in stages:
        t["kmedoids"], _ = timed(lambda: clustering.kmedoids(X, 10, args.seed, 10000))
    if "hdbscan" in stages:
        t["hdbscan (pca10)"], _ = timed(
            lambda: clustering.hdbscan(pca.scores[:, :10], 15, "pca10"))
    if "silhouette_cosine" in stages:
        t["silhouette cosine (labels+kmeans)"], _ = timed(lambda: [
            metrics.cosine_silhouette_samples(X, lab) for lab in (y, km.labels)])
    if "silhouette_map" in stages:
        t["silhouette 2-D map (labels+kmeans)"], _ = timed(
            lambda: metrics.map_silhouette_samples(Y, {"labels": y, "kmeans": km.labels}))
    if "trustworthiness" in stages:
        t["trustworthiness"], _ = timed(lambda: metrics.trustworthiness(X, Y, 5))
    if "knn_duplicates" in stages:
        t["k-NN (k=20) + duplicates"], _ = timed(lambda: findings.neighbour_pass(X, 20, 0.98))
    t["ours total"] = sum(v for k, v in t.items() if v is not None and "setup" not in k)
    if not args.no_baseline:
        import umap
        from sklearn.metrics import silhouette_score

        t["baseline umap (default, parallel)"], _ = timed(
            lambda: umap.UMAP(metric="cosine").fit_transform(X))
        t["baseline silhouette_score cosine (labels)"], _ = timed(
            lambda: silhouette_score(X, y, metric="cosine"))
    t["peak RSS MB"] = _peak_mb()
    return t


def _warm_up() -> None:
    import umap

    X, _ = synthetic(300, 16)
    umap.UMAP(metric="cosine", random_state=0).fit_transform(X)
    umap.UMAP(metric="cosine").fit_transform(X)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run every size × dimension, print one table per configuration."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10000,70000", help="point counts (comma-separated)")
    p.add_argument("--dims", default="384,768", help="vector dimensions (comma-separated)")
    p.add_argument("--quick", action="store_true", help="only 10k points (same as --sizes 10000)")
    p.add_argument("--stages", default=",".join(STAGES), help="stages to time")
    p.add_argument("--tsne-max", type=int, default=10000, help="skip t-SNE above this many points")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline recipe")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sizes = [10000] if args.quick else [int(s) for s in args.sizes.split(",")]
    secs, _ = timed(_warm_up)
    print(f"warm-up (numba compiles UMAP once per process, not counted): {secs:.1f} s")
    dims = [int(s) for s in args.dims.split(",")]
    for n in sizes:
        for d in dims:
            print(f"\n== {n} points × {d} dims ==", flush=True)
            for stage, secs in bench_one(n, d, args).items():
                shown = "skipped" if secs is None else f"{secs:9.2f}"
                print(f"  {stage:<44} {shown}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
