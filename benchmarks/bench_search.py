"""Search benchmark: embedded Qdrant (HNSW and exact) against scikit-learn brute force; prints figures.

    python benchmarks/bench_search.py                 # 70,000 vectors of 384 and 768 dimensions
    python benchmarks/bench_search.py --n 10000 --dims 384 --queries 100

Synthetic clustered, unit-norm vectors. Reports upsert and optimize() time, single-query
latency p50/p99 and batch throughput for HNSW (after optimize()) and exact search, HNSW
recall@k against exact search, and sklearn ``NearestNeighbors(metric="cosine")`` brute force
on the same vectors as the baseline ("vs sklearn": how many times faster, p50 latency
and batch throughput). Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedscope.contract import CollectionMeta, row_point_id  # noqa: E402
from embedscope.store.edge import EdgeStore  # noqa: E402


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator,
              centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm vectors around ``clusters`` random centres (returned for reuse)."""
    if centres is None:
        centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    which = rng.integers(0, len(centres), n)
    x = centres[which] + rng.normal(scale=0.9, size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), centres


def latency(fn, queries: np.ndarray) -> tuple[float, float]:
    """p50 and p99 in milliseconds of ``fn(q)`` over the rows of ``queries``."""
    fn(queries[0])  # warm-up
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def throughput(fn, queries: np.ndarray, batch: int) -> tuple[float, list]:
    """Queries per second of ``fn(batch_matrix)`` over ``queries``; also the results."""
    out: list = []
    t0 = time.perf_counter()
    for start in range(0, len(queries), batch):
        out.extend(fn(queries[start:start + batch]))
    return len(queries) / (time.perf_counter() - t0), out


def bench_dim(dim: int, args: argparse.Namespace, root: Path) -> dict:
    """All figures for one dimension."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(args.seed)
    data, centres = clustered(args.n, dim, args.clusters, rng)
    queries, _ = clustered(args.queries, dim, args.clusters, rng, centres)
    batch_queries, _ = clustered(args.batch_queries, dim, args.clusters, rng, centres)
    name = f"bench{dim}"
    res: dict = {"dim": dim, "n": args.n, "k": args.k}
    with EdgeStore(root) as store:
        store.ensure_collection(name, CollectionMeta(model="synthetic", dimension=dim), True)
        ids = [row_point_id("bench", str(dim), i) for i in range(args.n)]
        t0 = time.perf_counter()
        for start in range(0, args.n, 8192):
            store.upsert(name, ids[start:start + 8192], data[start:start + 8192],
                         [{"split": "train"}] * len(ids[start:start + 8192]))
        res["upsert_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.optimize(name)
        res["optimize_s"] = time.perf_counter() - t0
        ids_at = {pid: i for i, pid in enumerate(ids)}
        for mode, exact in (("hnsw", False), ("exact", True)):
            p50, p99 = latency(
                lambda q, e=exact: store.query(name, q, args.k, exact=e, with_payload=False),
                queries)
            qps, hits = throughput(
                lambda b, e=exact: store.query_batch(name, b, args.k, exact=e,
                                                     with_payload=False),
                batch_queries, args.batch)
            res[mode] = {"p50_ms": p50, "p99_ms": p99, "batch_qps": qps}
            res[mode]["_ids"] = np.array([[ids_at[h.id] for h in row] for row in hits])
        store.delete_collection(name)
    hnsw_ids, exact_ids = res["hnsw"].pop("_ids"), res["exact"].pop("_ids")
    res["hnsw_recall"] = float(np.mean([
        len(set(a) & set(b)) / args.k for a, b in zip(hnsw_ids, exact_ids, strict=True)]))

    nn = NearestNeighbors(n_neighbors=args.k, metric="cosine", algorithm="brute").fit(data)
    p50, p99 = latency(lambda q: nn.kneighbors(q[None, :]), queries)
    qps, _ = throughput(lambda b: list(nn.kneighbors(b)[1]), batch_queries, args.batch)
    sk_ids = nn.kneighbors(batch_queries, return_distance=False)
    res["sklearn"] = {"p50_ms": p50, "p99_ms": p99, "batch_qps": qps}
    res["exact_vs_sklearn_overlap"] = float(np.mean([
        len(set(a) & set(b)) / args.k for a, b in zip(exact_ids, sk_ids, strict=True)]))
    return res


def report(res: dict) -> None:
    """Print one dimension's figures as a table."""
    sk = res["sklearn"]
    print(f"\n{res['n']:,} vectors x {res['dim']} dims, top-{res['k']}: upsert "
          f"{res['upsert_s']:.1f} s, optimize() {res['optimize_s']:.1f} s")
    print(f"{'backend':<26}{'p50 ms':>9}{'p99 ms':>9}{'batch q/s':>11}"
          f"{'single vs sklearn':>19}{'batch vs sklearn':>18}")
    for label, key in (("Qdrant Edge HNSW", "hnsw"), ("Qdrant Edge exact", "exact"),
                       ("sklearn brute (cosine)", "sklearn")):
        r = res[key]
        print(f"{label:<26}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['batch_qps']:>11.0f}"
              f"{sk['p50_ms'] / r['p50_ms']:>18.1f}x{r['batch_qps'] / sk['batch_qps']:>17.2f}x")
    print(f"HNSW recall@{res['k']} vs exact: {res['hnsw_recall']:.4f}; exact vs sklearn "
          f"top-{res['k']} overlap: {res['exact_vs_sklearn_overlap']:.4f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for each dimension and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=70_000, help="vectors per collection (70000)")
    p.add_argument("--dims", default="384,768", help="dimensions (384,768)")
    p.add_argument("--queries", type=int, default=200, help="single queries timed (200)")
    p.add_argument("--batch-queries", type=int, default=2048, help="queries in batches (2048)")
    p.add_argument("--batch", type=int, default=256, help="queries per batch request (256)")
    p.add_argument("-k", type=int, default=10, help="neighbours (10)")
    p.add_argument("--clusters", type=int, default=100, help="cluster centres (100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = p.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}")
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for dim in (int(d) for d in args.dims.split(",")):
            results.append(bench_dim(dim, args, Path(tmp) / "qdrant"))
            report(results[-1])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
