"""A vector search through the JSON API against the same search in-process, on a large collection.

    python benchmarks/bench_api_vector.py --data-dir DIR --collection NAME     # an existing one
    python benchmarks/bench_api_vector.py --n 100000 --dim 768                 # builds one first

Times, with no model involved (the query is a vector): `neighbours()` in-process (what the
API calls), the same preceded by the exact count the query path made before issue 27 (for
comparison), `POST /api/v1/search` with a vector and `GET /api/v1/collections` through
`embedscope.client.Client` (a new connection a request) and on one kept-alive connection,
against `embedscope serve` in its own process. p50 / p99 of single requests, one at a time,
each series after the same warm-up. Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_search import clustered  # noqa: E402

#: Requests before each timed series, alike for every path: the serving process's first
#: requests page the index in and warm its own caches, as the in-process series' store did.
WARM_UP = 50


def _times(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    for i in range(WARM_UP):
        fn(i % n)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return _p50_p99(out)


def _alternated(a: Callable[[int], object], b: Callable[[int], object],
                n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50 / p99 of ``a`` and of ``b``, their requests alternated one by one after a warm-up."""
    for i in range(WARM_UP):
        a(i % n)
        b(i % n)
    ta, tb = [], []
    for i in range(n):
        for fn, out in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn(i)
            out.append((time.perf_counter() - t0) * 1000)
    return _p50_p99(ta), _p50_p99(tb)


def _p50_p99(out: list[float]) -> tuple[float, float]:
    out = sorted(out)
    return statistics.median(out), out[min(len(out) - 1, int(round(0.99 * (len(out) - 1))))]


def _build(root: Path, n: int, dim: int) -> str:
    from embedscope.contract import CollectionMeta, row_point_id
    from embedscope.store.edge import EdgeStore

    x, _ = clustered(n, dim, 100, np.random.default_rng(0))
    with EdgeStore(root / "qdrant") as store:
        store.ensure_collection("bench__vectors", CollectionMeta(model="bench", dimension=dim,
                                                                  dataset="bench"))
        for s in range(0, n, 4096):
            ids = [row_point_id("bench", "all", i) for i in range(s, min(s + 4096, n))]
            store.upsert("bench__vectors", ids, x[s:s + 4096], [{"split": "all"}] * len(ids))
        store.optimize("bench__vectors")
    return "bench__vectors"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=None,
                   help="an EMBEDSCOPE_DATA_DIR (its store under qdrant/)")
    p.add_argument("--collection", default=None)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--requests", type=int, default=300)
    args = p.parse_args()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench_api_vector_"))
    name = args.collection or _build(root, args.n, args.dim)
    from embedscope.client import Client
    from embedscope.search.neighbors import neighbours
    from embedscope.store.edge import EdgeStore

    with EdgeStore(root / "qdrant", serving=True) as store:
        dim = store.get_meta(name).dimension
        points = store.points(name)
        queries = clustered(args.requests + 1, dim, 100, np.random.default_rng(1))[0]
        in_process = _times(lambda i: neighbours(store, name, queries[i], k=10), args.requests)

        def with_count(i: int) -> None:
            store.count(name)
            neighbours(store, name, queries[i], k=10)

        counted = _times(with_count, args.requests)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(root), "EMBEDSCOPE_SERVE_PORT": str(port),
           "HF_HUB_OFFLINE": "1"}
    env.pop("EMBEDSCOPE_QDRANT_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "embedscope", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = Client(f"http://127.0.0.1:{port}", timeout=120)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.collections()
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    said = server.stderr.read() if server.stderr else ""
                    raise SystemExit(f"the server did not start: {said}") from None
                time.sleep(0.5)
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

        def keep_alive(i: int) -> None:  # one connection for every request, as a service keeps
            body = json.dumps({"collection": name, "vector": queries[i].tolist(), "k": 10})
            kept.request("POST", "/api/v1/search", body, {"Content-Type": "application/json"})
            answer = kept.getresponse()
            if answer.status != 200:
                raise SystemExit(f"search answered {answer.status}: {answer.read()[:200]!r}")
            answer.read()

        # alternated request by request, so that neither series has the colder server
        api, api_kept = _alternated(
            lambda i: client.search(name, vector=queries[i].tolist(), k=10), keep_alive,
            args.requests)
        kept.close()
        listing = _times(lambda i: client.collections(), min(args.requests, 100))
    finally:
        server.terminate()
        server.wait(30)
    print(f"# {points:,} points × {dim} in {name}, {args.requests} single requests, k=10; "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for label, (p50, p99) in [("in-process neighbours()", in_process),
                              ("in-process + exact count (old path)", counted),
                              ("API POST /api/v1/search (vector)", api),
                              ("  the same on one kept-alive connection", api_kept),
                              ("API GET /api/v1/collections", listing)]:
        print(f"{label:<38} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
