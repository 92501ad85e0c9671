"""The full report as the collection grows: every point scored, planted copies found, time and
peak memory per stage.

``python benchmarks/bench_scale.py --sizes 250000,1000000`` (default 1M, 2M, 4M, 10M) builds, for
each size, a synthetic labelled collection of unit vectors with the local structure of image
embeddings (``--dims``, 384 by default; see ``synthetic``) holding ``--planted`` exact copies
and as many lightly noised copies (cosine ≈ 0.995) of other points,
in an embedded Qdrant with its HNSW index built (upsert and index timed, in a child process),
then runs ``embedscope analyze``'s default job on it in a fresh child process (so each size's
peak RSS is its own) and prints:

- each stage's seconds and the peak RSS after it, the total, the process's peak RSS and its peak
  PSS and anonymous memory (sampled; a page mapped twice counts once in the PSS);
- how many points got every k-NN score (all of them, through the index above
  ``--graph-max-points``) and the graph's recall against exact search (report.json);
- the share of planted pairs reported as near-duplicates.

``--first-map`` (100k points unless ``--sizes``): from vectors to a first drawn map instead —
the upsert and ``analyze --first-map`` (no index), against Embedding Atlas's own UMAP of the same
vectors.

Never asserts a time: on a shared machine only figures of one run compare.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NAME = "bench"
CLASSES = 10
#: Intrinsic dimension of the synthetic vectors.
LATENT = 24


def point_id(i: int) -> str:
    """Ids that sort as the rows do (the analysis reads points in id order)."""
    return f"00000000-0000-4000-8000-{i:012d}"


def synthetic(n: int, d: int, planted: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                     list[tuple[int, int]]]:
    """Unit vectors with the local structure of image embeddings (a low intrinsic dimension:
    1,000 clusters in a 24-dimensional latent space, mapped into ``d`` dimensions, plus a little
    noise), a class of 10 for each cluster, and the (original, copy) rows of the planted pairs:
    the last 2·planted rows copy earlier rows, the first half exactly, the second with noise
    (cosine ≈ 0.995). Isotropic noise would leave every point hundreds of near-equidistant
    neighbours, which no index (and no real dataset) has."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, LATENT)).astype(np.float32)
    lift = (rng.normal(size=(LATENT, d)) / np.sqrt(LATENT)).astype(np.float32)
    cluster = rng.integers(0, len(centres), n)
    labels = cluster % CLASSES
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):  # bounded temporaries at 10M points
        part = cluster[start:start + 65536]
        latent = centres[part] + rng.normal(scale=0.35, size=(len(part), LATENT)).astype(np.float32)
        block = latent @ lift + rng.normal(scale=0.05, size=(len(part), d)).astype(np.float32)
        X[start:start + 65536] = block / np.linalg.norm(block, axis=1, keepdims=True)
    first = n - 2 * planted
    sources = rng.choice(first, size=2 * planted, replace=False)
    X[first:] = X[sources]
    labels[first:] = labels[sources]
    noise = rng.normal(scale=0.1 / np.sqrt(d), size=(planted, d)).astype(np.float32)
    noisy = X[first + planted:] + noise
    X[first + planted:] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return X, labels, [(int(s), first + i) for i, s in enumerate(sources)]


def build(path: str, n: int, d: int, planted: int, seed: int, index: bool = True) -> dict[str, Any]:
    """Upsert the points into an embedded Qdrant at ``path`` and build its index (child
    process: the generated vectors do not count in the analysis's memory)."""
    from embedscope.contract import CollectionMeta
    from embedscope.store.edge import EdgeStore

    X, y, pairs = synthetic(n, d, planted, seed)
    with EdgeStore(Path(path)) as store:
        store.ensure_collection(NAME, CollectionMeta(
            model="synthetic", dimension=d, labels=[f"c{i}" for i in range(CLASSES)]))
        start = time.perf_counter()
        for s in range(0, n, 20000):
            store.upsert(NAME, [point_id(i) for i in range(s, min(n, s + 20000))],
                         X[s:s + 20000], [{"label": int(v), "split": "train"} for v in y[s:s + 20000]])
        upsert = time.perf_counter() - start
        if not index:
            return {"upsert_s": upsert, "index_s": 0.0, "indexed": 0, "planted": pairs}
        start = time.perf_counter()
        store.optimize(NAME)
        return {"upsert_s": upsert, "index_s": time.perf_counter() - start,
                "indexed": store.indexed_vectors(NAME) or 0, "planted": pairs}


