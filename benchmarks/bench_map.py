"""The Explore tab's WebGL map in headless Chromium: time to an interactive 100k-point map, and
a box selection of ~10k points to a filled gallery.

    python benchmarks/bench_map.py                      # 100k points, 10k selected
    python benchmarks/bench_map.py --points 1000000     # a million

The collection is built directly through the store (random 8-d vectors, synthetic 2-D "umap"
coordinates in 10 class blobs, 4×4 PNG thumbnails), so building it takes seconds. Timings are
printed beside the server-side parts measured in the same run (reading the points from the
store, publishing the binary files) — the floor the page cannot beat. Last, the map files are
written as `analyze` writes them after its payloads, and a freshly started page opens the map
from them (the first visit after any start, with no store read).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
CHROMIUM = Path(os.environ.get("EMBEDSCOPE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _thumbs() -> list[str]:
    from PIL import Image

    out = []
    for c in range(len(CLASSES)):
        img = Image.new("L", (4, 4), 20 + 23 * c)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


def build_collection(store: Any, name: str, n: int, seed: int = 0, batch: int = 5000,
                     thumbnails: list[str] | None = None) -> np.ndarray:
    """A labelled collection of ``n`` points with a stored "umap" map; returns the coordinates.

    Point ``i`` has label ``i % 10``, split train (80 %) or test, and sits in its class's blob;
    its thumbnail is a 4×4 grey of its class, or ``thumbnails[i % len(thumbnails)]``.
    """
    from embedscope.contract import CollectionMeta, now_iso

    rng = np.random.default_rng(seed)
    dim = 8
    store.ensure_collection(name, CollectionMeta(model="fake", dimension=dim, pooling="cls",
                                                 dataset="synthetic", labels=CLASSES))
    centres = rng.normal(0, 6, (len(CLASSES), 2))
    labels = np.arange(n) % len(CLASSES)
    xy = centres[labels] + rng.normal(0, 1.2, (n, 2))
    thumbs = _thumbs()
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{i}")) for i in range(start, stop)]
        vectors = rng.normal(size=(stop - start, dim)).astype(np.float32)
        payloads = [{"dataset": "synthetic", "split": "test" if i % 5 == 0 else "train",
                     "index": i, "label": int(labels[i]), "label_name": CLASSES[labels[i]],
                     "thumbnail": thumbs[labels[i]] if thumbnails is None
                     else thumbnails[i % len(thumbnails)], "umap": [float(xy[i, 0]), float(xy[i, 1])],
                     "cluster_kmeans": int(labels[i] // 2)}
                    for i in range(start, stop)]
        store.upsert(name, ids, vectors, payloads)
    store.update_meta(name, analysis={"run_id": "synthetic", "created_at": now_iso(),
                                      "fields": ["umap", "cluster_kmeans"]})
    store.optimize(name)
    return xy


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def box_for(xy: np.ndarray, target: int) -> tuple[float, float, float, float]:
    """A square around the map's centre (map coordinates) holding about ``target`` points."""
    from embedscope.ui.map.points import normalised

    norm = normalised(xy)
    centre = np.median(norm, axis=0)
    dist = np.abs(norm - centre).max(axis=1)
    half = float(np.sort(dist)[min(target, len(dist)) - 1])
    return (float(centre[0] - half), float(centre[1] - half),
            float(centre[0] + half), float(centre[1] + half))


def _serve(root: Path, port: int) -> tuple[Any, Any, str]:
    """A fresh page process's parts (a new session: nothing loaded) and its URL."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.server import launch
    from embedscope.ui.service import Session

    session = Session(store=EdgeStore(root))
    config = UISettings(port=port, collection="synthetic__fake")
    session.settings = config
    return launch(config, session, block=False), session, f"http://127.0.0.1:{port}/"


def _open_map(browser: Any, url: str, n: int) -> tuple[Any, float]:
    """A new page: the Explore tab opened → ``n`` points drawn (seconds)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(180_000)
    page.goto(url)
    page.locator("#collection-info").get_by_text(f"{n:,} points").wait_for()
    opened = time.perf_counter()
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function(
        "n => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === n)",
        arg=n, polling=20)
    return page, time.perf_counter() - opened


