"""The writer against the engine: `Store.upsert` on the embedded store next to Qdrant Edge's own binding.

For each dimension, on the same points in one run (unit vectors, the contract's payload fields
with a 300-byte thumbnail, batches of 256, one thread, a fresh collection each time):

- the binding: ``EdgeShard.update(UpdateOperation.upsert_points([Point(id, row.tolist(),
  payload), …]))`` with and without payloads (the ceiling: what any Python caller pays), on a
  shard with the store's payload indexes (``split``, ``label``) and, for reference, without;
- ``Store.upsert`` with payloads on a fresh collection, and vectors only (empty payloads)
  overwriting the same ids; its share of the binding's rate, and the time its shard reopens took;
- the figures measured before issue 23 (printed beside, not re-measured);
- with ``--pipeline``: the whole ingestion of the 60k Fashion-MNIST parquet with a stand-in model
  that releases the GIL and costs a fixed time per batch (sized to ``--model-rate``, 8,000 images/s
  by default: dinov2-base compiled on an H100), 768-d vectors, with the writer on a thread and in
  its own process: the rate kept, and where the time went.

Rounds alternate the binding and the store so that a shared machine's load hits both alike; the
median rate of each is printed, and the median over rounds of the store's rate over the
binding's in the same round. Figures only, never a pass/fail.

    python benchmarks/bench_writer.py                       # 30,000 points, 768 and 384 dims
    python benchmarks/bench_writer.py --n 5000 --rounds 1   # a quick look
    python benchmarks/bench_writer.py --pipeline --pipeline-n 60000
    python benchmarks/bench_writer.py --server-encoding     # the server path's request bodies

With ``--server-encoding``: what the client pays, per point, to encode the upserts to a Qdrant
server in each form (REST PointStructs as before, REST Batch, gRPC through qdrant-client's
conversion of the Batch); no server is needed, nor measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Measured before issue 23 on the development machine (2 cores): points/s.
BEFORE = {768: {"store": 7_528, "store_vectors": 12_160}, 384: {"store": 9_642, "store_vectors": 15_822}}
BEFORE_BINDING = {"payloads": 12_478, "vectors": 25_565}
BATCH = 256


def points(n: int, dim: int) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    """``n`` unit vectors with UUID ids and contract payloads (300-byte thumbnail)."""
    from embedscope.contract import Payload

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{i}")) for i in range(n)]
    thumb = "A" * 300
    payloads = [{Payload.DATASET: "bench", Payload.SPLIT: "train", Payload.INDEX: i,
                 Payload.LABEL: i % 10, Payload.LABEL_NAME: f"class {i % 10}", Payload.WIDTH: 28,
                 Payload.HEIGHT: 28, Payload.THUMBNAIL: thumb, Payload.MODEL: "bench",
                 Payload.INGESTED_AT: "2026-12-06T00:00:00Z"} for i in range(n)]
    return ids, vectors, payloads


def binding(root: Path, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]] | None,
            indexed: bool = True) -> float:
    """Seconds for the engine's binding to upsert the points into a fresh shard (indexed as the store's)."""
    import qdrant_edge as q

    from embedscope.contract import INDEXED_FIELDS

    config = q.EdgeConfig(vectors=q.EdgeVectorParams(size=vectors.shape[1], distance=q.Distance.Cosine))
    shard = q.EdgeShard.create(str(Path(tempfile.mkdtemp(dir=root)) / "shard"), config)
    if indexed:  # as the store creates a collection: payload indexes on the contract's fields
        schema = {"keyword": q.PayloadSchemaType.Keyword, "integer": q.PayloadSchemaType.Integer}
        for name, kind in INDEXED_FIELDS.items():
            shard.update(q.UpdateOperation.create_field_index(name, schema[kind]))
    started = time.perf_counter()
    for s in range(0, len(ids), BATCH):
        rows = vectors[s:s + BATCH].tolist()
        if payloads is None:
            batch = [q.Point(pid, row) for pid, row in zip(ids[s:s + BATCH], rows)]
        else:
            batch = [q.Point(pid, row, p) for pid, row, p in zip(ids[s:s + BATCH], rows, payloads[s:s + BATCH])]
        shard.update(q.UpdateOperation.upsert_points(batch))
    shard.flush()
    seconds = time.perf_counter() - started
    shard.close()
    return seconds


def store(
    root: Path, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]],
) -> tuple[float, float, float]:
    """Seconds for `Store.upsert` with payloads (fresh), vectors only (overwrite), and its reopens."""
    from embedscope.contract import CollectionMeta
    from embedscope.store.edge import EdgeStore

    reopen = [0.0]
    original = EdgeStore._reopen

    def timed(self: EdgeStore, name: str) -> None:
        started = time.perf_counter()
        original(self, name)
        reopen[0] += time.perf_counter() - started

    EdgeStore._reopen = timed  # type: ignore[method-assign]
    try:
        st = EdgeStore(Path(tempfile.mkdtemp(dir=root)))
        try:
            st.ensure_collection("bench", CollectionMeta(model="bench", dimension=vectors.shape[1]))
            started = time.perf_counter()
            for s in range(0, len(ids), BATCH):
                st.upsert("bench", ids[s:s + BATCH], vectors[s:s + BATCH], payloads[s:s + BATCH])
            st.flush("bench")
            full = time.perf_counter() - started
            empty: list[dict[str, Any]] = [{}] * BATCH
            started = time.perf_counter()
            for s in range(0, len(ids), BATCH):
                st.upsert("bench", ids[s:s + BATCH], vectors[s:s + BATCH], empty[:len(ids[s:s + BATCH])])
            st.flush("bench")
            bare = time.perf_counter() - started
        finally:
            st.close()
    finally:
        EdgeStore._reopen = original  # type: ignore[method-assign]
    return full, bare, reopen[0]


class StandIn:
    """A model stand-in: sleeps (GIL released) a fixed time per batch on its own thread, like a GPU stream."""

    def __init__(self, rate: float, dimension: int = 768) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from embedscope.ingest.models import Embedder

        outer = self
        self.busy = 0.0

        class _Model(Embedder):
            name, mode, dimension, image_size, decode_size = "stand-in", "RGB", 768, 224, 224

            def embed(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover - embed_async is used
                return self.embed_async(images)()

            def embed_async(self, images: np.ndarray) -> Any:
                vectors = np.random.default_rng(len(images)).standard_normal(
                    (len(images), dimension)).astype(np.float32)

                def run() -> np.ndarray:
                    time.sleep(len(images) / rate)
                    outer.busy += len(images) / rate
                    return vectors

                future = outer.pool.submit(run)
                return future.result

        self.pool = ThreadPoolExecutor(1, thread_name_prefix="stand-in-gpu")
        self.embedder = _Model()


def pipeline(n: int, rate: float, batch: int, rounds: int = 2) -> None:
    """The whole ingestion with the stand-in model: writer on a thread, then in its own process."""
    import embedscope.ingest.pipeline as pipe
    from benchmarks.bench_ingest import DEFAULT_DATA, bare_decode, ingest, make_parquet
    from embedscope.ingest.writer import Writer
    from embedscope.store.edge import EdgeStore

    timers: dict[str, float] = {}

    def timed(cls: Any, method: str, key: str) -> None:
        real = getattr(cls, method)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                timers[key] = timers.get(key, 0.0) + time.perf_counter() - started

        setattr(cls, method, wrapper)

    timed(Writer, "_write", "writer thread busy (waits for vectors, payloads, upsert or hand-over)")
    timed(EdgeStore, "upsert", "Store.upsert in this process")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_parquet(DEFAULT_DATA, n, Path(tmp) / "p")
        _, bare = bare_decode(data)
        print(f"\npipeline, {n:,} 28×28 parquet images, stand-in model at {rate:,.0f} images/s "
              f"(768-d, GIL released), batch {batch}; bare PIL decode of the same images {bare:.2f} s "
              f"({n / bare:,.0f} images/s)\n")
        print("| writer | whole run (s) | images/s | of the model's rate | model busy | loop (s) "
              "| where the time went |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        runs = [("warm-up", "thread", 2_000)] + [(f"{r}", w, n) for r in range(rounds) for w in ("thread", "process")]
        for tag, writer, limit in runs:
            timers.clear()
            model = StandIn(rate)
            pipe._load_model = lambda settings, native_side=None, m=model: m.embedder  # type: ignore[assignment]
            s = ingest(data, Path(tmp) / f"q-{writer}-{tag}", model="stand-in", index="skip", writer=writer,
                       batch_size=batch, num_workers=0, limit=limit)
            model.pool.shutdown()
            if tag == "warm-up":  # imports and first calls, not counted
                continue
            where = "; ".join(f"{k} {v:.1f} s" for k, v in timers.items())
            label = ("thread" if writer == "thread" else "own process") + f", round {int(tag) + 1}"
            print(f"| {label} | {s.seconds:.2f} | {s.ingested / s.seconds:,.0f} | "
                  f"{s.ingested / s.seconds / rate:.0%} | {model.busy / s.loop_seconds:.0%} of the loop | "
                  f"{s.loop_seconds:.2f} | first batch {s.first_batch_seconds:.1f} s; {where} |")


def server_encoding(n: int, dim: int, rounds: int) -> None:
    """What a client pays to put points on the wire to a Qdrant server, per point (no server
    needed): the request bodies qdrant-client builds and encodes for each form, batches of 256."""
    from qdrant_client import grpc, models
    from qdrant_client.conversions.conversion import RestToGrpc
    from qdrant_client.http.api.points_api import jsonable_encoder

    ids, vectors, payloads = points(n, dim)
    parts = [(ids[s:s + BATCH], vectors[s:s + BATCH], payloads[s:s + BATCH])
             for s in range(0, n, BATCH)]

    def rest_points() -> None:  # before: a PointStruct per point
        for i, v, p in parts:
            jsonable_encoder(models.PointsList(points=[
                models.PointStruct(id=a, vector=b, payload=c)
                for a, b, c in zip(i, v.tolist(), p)]))

    def rest_batch() -> None:  # now, REST: one columnar Batch
        for i, v, p in parts:
            jsonable_encoder(models.PointsBatch(batch=models.Batch(
                ids=list(i), vectors=v.tolist(), payloads=list(p))))

    def grpc_client() -> None:  # now, --qdrant-grpc: qdrant-client's conversion of a Batch
        for i, v, p in parts:
            vec = RestToGrpc.convert_batch_vector_struct(v.tolist(), len(i))
            pts = [grpc.PointStruct(id=RestToGrpc.convert_extended_point_id(a), vectors=vec[k],
                                    payload=RestToGrpc.convert_payload(p[k]))
                   for k, a in enumerate(i)]
            grpc.UpsertPoints(collection_name="c", points=pts, wait=True).SerializeToString()

    forms = [("REST, a PointStruct per point (before)", rest_points),
             ("REST, one Batch per request (now, the default)", rest_batch),
             ("gRPC, qdrant-client's conversion of one Batch (now, --qdrant-grpc)", grpc_client)]
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for label, fn in forms:
            started = time.perf_counter()
            fn()
            times.setdefault(label, []).append(time.perf_counter() - started)
    base = float(np.median(times[forms[0][0]]))
    print(f"\nEncoding {n:,} points of {dim} dimensions for a Qdrant server (with the contract's "
          f"payloads), medians of {rounds} rounds:\n")
    print("| request body | points/s | µs a point | × before |")
    print("| --- | --- | --- | --- |")
    for label, _ in forms:
        t = float(np.median(times[label]))
        print(f"| {label} | {n / t:,.0f} | {1e6 * t / n:.0f} | {base / t:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=30_000)
    p.add_argument("--dims", type=int, nargs="+", default=[768, 384])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pipeline", action="store_true", help="also time the whole ingestion with a stand-in model")
    p.add_argument("--only-pipeline", action="store_true", help="only the pipeline part")
    p.add_argument("--pipeline-n", type=int, default=60_000)
    p.add_argument("--model-rate", type=float, default=8_000.0, help="the stand-in model's images/s")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--server-encoding", action="store_true",
                   help="only what a client pays to encode points for a Qdrant server")
    args = p.parse_args()
    if args.server_encoding:
        server_encoding(min(args.n, 10_000), args.dims[0], args.rounds)
        return
    if args.only_pipeline:
        pipeline(args.pipeline_n, args.model_rate, args.batch_size, args.rounds)
        return
    n = args.n
    print(f"{n:,} points, batches of {BATCH}, medians of {args.rounds} alternating rounds\n")
    print("| dimension | what | before issue 23 (points/s) | now (points/s) | µs a point | × binding |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for dim in args.dims:
            ids, vectors, payloads = points(n, dim)
            times: dict[str, list[float]] = {}
            reopen_shares: list[float] = []
            for _ in range(args.rounds):
                for key, seconds in (("binding", binding(root, ids, vectors, payloads)),
                                     ("binding_bare", binding(root, ids, vectors, payloads, indexed=False)),
                                     ("binding_vectors", binding(root, ids, vectors, None))):
                    times.setdefault(key, []).append(seconds)
                full, bare, reopen = store(root, ids, vectors, payloads)
                times.setdefault("store", []).append(full)
                times.setdefault("store_vectors", []).append(bare)
                reopen_shares.append(reopen / full)
            best = {key: float(np.median(t)) for key, t in times.items()}

            def ratio(key: str, ref: str, t: dict[str, list[float]] = times) -> float:
                """Median over rounds of the reference's time over this one's (same round: same load)."""
                return float(np.median([a / b for a, b in zip(t[ref], t[key])]))

            old = BEFORE.get(dim, {})
            rows = [("binding, with payloads, no payload index", "binding_bare",
                     f"{BEFORE_BINDING['payloads']:,} (768-d)", "binding_bare"),
                    ("binding, with payloads (split and label indexed, as the store's)", "binding", "–", "binding"),
                    ("binding, vectors only", "binding_vectors", f"{BEFORE_BINDING['vectors']:,} (768-d)",
                     "binding_vectors"),
                    ("Store.upsert, with payloads", "store", f"{old['store']:,}" if old else "–", "binding"),
                    ("Store.upsert, vectors only (overwrite)", "store_vectors",
                     f"{old['store_vectors']:,}" if old else "–", "binding_vectors")]
            for label, key, before, ref in rows:
                rate = n / best[key]
                print(f"| {dim} | {label} | {before} | {rate:,.0f} | {1e6 * best[key] / n:.0f} | "
                      f"{ratio(key, ref):.2f} |")
            print(f"| {dim} | of Store.upsert's runs: shard reopens | | | | "
                  f"{100 * max(reopen_shares):.1f} % of the run at most |")
    print("\nBefore issue 23, Store.upsert ran at 60–73 % of the binding's rate (the binding's "
          "figures then: 12,478 points/s with payloads, 25,565 without, 768-d).")
    if args.pipeline:
        pipeline(args.pipeline_n, args.model_rate, args.batch_size, args.rounds)


if __name__ == "__main__":
    main()