def planted_pairs(n: int, d: int, planted: int, seed: int) -> list[tuple[int, int]]:
    """The planted pairs of a collection ``build`` made (child process)."""
    return synthetic(n, d, planted, seed)[2]


class MemoryWatch:
    """Peak proportional set size (PSS: a page mapped twice, or shared, counted once) and peak
    anonymous memory of this process, sampled every ``every`` seconds from
    /proc/self/smaps_rollup (Linux; zeros elsewhere). The engine maps its vector file twice
    where a scroll and the searches both read it, which the RSS counts twice."""

    def __init__(self, every: float = 0.5) -> None:
        import threading

        self.peak = {"Pss": 0, "Anonymous": 0}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(every,), daemon=True)
        self._thread.start()

    def _watch(self, every: float) -> None:
        while not self._done.is_set():
            try:
                with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
                    for line in fh:
                        key = line.split(":")[0]
                        if key in self.peak:
                            self.peak[key] = max(self.peak[key], int(line.split()[1]))
            except OSError:
                return
            self._done.wait(every)

    def stop(self) -> dict[str, float]:
        """Stop sampling; the peaks in GB."""
        self._done.set()
        self._thread.join()
        return {f"peak_{k.lower()}_gb": round(v / 1024**2, 2) for k, v in self.peak.items()}


def analyse(path: str, out: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The default analysis job on the collection (child process); its report, peak RSS and
    peak PSS and anonymous memory (MemoryWatch)."""
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run
    from embedscope.analysis.result import peak_rss_gb
    from embedscope.store.edge import EdgeStore

    settings = AnalysisSettings(**{"collection": NAME, "out": Path(out), "progress": False,
                                   **overrides})
    watch = MemoryWatch()
    with EdgeStore(Path(path)) as store:
        start = time.perf_counter()
        report, _ = run(store, settings)
        total = time.perf_counter() - start
    return {"report": report, "total_s": total, "peak_rss_gb": peak_rss_gb(), **watch.stop()}


def bench_one(n: int, d: int, args: argparse.Namespace) -> None:
    """Build, analyse and print one size."""
    overrides: dict[str, Any] = {"max_list": 2 * args.planted + 100}
    if args.quick:
        overrides.update(graph_max_points=20000, map_max_points=20000)
    overrides.update(dict(kv.split("=", 1) for kv in args.set))
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(dir=args.tmp) as scratch:
        tmp = tempfile.mkdtemp(dir=args.tmp, prefix="bench-scale-") if args.keep else scratch
        store = str(Path(tmp) / "qdrant")
        if args.keep:
            print(f"  keeping the collection in {tmp} (--reuse {tmp})", flush=True)
        if args.reuse:  # a store an earlier run built and kept (--keep)
            store = str(Path(args.reuse) / "qdrant")
            with spawn.Pool(1) as pool:
                built = {"planted": pool.apply(planted_pairs, (n, d, args.planted, args.seed))}
            print(f"  reusing the collection in {store}", flush=True)
        else:
            with spawn.Pool(1) as pool:
                built = pool.apply(build, (store, n, d, args.planted, args.seed))
            print(f"  upsert {built['upsert_s']:.1f} s, HNSW index {built['index_s']:.1f} s "
                  f"({int(built['indexed'])} vectors indexed; not part of the report's time)",
                  flush=True)
        with spawn.Pool(1) as pool:
            got = pool.apply(analyse, (store, str(Path(tmp) / "report"), overrides))
    report = got["report"]
    print(f"  full report, stage by stage (seconds; peak RSS so far, GB):  [{_load()}]")
    for stage, secs in report["timings"].items():
        print(f"    {stage:<52} {secs:8.1f} {report['peak_rss_gb'].get(stage, 0):8.2f}")
    print(f"  full report total: {got['total_s']:.1f} s; peak RSS {got['peak_rss_gb']:.2f} GB "
          f"(peak PSS {got['peak_pss_gb']:.2f} GB, peak anonymous {got['peak_anonymous_gb']:.2f} "
          "GB)")
    graph = report.get("knn_graph", {})
    recall = report["estimates"].get("knn_graph_recall", {}).get("recall")
    print(f"  k-NN graph: {graph.get('points')} of {n} points ({graph.get('method')}); "
          f"recall against exact search {recall if recall is not None else 'exact'}")
    print(f"  k-NN accuracy over {report.get('knn_accuracy', {}).get('points')} points")
    planted = built["planted"]
    dups = report["near_duplicates"]
    found = {tuple(sorted((int(p["id_a"][-12:]), int(p["id_b"][-12:])))) for p in dups["pairs"]}
    share = np.mean([tuple(sorted(p)) in found for p in planted]) if planted else 1.0
    print(f"  planted pairs found as near-duplicates: {share:.2%} of {len(planted)} "
          f"({dups['total']} pairs at cosine ≥ {dups['threshold']})", flush=True)
    for name in ("umap", "tsne"):
        if name in report["estimates"]:
            print(f"  {name}: {report['estimates'][name]}")


def draw_first_map(path: str, data_dir: str) -> dict[str, Any]:
    """`analyze --first-map` on the collection (child process)."""
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.first_map import first_map
    from embedscope.analysis.result import peak_rss_gb
    from embedscope.store.edge import EdgeStore

    with EdgeStore(Path(path)) as store:
        start = time.perf_counter()
        drawn = first_map(store, AnalysisSettings(collection=NAME, progress=False),
                          data_dir=Path(data_dir))
        drawn["total_s"] = time.perf_counter() - start
    drawn["peak_rss_gb"] = peak_rss_gb()
    return drawn


def atlas_umap(n: int, d: int, planted: int, seed: int) -> float:
    """Embedding Atlas's own UMAP of the same vectors (its ``_run_umap``: umap-learn's
    nearest_neighbors, then UMAP on them), in seconds (child process)."""
    from embedding_atlas.projection import _run_umap

    X, _, _ = synthetic(n, d, planted, seed)
    start = time.perf_counter()
    _run_umap(X)
    return time.perf_counter() - start


def bench_first_map(n: int, d: int, args: argparse.Namespace) -> None:
    """From vectors to a first drawn map, against Embedding Atlas's UMAP of the same vectors."""
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        store = str(Path(tmp) / "qdrant")
        with spawn.Pool(1) as pool:
            built = pool.apply(build, (store, n, d, args.planted, args.seed, False))
        with spawn.Pool(1) as pool:
            drawn = pool.apply(draw_first_map, (store, tmp))
    first = built["upsert_s"] + drawn["total_s"]
    print(f"  vectors into the store {built['upsert_s']:.1f} s + first map {drawn['total_s']:.1f} s "
          f"= {first:.1f} s from vectors to a drawn map (no index); peak RSS "
          f"{drawn['peak_rss_gb']:.2f} GB  [{_load()}]")
    for stage, secs in drawn["timings"].items():
        print(f"    {stage:<52} {secs:8.1f}")
    try:
        with spawn.Pool(1) as pool:
            atlas = pool.apply(atlas_umap, (n, d, args.planted, args.seed))
    except ImportError as exc:
        print(f"  Embedding Atlas not installed ({exc}): no comparison")
        return
    print(f"  Embedding Atlas's own UMAP of the same vectors: {atlas:.1f} s  [{_load()}]")
    print(f"  ratio Embedding Atlas / first map: {atlas / first:.2f}", flush=True)