def _select(page: Any, box: tuple[float, float, float, float], repeat: int) -> tuple[int, list[float]]:
    """Box selections → gallery of 48 and counts (seconds each)."""
    times = []
    count = 0
    for _ in range(repeat):
        page.evaluate("() => window.embedscopeMaps.at(-1).selectRows([], 'replace')")
        page.locator("#selection-info").get_by_text("Nothing selected").wait_for()
        started = time.perf_counter()
        count = page.evaluate(
            "b => window.embedscopeMaps.at(-1).selectBox(b[0], b[1], b[2], b[3])", box)
        page.wait_for_function(
            "n => { const e = document.querySelector('#selection-info'); "
            "return e && e.innerText.includes(n.toLocaleString('en-US') + ' selected') "
            "&& document.querySelectorAll('#map-selection img').length >= 48 "
            "&& !!document.querySelector('#selection-counts table'); }",
            arg=count, polling=10)
        times.append(time.perf_counter() - started)
        page.locator("#selection-counts table").wait_for()
    return count, times


def main() -> None:
    """Build the collection, serve the page, open the Explore tab and select a box; then write
    the map files as the analysis does and open the map on a freshly started page."""
    from playwright.sync_api import sync_playwright

    from embedscope.analysis.outputs import write_maps
    from embedscope.mapfiles import MapFiles, map_key
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map import points

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--select", type=int, default=10_000, help="points in the box")
    parser.add_argument("--repeat", type=int, default=3, help="selections timed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EMBEDSCOPE_DATA_DIR"] = tmp  # the page's map files go there
        root = Path(tmp) / "qdrant"
        started = time.perf_counter()
        with EdgeStore(root) as store:
            xy = build_collection(store, "synthetic__fake", args.points)
        print(f"built {args.points:,} points in {time.perf_counter() - started:.1f} s")
        with EdgeStore(root) as store:
            started = time.perf_counter()
            data = points.load_map(store, "synthetic__fake", "umap")
            read_s = time.perf_counter() - started
            key = map_key(store, "synthetic__fake", "umap")
        files = MapFiles(Path(tmp) / "elsewhere")
        files.save(data, key)
        started = time.perf_counter()
        files.load(key)
        file_s = time.perf_counter() - started
        print(f"server floor: reading the map's fields from the store   {read_s:6.2f} s "
              f"({data.n:,} points); from its map file {file_s:.2f} s")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                        args=CHROMIUM_ARGS)
            demo, session, url = _serve(root, free_port())
            try:
                for visit in ("first visit after a start, no map file (reads the store)",
                              "next visit (map loaded on the server)"):
                    page, took = _open_map(browser, url, args.points)
                    print(f"page, {visit}: Explore tab opened → {args.points:,} points drawn "
                          f"{took:6.2f} s (budget 3 s)")
                count, times = _select(page, box_for(xy, args.select), args.repeat)
                print(f"page: box over {count:,} points → gallery of 48 + counts  "
                      f"{min(times):6.2f} s best, {np.median(times):.2f} s median of {len(times)} "
                      "(budget 1 s)")
            finally:
                demo.close()
                session.close()
            for old in (Path(tmp) / "maps").glob("*.npz"):  # what the first visit saved
                old.unlink()
            with EdgeStore(root) as store:
                started = time.perf_counter()
                written = write_maps(store, "synthetic__fake", Path(tmp))
                write_s = time.perf_counter() - started
            print(f"analysis: writing the map files after the payloads  {write_s:6.2f} s "
                  f"({', '.join(written)})")
            demo, session, url = _serve(root, free_port())
            try:
                _, took = _open_map(browser, url, args.points)
                print(f"page, first visit after a start, map file written by the analysis: "
                      f"Explore tab opened → {args.points:,} points drawn {took:6.2f} s "
                      "(budget 3 s)")
            finally:
                demo.close()
                session.close()
            browser.close()


if __name__ == "__main__":
    main()
