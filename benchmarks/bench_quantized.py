"""Quantized, memory-tiered collections: recall@k, single-query latency and serving memory.

    python benchmarks/bench_quantized.py                          # 100,000 × 768, 1,000 queries
    python benchmarks/bench_quantized.py --n 200000 --quantizations none,int8

For each quantization (none, int8, binary, turbo4; quantized ones keep their original vectors
on disk and rescore with them) the same synthetic clustered unit vectors (bench_search.py's
``clustered``) are stored in an embedded collection and indexed (HNSW), then a *fresh process*
opens it and answers 1,000 held-out single queries: recall@k against exact numpy search, p50 /
p99 latency, and that process's resident memory (VmRSS, split into anonymous and file-backed)
before opening the collection and after the queries. Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_search import clustered  # noqa: E402

NAME = "bench__quantized"


def _rss() -> dict[str, float]:
    """This process's resident memory in MB: total, anonymous and file-backed."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def build(root: Path, quantization: str, x: np.ndarray, batch: int = 4096) -> dict:
    """Store ``x`` in a new collection under ``root`` and build its index; the seconds taken."""
    from embedscope.contract import CollectionMeta, row_point_id
    from embedscope.store.edge import EdgeStore

    meta = CollectionMeta(model="bench", dimension=x.shape[1], dataset="bench",
                          quantization=quantization, vectors_on_disk=quantization != "none")
    with EdgeStore(root) as store:
        store.ensure_collection(NAME, meta)
        t0 = time.perf_counter()
        for start in range(0, len(x), batch):
            ids = [row_point_id("bench", "all", i) for i in range(start, min(start + batch, len(x)))]
            store.upsert(NAME, ids, x[start:start + batch], [{"split": "all"}] * len(ids))
        upsert_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.optimize(NAME)
        index_s = time.perf_counter() - t0
        indexed = store.indexed_vectors(NAME)
        footprint = store.footprint(NAME)
    return {"upsert_s": round(upsert_s, 1), "index_s": round(index_s, 1), "indexed": indexed,
            "footprint_mb": {k: round(v["bytes"] / 1e6, 1) for k, v in (footprint or {}).items()}}


def footprint(root: Path) -> dict:
    """The sizes of an existing collection's structures (for --reuse)."""
    from embedscope.store.edge import EdgeStore

    with EdgeStore(root) as store:
        found = store.footprint(NAME) or {}
    return {"footprint_mb": {k: round(v["bytes"] / 1e6, 1) for k, v in found.items()}}


def serve(root: Path, queries: Path, k: int, oversampling: float | None) -> dict:
    """In this (fresh) process: open the collection, answer every query alone, measure."""

    from embedscope.store.edge import EdgeStore

    q = np.load(queries)
    before = _rss()
    store = EdgeStore(root, serving=True)
    store.oversampling = oversampling
    t0 = time.perf_counter()
    store.query(NAME, q[0], k, with_payload=False)  # opens the shard
    open_s = time.perf_counter() - t0
    ids: list[list[str]] = []
    times = []
    for vec in q:
        t0 = time.perf_counter()
        hits = store.query(NAME, vec, k, with_payload=False)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append([h.id for h in hits])
    after = _rss()
    store.close()
    return {"open_s": round(open_s, 2), "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p99_ms": round(float(np.percentile(times, 99)), 2), "rss_before_mb": before,
            "rss_after_mb": after, "ids": ids,
            "oversampling": store.oversampling_for(NAME)}


def exact_topk(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Row indexes of the exact top-k cosine neighbours (unit vectors), blocked."""
    out = []
    for start in range(0, len(q), 256):
        sims = q[start:start + 256] @ x.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.take_along_axis(sims, top, 1).argsort(1)[:, ::-1]
        out.append(np.take_along_axis(top, order, 1))
    return np.vstack(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--quantizations", default="none,int8,binary,turbo4")
    p.add_argument("--oversampling", type=float, default=None,
                   help="default: each quantization's own (contract.DEFAULT_OVERSAMPLING)")
    p.add_argument("--root", type=Path, default=None, help="keep the collections here")
    p.add_argument("--reuse", action="store_true",
                   help="measure the collections already under --root again (no rebuild)")
    p.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--query-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is not None:  # the child process
        print(json.dumps(serve(args.serve, args.query_file, args.k, args.oversampling)))
        return 0

    root = args.root or Path(tempfile.mkdtemp(prefix="bench_quantized_"))
    rng = np.random.default_rng(0)
    x, centres = clustered(args.n, args.dim, args.clusters, rng)
    q, _ = clustered(args.queries, args.dim, args.clusters, rng, centres)
    qfile = root / "queries.npy"
    root.mkdir(parents=True, exist_ok=True)
    np.save(qfile, q)
    t0 = time.perf_counter()
    truth = exact_topk(x, q, args.k)
    exact_s = time.perf_counter() - t0
    from embedscope.contract import row_point_id

    id_of = {row_point_id("bench", "all", i): i for i in range(args.n)}
    print(f"# {args.n:,} × {args.dim} clustered unit vectors, {args.queries} queries, k={args.k}; "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; numpy exact truth {exact_s:.1f} s")
    for quantization in args.quantizations.split(","):
        qroot = root / quantization
        built = footprint(qroot) if args.reuse else build(qroot, quantization, x)
        cmd = [sys.executable, __file__, "--serve", str(qroot), "--query-file", str(qfile),
               "--k", str(args.k)]
        if args.oversampling is not None:
            cmd += ["--oversampling", str(args.oversampling)]
        served = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        got = [[id_of[i] for i in row] for row in served.pop("ids")]
        recall = float(np.mean([len(set(g) & set(t)) / args.k for g, t in zip(got, truth.tolist())]))
        row = {"quantization": quantization, "recall": round(recall, 4), **built, **served,
               "n": args.n, "dim": args.dim}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
