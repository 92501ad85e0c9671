"""`embedscope export-map`: the folder opens from file:// in headless Chromium with no server —
points drawn, hover shows a thumbnail, a box selection fills the gallery, the CSV has its ids."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.bench_map import CHROMIUM_ARGS, CLASSES, build_collection

CHROMIUM = Path(os.environ.get("EMBEDSCOPE_CHROMIUM", "/usr/bin/chromium"))
POINTS = 600
NAME = "exported__fake"
READY = "n => window.embedscopeExport && window.embedscopeExport.map.state.ready " \
        "&& window.embedscopeExport.map.state.n === n"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A 600-point map exported to a folder; the store is closed before any browser opens it."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map.export import export_map

    tmp = tmp_path_factory.mktemp("export")
    with EdgeStore(tmp / "qdrant") as store:
        build_collection(store, NAME, POINTS)
        done = export_map(store, NAME, tmp / "map", tile=16, columns=16)
    return tmp / "map", done


def test_export_writes_a_folder_with_atlases_not_a_file_per_point(exported: tuple[Path, Any]) -> None:
    folder, done = exported
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    # 600 thumbnails in 16 × 16 = 256 per atlas: 3 atlas images
    assert files == ["atlas/atlas-000.jpg", "atlas/atlas-001.jpg", "atlas/atlas-002.jpg",
                     "embedscope-map.js", "index.html", "map-data.js"]
    assert done.points == POINTS and done.thumbnails == POINTS and done.atlases == 3
    data = (folder / "map-data.js").read_text()
    assert data.startswith("window.EMBEDSCOPE_EXPORT = ")
    assert "http://" not in (folder / "index.html").read_text()  # nothing from a server or CDN


def test_export_reads_the_map_from_every_store_backend(store: Any, tmp_path: Path) -> None:
    from embedscope.ui.map.export import export_map

    build_collection(store, NAME, 100)
    done = export_map(store, NAME, tmp_path / "map", tile=8, columns=8)
    assert (done.points, done.thumbnails, done.atlases) == (100, 100, 2)
    text = (tmp_path / "map" / "map-data.js").read_text()
    assert '"projection":"umap"' in text and '"name":"cluster_kmeans"' in text


def test_export_map_command_needs_a_collection_and_a_folder() -> None:
    from embedscope.errors import UsageError
    from embedscope.ui.config import ExportMapSettings

    with pytest.raises(UsageError, match="--collection"):
        ExportMapSettings(out=Path("x")).check()
    with pytest.raises(UsageError, match="--out"):
        ExportMapSettings(collection="c").check()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                    "EMBEDSCOPE_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.browser
def test_exported_map_works_from_file_url(
    exported: tuple[Path, Any], browser: Any, tmp_path: Path
) -> None:
    from PIL import Image

    folder, _ = exported
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((folder / "index.html").resolve().as_uri())
    page.wait_for_function(READY, arg=POINTS, polling=50)
    ex = "window.embedscopeExport"
    # points drawn: the canvas shows the palette's colours, the legend every class
    assert page.locator(".es-count").inner_text().startswith(f"{POINTS:,} points")
    assert all(name in page.locator(".es-legend").inner_text() for name in CLASSES)
    shot = Image.open(io.BytesIO(page.locator(".es-plot canvas").screenshot())).convert("RGB")
    pixels = np.asarray(shot).reshape(-1, 3)
    assert ((pixels.max(axis=1) - pixels.min(axis=1)) > 60).sum() > 500
    # hover: the tooltip shows the point's tile of an atlas and its caption
    page.evaluate(f"{ex}.map.hover(7)")
    tooltip = page.locator(".es-tooltip")
    tooltip.wait_for(state="visible")
    sprite = tooltip.locator(".es-sprite")
    assert "atlas/atlas-000.jpg" in sprite.get_attribute("style")
    caption = page.evaluate("window.EMBEDSCOPE_EXPORT.captions[7]")  # map row 7 (id order)
    assert caption in tooltip.inner_text() and "#" in caption
    assert any(caption.startswith(name) for name in CLASSES)
    loaded = page.evaluate("""() => new Promise(ok => { const i = new Image();
        i.onload = () => ok(i.naturalWidth); i.onerror = () => ok(-1);
        i.src = 'atlas/atlas-000.jpg'; })""")
    assert loaded == 16 * 16  # the atlas loads from file://
    # colour by another stored field: the legend follows
    page.select_option("[data-role=colour]", "cluster_kmeans")
    page.wait_for_function("() => document.querySelector('.es-legend').innerText.includes('cluster 4')")
    # a box over the whole map selects everything; the gallery pages 48 at a time
    count = page.evaluate(f"{ex}.map.selectBox(-1, -1, 1, 1)")
    assert count == POINTS
    page.wait_for_function("() => document.querySelectorAll('.es-tile').length === 48")
    assert "page 1 of 13" in page.locator(".es-gallery").inner_text()
    # a smaller box: the CSV holds exactly the selected points' ids
    count = page.evaluate(f"{ex}.map.selectBox(-1, -1, 0, 0)")
    assert 0 < count < POINTS
    expected = set(page.evaluate(f"{ex}.gallery.rows.map(r => {ex}.idOf(r))"))
    with page.expect_download() as info:
        page.click("[data-g=csv]")
    path = tmp_path / "selection.csv"
    info.value.save_as(path)
    rows = list(csv.DictReader(path.open()))
    assert {r["id"] for r in rows} == expected and len(rows) == count
    assert {"label", "split", "cluster_kmeans"} <= set(rows[0])
    # "Select group": a whole class becomes the selection (label colouring: 60 points each)
    page.select_option("[data-role=colour]", "label")
    page.select_option("[data-role=group]", "Bag")
    page.wait_for_function("() => window.embedscopeExport.gallery.rows.length === 60")
    assert "Bag 60" in page.locator("[data-role=counts]").inner_text()
    assert all(u.startswith(("file://", "data:", "blob:")) for u in requests), requests
    ctx.close()


@pytest.mark.slow
@pytest.mark.browser
def test_a_100k_point_export_with_real_thumbnails_fits_in_60_mb_and_draws_from_disk(
    tmp_path: Path, browser: Any
) -> None:
    from benchmarks.bench_export import real_thumbnails
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map.export import export_map

    n = 100_000
    with EdgeStore(tmp_path / "qdrant") as store:
        build_collection(store, "big", n, thumbnails=real_thumbnails())
        done = export_map(store, "big", tmp_path / "map")
    assert done.thumbnails == n and done.bytes <= 60_000_000, done
    page = browser.new_page()
    page.set_default_timeout(120_000)
    page.goto((tmp_path / "map" / "index.html").resolve().as_uri())
    page.wait_for_function(READY, arg=n, polling=50)
    # the time is printed (benchmarks/bench_export.py measures it), never asserted
    print(f"100k exported: {done.bytes / 1e6:.1f} MB, drawn "
          f"{page.evaluate('window.embedscopeExport.map.state.timings.drawn') / 1000:.2f} s "
          "after navigation")
    page.close()
