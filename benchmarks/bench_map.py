"""The Explore tab's WebGL map in headless Chromium: time to an interactive 100k-point map, and
a box selection of ~10k points to a filled gallery.

    python benchmarks/bench_map.py                      # 100k points, 10k selected
    python benchmarks/bench_map.py --points 1000000     # a million
    python benchmarks/bench_map.py --first-visit --points 1000000 --data-dir /tmp/map1m

``--first-visit`` measures what a user waits for (STYLE.md 21): the collection with its map file
written (as `analyze` leaves it), then for each visit a freshly started `embedscope ui` process
and a fresh Chromium, timed from opening the page to the drawn map (the collection line shown,
the Explore tab clicked as a user does, the canvas drawn). ``--data-dir`` keeps the collection
between runs (building a million points takes minutes).

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
import subprocess
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


def _start_ui(data_dir: Path, port: int, log: Any) -> tuple[subprocess.Popen[bytes], float]:
    """`embedscope ui` in a new process; returns it and the seconds until its port answers."""
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(data_dir), "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedscope", "ui", "--port", str(port), "--collection",
         "synthetic__fake", "--data-dir", str(data_dir)], env=env, stdout=log, stderr=log)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"embedscope ui exited with {proc.returncode}: see {log.name}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, time.perf_counter() - started
        time.sleep(0.05)


def first_visit(points_n: int, visits: int, data_dir: Path) -> None:
    """Build (or reuse) the collection and its map files, then time ``visits`` first visits:
    each a new `embedscope ui` process and a new Chromium, from opening the page to the map."""
    from playwright.sync_api import sync_playwright

    from embedscope.analysis.outputs import write_maps
    from embedscope.store.edge import EdgeStore

    name = "synthetic__fake"
    with EdgeStore(data_dir / "qdrant") as store:
        if store.collection_exists(name) and store.count(name) != points_n:
            store.delete_collection(name)
        if not store.collection_exists(name):
            started = time.perf_counter()
            build_collection(store, name, points_n)
            print(f"built {points_n:,} points in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        write_maps(store, name, data_dir)
        print(f"map files written in {time.perf_counter() - started:.1f} s")
    rows = []
    with open(data_dir / "bench_ui.log", "ab") as log:
        for visit in range(visits):
            port = free_port()
            proc, up = _start_ui(data_dir, port, log)
            try:
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                args=CHROMIUM_ARGS)
                    page = browser.new_page(viewport={"width": 1400, "height": 1100})
                    page.set_default_timeout(300_000)
                    joins: list[float] = []  # when the page's app asks for its load event
                    page.on("request", lambda r, j=joins: j.append(time.perf_counter())
                            if "queue/join" in r.url else None)
                    opened = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}/")
                    page.locator("#collection-info").get_by_text(f"{points_n:,} points").wait_for()
                    loaded = time.perf_counter()
                    shell = page.evaluate(  # the page's own files, before its load event's answer
                        "() => performance.getEntriesByType('navigation')[0].loadEventEnd / 1000")
                    page.get_by_role("tab", name="Explore").click()
                    # the map as first drawn at its size on screen: its density overview (a
                    # large map), else the points
                    page.wait_for_function(
                        "() => (window.embedscopeMaps || []).some(m => m.state.timings.visible > 0)",
                        polling=20)
                    shown = time.perf_counter()
                    page.wait_for_function(
                        "n => (window.embedscopeMaps || []).some(m => m.state.ready "
                        "&& m.state.n === n && m.state.drawnAt > 0)", arg=points_n, polling=20)
                    drawn = time.perf_counter()
                    overview = page.evaluate(
                        "() => window.embedscopeMaps.some(m => m.state.overviewAt > 0)")
                    browser.close()
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            rows.append((up, loaded - opened, shown - loaded, shown - opened, drawn - opened))
            first = "density overview" if overview else "points"
            print(f"visit {visit + 1}: server up {up:5.2f} s (not counted) · page opened → "
                  f"collection shown {loaded - opened:5.2f} s (the page's files {shell:4.2f} s, "
                  f"its app asks for the load event at {joins[0] - opened if joins else 0:4.2f} s)"
                  f" · Explore clicked → {first} drawn {shown - loaded:5.2f} s · first visit "
                  f"{shown - opened:5.2f} s · all {points_n:,} points drawn "
                  f"{drawn - opened:5.2f} s after opening")
    if not rows:
        return
    med = np.median(np.array(rows), axis=0)
    print(f"first visit, median of {visits} (fresh `embedscope ui`, fresh Chromium, map file "
          f"written), {points_n:,} points: page {med[1]:.2f} s + map ({first}) {med[2]:.2f} s = "
          f"{med[3]:.2f} s; every point drawn {med[4]:.2f} s after opening")


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
    from embedscope.maparrays import map_key
    from embedscope.mapfiles import MapFiles
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map import points

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--select", type=int, default=10_000, help="points in the box")
    parser.add_argument("--repeat", type=int, default=3, help="selections timed")
    parser.add_argument("--first-visit", action="store_true",
                        help="time first visits: a fresh `embedscope ui` and a fresh browser "
                        "each, from opening the page to the drawn map")
    parser.add_argument("--visits", type=int, default=3, help="first visits timed")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="--first-visit: keep the collection here (reused when it holds "
                        "--points points)")
    args = parser.parse_args()
    if args.first_visit:
        if args.data_dir is not None:
            args.data_dir.mkdir(parents=True, exist_ok=True)
            first_visit(args.points, args.visits, args.data_dir.resolve())
        else:
            with tempfile.TemporaryDirectory() as tmp:
                first_visit(args.points, args.visits, Path(tmp))
        return

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
