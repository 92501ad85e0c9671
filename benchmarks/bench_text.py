"""Words: a text query end to end (tokenise, text tower, search) and colouring a map by a phrase.

A SiglipModel whose text tower has SigLIP base's real size (random weights: speed does not depend
on them) embeds phrases into a collection of ``--points`` random unit vectors of its dimension
(768) on the embedded store, each with a 2-D map. Printed beside each figure: its parts alone
(the tokenizer, the text tower's forward on ready tensors, the HNSW query, the matrix–vector
product), the ceilings the end-to-end times are measured against.

    python -m benchmarks.bench_text --points 100000 --queries 40
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

PHRASES = ["a photo of a sandal with a heel", "an ankle boot with laces", "a white sneaker",
           "a striped t-shirt", "a long dress with flowers", "a leather bag", "a wool coat",
           "a pullover with a hood", "a pair of trousers", "a shirt with buttons"]
NAME = "bench__siglip_base"


def p50(times: list[float]) -> float:
    """Median in milliseconds."""
    return statistics.median(times) * 1000


def timed(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def build(store, model_dir: Path, n: int, dim: int = 768, batch: int = 10_000) -> None:  # type: ignore[no-untyped-def]
    from embedscope.contract import CollectionMeta, now_iso

    store.ensure_collection(NAME, CollectionMeta(model=str(model_dir), pooling="pooled",
                                                 image_size=32, dimension=dim, dataset="bench",
                                                 text=True))
    rng = np.random.default_rng(0)
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        X = rng.normal(size=(stop - start, dim)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        xy = rng.normal(size=(stop - start, 2))
        ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{i}")) for i in range(start, stop)]
        payloads = [{"dataset": "bench", "split": "train", "index": i,
                     "pca": [float(xy[i - start, 0]), float(xy[i - start, 1])]}
                    for i in range(start, stop)]
        store.upsert(NAME, ids, X, payloads)
    store.update_meta(NAME, analysis={"run_id": "bench", "created_at": now_iso(), "fields": ["pca"]})
    store.optimize(NAME)


def main() -> None:
    """Build, load once, then time the text query and the phrase colouring."""
    import torch

    from benchmarks.common import random_siglip
    from embedscope.ingest.query import embedder_for
    from embedscope.search.text import search_text
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.map.maps import Maps
    from embedscope.ui.map.phrases import cosine_colouring
    from embedscope.ui.service import Session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    import os

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.points:,} points × 768-d (embedded store); load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        model_dir = random_siglip(root / "siglip-base-text")
        store = EdgeStore(root / "qdrant")
        build(store, model_dir, args.points)
        print(f"built the checkpoint and the collection in {time.perf_counter() - t0:.1f} s")

        meta = store.get_meta(NAME)
        t0 = time.perf_counter()
        embedder = embedder_for(meta, "cpu")
        print(f"model loaded once in {time.perf_counter() - t0:.1f} s "
              f"(text tower {sum(p.numel() for p in embedder.net.text_model.parameters()) / 1e6:.0f}M "
              "parameters, padding to 64 tokens)")
        phrase = lambda i: PHRASES[i % len(PHRASES)] + f" {i}"  # noqa: E731 - never a cache hit
        search_text(store, NAME, phrase(0), k=10, device="cpu")  # warm-up

        q = args.queries
        end = timed(lambda i: search_text(store, NAME, phrase(i), k=10, device="cpu"), q)
        tower = embedder._text
        tok = timed(lambda i: tower.tokenizer([phrase(i)], padding="max_length", max_length=64,
                                              truncation=True, return_tensors="pt"), q)
        ready = tower.tokenizer([phrase(0)], padding="max_length", max_length=64, truncation=True,
                                return_tensors="pt")
        with torch.inference_mode():
            fwd = timed(lambda i: embedder.net.get_text_features(**ready), q)
        vec = embedder.embed_texts([phrase(0)])[0]
        hnsw = timed(lambda i: store.query(NAME, vec, 10), q)
        print("\ntext query, end to end (search_text: tokenise → text tower → HNSW top-10), "
              f"{q} queries")
        print(f"  p50 {p50(end):7.1f} ms   (p90 {np.percentile(end, 90) * 1000:.1f} ms)   target < 50 ms")
        print(f"  parts alone: tokenise {p50(tok):.2f} ms · text tower forward on ready tensors "
              f"{p50(fwd):.1f} ms (the ceiling) · HNSW query {p50(hnsw):.2f} ms")

        quantized = embedder_for(meta, "cpu", True)  # --text-int8: a separate cached copy
        search_text(store, NAME, phrase(0), k=10, device="cpu", int8=True)  # warm-up
        end8 = timed(lambda i: search_text(store, NAME, phrase(i), k=10, device="cpu", int8=True), q)
        with torch.inference_mode():
            fwd8 = timed(lambda i: quantized.net.get_text_features(**ready), q)
        near = float(quantized.embed_texts([phrase(1)])[0] @ embedder.embed_texts([phrase(1)])[0])
        print(f"  with --text-int8: p50 {p50(end8):7.1f} ms   (p90 {np.percentile(end8, 90) * 1000:.1f} ms) "
              f"· its forward alone {p50(fwd8):.1f} ms · cosine to the fp32 vector {near:.4f}")

        maps = Maps(Session(UISettings(device="cpu"), store))
        t0 = time.perf_counter()
        v, _, _ = maps.open(NAME, "pca", None)
        opened = time.perf_counter() - t0
        t0 = time.perf_counter()
        v, _ = maps.colour_by_phrase(v, phrase(0))
        maps.descriptor(v)
        first = time.perf_counter() - t0

        def colour(i: int) -> None:
            maps.colour_by_phrase(v, phrase(i))
            maps.descriptor(v)  # writes the colouring's file the page fetches

        col = timed(colour, q)
        pub = maps.published.get(v.token)
        product = timed(lambda i: cosine_colouring("x", pub.text_vectors, vec), q)
        print(f"\ncolouring {pub.data.n:,} points by a phrase (Maps.colour_by_phrase + the file the "
              f"page reads), {q} phrases")
        print(f"  p50 {p50(col):7.1f} ms   (p90 {np.percentile(col, 90) * 1000:.1f} ms)   target < 1 s")
        print(f"  parts alone: cosine + scaling of {pub.data.n:,} × 768 {p50(product):.1f} ms · "
              f"the phrase's embedding ≈ the text query's tower time above")
        print(f"  once per map: map read {opened:.1f} s; first phrase {first:.1f} s "
              "(reads the map's points from the text space)")
        print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        store.close()


if __name__ == "__main__":
    main()
