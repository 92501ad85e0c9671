"""How fast a serving process takes back an embedded collection it let go (idle release).

    python benchmarks/bench_reopen.py --points 20000 100000

Builds a collection of random unit vectors, closes it (its integrity record written), then
times what the page's next request pays: the integrity check, the engine's load and a count,
then the first top-10 query; the median of five reopenings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def reopen(n: int, d: int, repeats: int = 5) -> tuple[float, float]:
    """Median seconds of (reopen and count, first query) for ``n`` points of dimension ``d``."""
    from embedscope.contract import CollectionMeta, row_point_id
    from embedscope.store.edge import EdgeStore

    root = Path(tempfile.mkdtemp(prefix="bench-reopen-"))
    store = EdgeStore(root)
    store.ensure_collection("c", CollectionMeta(model="fake", dimension=d, labels=["a"]))
    rng = np.random.default_rng(0)
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        v = rng.normal(size=(m, d)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        store.upsert("c", [row_point_id("x", "t", i) for i in range(start, start + m)], v,
                     [{"split": "t", "index": i, "label": 0} for i in range(start, start + m)])
    store.optimize("c")
    store.close()
    opened, queried = [], []
    for _ in range(repeats):
        s = EdgeStore(root, serving=True)
        t0 = time.perf_counter()
        s.count("c")
        t1 = time.perf_counter()
        s.query("c", v[0], 10)
        queried.append(time.perf_counter() - t1)
        opened.append(t1 - t0)
        s.close()
    return statistics.median(opened), statistics.median(queried)


def main() -> None:
    """Print the reopening time for each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
    for n in args.points:
        o, q = reopen(n, args.dim)
        print(f"{n:>9,} points × {args.dim}: reopen (integrity check, load, count) "
              f"{o * 1000:.0f} ms, then the first top-10 query {q * 1000:.0f} ms")


if __name__ == "__main__":
    main()
