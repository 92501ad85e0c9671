"""The JSON API under load: one client at a time against 16 concurrent clients, then a load test.

    python benchmarks/bench_api.py                      # dinov2-small-sized (random weights), 224 px, CPU
    python benchmarks/bench_api.py --load-seconds 60 --load-clients 32

Starts `embedscope serve` in its own process on a collection of the Fashion-MNIST sample, sends
image searches (`POST /api/v1/search`, a 28 × 28 PNG each) through `embedscope.client.Client`,
and prints images/s, p50 and p99 latency for one client, then for --clients concurrent ones, next
to the ceiling: the model's forward on ready tensors at batch 1 and at --max-batch. The load test
counts errors and samples the server's resident memory every second.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import random_collection  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/fashion_mnist_sample"


def _queries(data: Path, n: int) -> list[bytes]:
    import pyarrow.parquet as pq

    rows = pq.read_table(data / "test.parquet", columns=["image"]).slice(0, n).to_pylist()
    return [r["image"]["bytes"] for r in rows]


def _forward_ceiling(model: Path, batch: int, side: int, repeats: int = 3) -> tuple[float, float]:
    """Images/s of the model's forward alone on ready tensors, at batch 1 and ``batch``."""
    import torch
    from transformers import Dinov2Model

    net = Dinov2Model.from_pretrained(model).eval()
    out = []
    for size in (1, batch):
        x = torch.randn(size, 3, side, side)
        with torch.inference_mode():
            net(pixel_values=x)
            start = time.perf_counter()
            for _ in range(repeats):
                net(pixel_values=x)
        out.append(size * repeats / (time.perf_counter() - start))
    return out[0], out[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run(url: str, images: list[bytes], clients: int, per_client: int, collection: str,
         seconds: float | None = None) -> tuple[list[float], int, float, list[str]]:
    """Latencies, errors, wall time and the first error messages of ``clients`` threads."""
    from embedscope.client import APIError, Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds if seconds else None

    def work(c: int) -> None:
        client = Client(url, timeout=120)
        i = 0
        while (stop is None and i < per_client) or (stop is not None and time.monotonic() < stop):
            img = images[(c * 7919 + i) % len(images)]
            start = time.perf_counter()
            try:
                client.search(collection, img, k=10)
                ok = True
            except APIError as exc:
                ok = False
                with lock:
                    errors.append(f"{exc.status} {exc.code}: {exc}")
            took = time.perf_counter() - start
            if ok:
                with lock:
                    latencies.append(took)
            i += 1

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, len(errors), time.perf_counter() - start, errors[:3]


def _line(name: str, lat: list[float], wall: float, errors: int) -> str:
    lat = sorted(lat)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))] if lat else float("nan")
    return (f"{name:<26} {len(lat) / wall:8.1f} img/s   p50 {statistics.median(lat) * 1000:7.0f} ms"
            f"   p99 {p99 * 1000:7.0f} ms   {len(lat)} ok, {errors} errors")


def main() -> None:
    """Build a collection, serve it, and time the API."""
    from embedscope.client import Client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--stored", type=int, default=300, help="images stored in the collection")
    parser.add_argument("--requests", type=int, default=40, help="requests of the one client")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--window-ms", type=float, default=5.0)
    parser.add_argument("--load-seconds", type=float, default=0, help="0: no load test")
    parser.add_argument("--load-clients", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, q = random_collection(args.data, root, args.size, args.stored, args.device,
                                     args.image_size)
        one, many = _forward_ceiling(model, args.max_batch, args.image_size)
        print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; "
              f"dinov2-{args.size} (random weights) at {args.image_size} px on {args.device}")
        print(f"{'ceiling: forward, batch 1':<26} {one:8.1f} img/s")
        print(f"{f'ceiling: forward, batch {args.max_batch}':<26} {many:8.1f} img/s")

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(q.data_dir), "HF_HUB_OFFLINE": "1",
               "EMBEDSCOPE_SERVE_PORT": str(port), "EMBEDSCOPE_SERVE_DEVICE": args.device,
               "EMBEDSCOPE_SERVE_MAX_BATCH": str(args.max_batch),
               "EMBEDSCOPE_SERVE_BATCH_WINDOW_MS": str(args.window_ms)}
        env.pop("EMBEDSCOPE_QDRANT_URL", None)
        server = subprocess.Popen([sys.executable, "-m", "embedscope", "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            client = Client(url)
            deadline = time.monotonic() + 120
            while True:
                try:
                    client.collections()
                    break
                except Exception as exc:
                    if time.monotonic() > deadline or server.poll() is not None:
                        said = server.stderr.read() if server.poll() is not None and server.stderr else ""
                        raise SystemExit(f"the server did not start: {said}") from exc
                    time.sleep(0.2)
            images = _queries(args.data, 64)
            _run(url, images, 1, 3, "bench")  # loads the query model
            lat, err, wall, _ = _run(url, images, 1, args.requests, "bench")
            single = len(lat) / wall
            print(_line("1 client at a time", lat, wall, err))
            lat, err, wall, _ = _run(url, images, args.clients, args.per_client, "bench")
            print(_line(f"{args.clients} concurrent clients", lat, wall, err))
            print(f"speed-up: {len(lat) / wall / single:.1f}x the images/s of one client")
            if args.load_seconds:
                samples: list[tuple[float, float]] = []
                done = threading.Event()

                def sample() -> None:
                    start = time.monotonic()
                    while not done.wait(1.0):
                        samples.append((time.monotonic() - start, _rss_mb(server.pid)))

                sampler = threading.Thread(target=sample)
                sampler.start()
                rss0 = _rss_mb(server.pid)
                lat, err, wall, first = _run(url, images, args.load_clients, 0, "bench",
                                             seconds=args.load_seconds)
                done.set()
                sampler.join()
                print(_line(f"load: {args.load_clients} clients, {args.load_seconds:.0f} s", lat,
                            wall, err))
                if first:
                    print("first errors:", *first, sep="\n  ")
                tenth = max(1, len(samples) // 10)
                early = statistics.mean(r for _, r in samples[:tenth])
                late = statistics.mean(r for _, r in samples[-tenth:])
                print(f"server RSS: {rss0:.0f} MB before, {early:.0f} MB in the first tenth, "
                      f"{late:.0f} MB in the last tenth, peak {max(r for _, r in samples):.0f} MB")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
