"""A large map in headless Chromium: its density overview is drawn before the points arrive,
coloured by the chosen field; hover and box selection work over it; zooming in fades the points
in and the overview out."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from benchmarks.bench_map import build_collection
from tests.ui.conftest import launched
from tests.ui.map.test_map_browser import CHROMIUM, READY, TIMEOUT_MS, free_port, js

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]
NAME, POINTS = "dense__fake", 3000
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, np.ndarray]]:
    """The page on a 3,000-point map, told to open maps of 1,000 points or more on density."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    data = tmp_path_factory.mktemp("density-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(data))
        mp.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
        store = EdgeStore(data / "qdrant")
        xy = build_collection(store, NAME, POINTS)
        session = Session(store=store)
        config = UISettings(port=free_port(), collection=NAME, map_density_from=1000)
        with launched(session, config) as url:
            yield url, xy


#: The row of class ``a`` nearest its class's mean position (the colouring's codes are labels).
MIDDLE = """(() => {
  const s = m.state; let sx = 0, sy = 0, c = 0;
  for (let i = 0; i < s.n; i++) if (s.valueA[i] === a) { sx += s.x[i]; sy += s.y[i]; c += 1; }
  let best = -1, dist = Infinity;
  for (let i = 0; i < s.n; i++) {
    if (s.valueA[i] !== a) continue;
    const d = (s.x[i] - sx / c) ** 2 + (s.y[i] - sy / c) ** 2;
    if (d < dist) { dist = d; best = i; }
  }
  return best;
})()"""


def _canvas(page: Any) -> np.ndarray:
    from PIL import Image

    shot = page.locator("#webmap canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


def _hue_near(pixels: np.ndarray, hex_colour: str) -> bool:
    """Whether a pixel blended into white from ``hex_colour`` could be this one: the same
    direction away from white."""
    want = 255 - np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    got = 255 - pixels
    cos = (got @ want) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want) + 1e-9)
    return bool((cos > 0.97).any())


def test_the_overview_comes_first_and_gives_way_to_the_points(
    browser: Any, served: tuple[str, np.ndarray],
) -> None:
    url, xy = served
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    held: list[Any] = []
    page.route("**/*-xy.bin", lambda route: held.append(route))  # the points' coordinates wait until released
    page.goto(url)
    page.locator("#collection-info").get_by_text(f"{POINTS:,} points").wait_for()
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function("() => (window.embedscopeMaps || []).some(m => m.state.overviewAt > 0)")

    # the overview is on screen while no point has arrived
    assert held, "the page asked for no coordinates"
    assert js(page, "m.state.ready") is False and js(page, "m.state.x") is None
    assert "density" in page.locator("#webmap .es-count").inner_text()
    pixels = _canvas(page)
    coloured = (pixels.max(axis=-1) - pixels.min(axis=-1)) > 40
    assert coloured.sum() > 500, "the overview drew nothing"

    for route in held:
        route.continue_()
    page.unroute("**/*-xy.bin")
    page.wait_for_function(READY, arg=POINTS, polling=50)
    assert js(page, "m.state.timings.overview < m.state.timings.drawn")
    assert js(page, "m.state.fade") == 0, "at the whole map's zoom the overview is shown"
    assert js(page, "m.scatterplot.get('opacity')[1]") == 0

    # each class's blob is drawn in its class's colour (label is the colouring shown): the
    # overview's pixels at the class's middle point (blobs may overlap: most, not all)
    box = page.locator("#webmap canvas").bounding_box()
    pixels = _canvas(page)
    scale = pixels.shape[1] / box["width"]
    matched = 0
    for label in range(10):
        sx, sy = js(page, "m.scatterplot.getScreenPosition(a)", js(page, MIDDLE, label))
        x, y = int(sx * scale), int(sy * scale)
        matched += _hue_near(pixels[y - 2:y + 3, x - 2:x + 3], PALETTE[label])
    assert matched >= 7, matched

    # hover and box selection work over the overview
    row = 1234
    sx, sy = js(page, "m.scatterplot.getScreenPosition(a)", row)
    page.mouse.move(box["x"] + sx, box["y"] + sy)
    page.locator("#webmap .es-tooltip .es-caption").wait_for()
    assert js(page, "m.selectBox(-1, -1, 0, 1)") > 0

    # zooming in fades the points in and the overview out
    js(page, "m.scatterplot.zoomToArea({x: -0.1, y: -0.1, width: 0.2, height: 0.2}, "
       "{transition: false})")
    page.wait_for_function("() => window.embedscopeMaps.at(-1).state.fade === 1")
    assert js(page, "m.scatterplot.get('backgroundImage')") is None
    assert js(page, "m.scatterplot.get('opacity')[1]") == pytest.approx(0.85)

    # another colouring brings its own overview
    before = js(page, "m.state.densityKey")
    page.locator("#colour-by input").click()
    page.get_by_role("option", name="split", exact=True).click()
    page.wait_for_function("k => window.embedscopeMaps.at(-1).state.densityKey !== k", arg=before)
    ctx.close()