def _load() -> str:
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run every size."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1000000,2000000,4000000,10000000",
                   help="point counts (comma-separated)")
    p.add_argument("--dims", type=int, default=384, help="vector dimension")
    p.add_argument("--planted", type=int, default=1000,
                   help="exact copies planted, and as many noised ones")
    p.add_argument("--quick", action="store_true",
                   help="50k points with the exact limits at 20k (the index path; minutes)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="an analysis setting, e.g. --set projections=pca")
    p.add_argument("--first-map", action="store_true",
                   help="from vectors to a first map (analyze --first-map, no index) against "
                        "Embedding Atlas's UMAP of the same vectors (default size 100k)")
    p.add_argument("--tmp", default=None, help="where the collections are built (disk space)")
    p.add_argument("--keep", action="store_true",
                   help="keep the built collection (its folder is printed) for --reuse")
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="analyse the collection an earlier run built in DIR/qdrant (same --sizes, "
                        "--dims, --planted, --seed) instead of building it again")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sizes = [50000] if args.quick else [int(s) for s in args.sizes.split(",")]
    if args.first_map:
        sizes = [100000] if args.sizes == p.get_default("sizes") else sizes
    print(f"bench_scale: {os.cpu_count()} CPUs, {args.dims} dimensions, {args.planted} exact + "
          f"{args.planted} noised planted copies")
    for n in sizes:
        print(f"{n:,} × {args.dims}", flush=True)
        (bench_first_map if args.first_map else bench_one)(n, args.dims, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
