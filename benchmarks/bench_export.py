"""An exported map (`embedscope export-map`): its size on disk and its time to draw from file://.

    python benchmarks/bench_export.py                    # 100k points, real 28×28 thumbnails
    python benchmarks/bench_export.py --points 20000

The collection is built through the store (bench_map.py's synthetic "umap" map in 10 class
blobs, a k-means field), with the shared Fashion-MNIST sample's 3,615 real 28×28 PNG thumbnails
cycled (or bench_map's 4×4 greys when the sample is absent). The export is timed, its folder
measured, then headless Chromium opens index.html from file:// (no server) and the time from
navigation to the map drawn (the map's own ``state.timings.drawn``) is printed, with the time to
the page's load event beside it: the floor the map cannot beat. Never asserts a time.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_map import CHROMIUM, CHROMIUM_ARGS, build_collection  # noqa: E402

SAMPLE = Path(os.environ.get("EMBEDSCOPE_SAMPLE", "/work/shared/data/fashion_mnist_sample"))


def real_thumbnails() -> list[str] | None:
    """The shared sample's PNGs as base64 (None when it is not here)."""
    if not SAMPLE.is_dir():
        return None
    import pyarrow.parquet as pq

    out = []
    for split in ("train", "test"):
        for row in pq.read_table(SAMPLE / f"{split}.parquet", columns=["image"]).to_pylist():
            out.append(base64.b64encode(row["image"]["bytes"]).decode("ascii"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Build, export, open from file://; print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--tile", type=int, default=32, help="--thumbnail-size of the export")
    p.add_argument("--runs", type=int, default=3, help="page loads timed (fresh context each)")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map.export import export_map

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    thumbs = real_thumbnails()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        with EdgeStore(Path(tmp) / "qdrant") as store:
            build_collection(store, "bench", args.points, thumbnails=thumbs)
            print(f"  build {args.points} points "
                  f"({'real 28×28' if thumbs else '4×4 grey'} thumbnails; setup, not timed): "
                  f"{time.perf_counter() - began:.1f} s", flush=True)
            done = export_map(store, "bench", Path(tmp) / "map", tile=args.tile)
        print(f"  export: {done.seconds:.1f} s; {done.points} points, {done.thumbnails} "
              f"thumbnails in {done.atlases} atlases ({args.tile} px tiles)")
        for f in sorted((Path(tmp) / "map").iterdir()):
            size = (sum(g.stat().st_size for g in f.iterdir()) if f.is_dir()
                    else f.stat().st_size)
            print(f"    {f.name:<22} {size / 1e6:8.2f} MB")
        print(f"  on disk: {done.bytes / 1e6:.1f} MB (target ≤ 60 MB)", flush=True)
        url = (Path(tmp) / "map" / "index.html").resolve().as_uri()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=CHROMIUM_ARGS)
            for run in range(args.runs):
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                page.set_default_timeout(120_000)
                page.goto(url, wait_until="commit")
                page.wait_for_function(
                    "n => window.embedscopeExport && window.embedscopeExport.map.state.ready"
                    " && window.embedscopeExport.map.state.n === n", arg=done.points, polling=20)
                drawn = page.evaluate("window.embedscopeExport.map.state.timings.drawn")
                loaded = page.evaluate("performance.getEntriesByType('navigation')[0]"
                                       ".loadEventEnd")
                print(f"  run {run + 1}: drawn {drawn / 1000:.2f} s after navigation (page load "
                      f"event {loaded / 1000:.2f} s) from file:// (target < 3 s)", flush=True)
                ctx.close()
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
