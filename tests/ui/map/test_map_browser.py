"""The WebGL map in headless Chromium: load, hover, box selection → gallery, tags, find-similar,
linked marks, and Highlight (kept by "Show map", reset by another collection)."""

from __future__ import annotations

import io
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.bench_map import CLASSES, build_collection
from tests.ui.conftest import launched

CHROMIUM = Path(os.environ.get("EMBEDSCOPE_CHROMIUM", "/usr/bin/chromium"))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} "
                       "(apt-get install chromium, or set EMBEDSCOPE_CHROMIUM)"),
]
MAPPED, UNMAPPED, POINTS = "mapped__fake", "plain__fake", 2000
TIMEOUT_MS = 60_000
READY = "n => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === n)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, np.ndarray]]:
    """The page on two collections: one with a 2,000-point map, one never analysed."""
    from embedscope.contract import CollectionMeta
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    data = tmp_path_factory.mktemp("map-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(data))
        mp.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
        store = EdgeStore(data / "qdrant")
        xy = build_collection(store, MAPPED, POINTS)
        store.ensure_collection(UNMAPPED, CollectionMeta(model="fake", dimension=8, labels=CLASSES))
        store.upsert(UNMAPPED, [str(uuid.uuid4()) for _ in range(5)],
                     np.eye(5, 8, dtype=np.float32) + 0.1,
                     [{"label": i, "label_name": CLASSES[i], "split": "train", "index": i}
                      for i in range(5)])
        session = Session(store=store)
        with launched(session, UISettings(port=free_port(), collection=MAPPED)) as url:
            yield url, session, xy


@pytest.fixture
def page(browser: Any, served: tuple[str, Any, np.ndarray]) -> Iterator[Any]:
    """A page on the Explore tab with the map drawn."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(served[0])
    pg.locator("#collection-info").get_by_text(f"{POINTS:,} points").wait_for()
    pg.get_by_role("tab", name="Explore").click()
    pg.wait_for_function(READY, arg=POINTS, polling=50)
    yield pg
    ctx.close()


def js(page: Any, code: str, arg: Any = None) -> Any:
    """Evaluate ``code`` with ``m`` bound to the page's map API."""
    return page.evaluate(f"a => {{ const m = window.embedscopeMaps.at(-1); return {code}; }}", arg)


def choose(page: Any, elem_id: str, option: str) -> None:
    """Pick an option of a Gradio dropdown as a user does."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_map_draws_every_point_and_hover_shows_the_image(page: Any, tmp_path: Path) -> None:
    from PIL import Image

    assert page.locator("#webmap .es-count").inner_text().startswith(f"{POINTS:,} points")
    legend = page.locator("#webmap .es-legend").inner_text()
    assert all(name in legend for name in CLASSES)
    shot = Image.open(io.BytesIO(page.locator("#webmap canvas").screenshot())).convert("RGB")
    pixels = np.asarray(shot).reshape(-1, 3)
    coloured = (pixels.max(axis=1) - pixels.min(axis=1)) > 60  # palette colours, not grey/white
    assert coloured.sum() > 2000, "the canvas shows no coloured points"
    # hover a point with the real mouse: the tooltip shows its image and "label · split #row"
    row = 123
    x, y = js(page, "m.scatterplot.getScreenPosition(a)", row)
    box = page.locator("#webmap canvas").bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    tooltip = page.locator("#webmap .es-tooltip")
    tooltip.locator("img").wait_for()
    caption = tooltip.inner_text().strip()
    match = re.fullmatch(r"(.+) · (train|test) #(\d+)", caption)
    assert match, caption
    index = int(match.group(3))  # synthetic point i has label i % 10 and split test when i % 5 == 0
    assert match.group(1) == CLASSES[index % 10]
    assert match.group(2) == ("test" if index % 5 == 0 else "train")
    assert js(page, "m.state.hovered") >= 0


def test_box_selection_pages_tags_and_finds_similar(
    page: Any, served: tuple[str, Any, np.ndarray]
) -> None:
    from embedscope.store import Where
    from embedscope.ui.map import points
    from embedscope.ui.map.points import normalised

    _, session, xy = served
    norm = normalised(xy)
    inside = (norm[:, 0] <= 0) & (norm[:, 1] <= 0)  # the lower-left quadrant of the map
    count = js(page, "m.selectBox(-1, -1, 0, 0)")
    assert count == inside.sum() > 48
    info = page.locator("#selection-info")
    info.get_by_text(f"{count:,} selected").wait_for()
    pages = -(-count // 48)
    assert f"page 1 of {pages}" in info.inner_text()
    page.locator("#map-selection img").nth(47).wait_for()
    table = page.locator("#selection-counts table").inner_text()
    assert sum(int(n.replace(",", "")) for n in re.findall(r"\t([\d,]+)", table)) == count
    page.locator("#selection-next").click()
    info.get_by_text(f"page 2 of {pages}").wait_for()
    # add the upper-right quadrant, subtract nothing: the union is selected
    more = js(page, "m.selectBox(0, 0, 1, 1, 'add')")
    union = inside | ((norm[:, 0] >= 0) & (norm[:, 1] >= 0))
    assert more == union.sum()
    info.get_by_text(f"{more:,} selected").wait_for()
    assert js(page, "m.selectBox(0, 0, 1, 1, 'subtract')") == count
    info.get_by_text(f"{count:,} selected").wait_for()

    # tag the selection: stored in Qdrant, a colouring of the map, and a filter
    page.locator("#tag-name textarea, #tag-name input").first.fill("keep")
    page.locator("#tag-selection").click()
    page.locator("#tag-note").get_by_text(f"Tagged {count:,} points").wait_for()
    page.locator("#webmap .es-legend").get_by_text("tag: keep").wait_for()
    assert page.locator("#colour-by input").input_value() == "tag: keep"
    with session.store() as s:
        tagged = {r.id for r in s.scroll(MAPPED, Where(tag="keep"), False)}
    with session.store() as s:
        stored = points.load_map(s, MAPPED, "umap")
    expected = set(stored.ids_of(np.flatnonzero((normalised(stored.xy)[:, 0] <= 0)
                                                & (normalised(stored.xy)[:, 1] <= 0))))
    assert tagged == expected

    # find similar from the selection gallery: the Search tab searches by that point
    page.locator("#map-selection img").first.click()
    button = page.locator("#map-find-similar")
    button.wait_for()  # the page always offers it under a clicked image: its absence fails
    point = page.locator("#clicked-point code").inner_text()
    button.click()
    page.get_by_role("tab", name="Search", selected=True).wait_for()
    page.locator("#prediction").get_by_text("Predicted").wait_for()
    # linked views: back on the map, the query is marked
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function("() => window.embedscopeMaps.at(-1).state.desc.marks.query !== null")
    query_row = js(page, "m.state.desc.marks.query")
    assert stored.id_of(query_row) == point
    assert len(js(page, "m.state.desc.marks.neighbours")) >= 1


def test_show_map_keeps_highlight_and_another_collection_resets_it(page: Any) -> None:
    choose(page, "highlight", "Bag")
    page.wait_for_function("() => window.embedscopeMaps.at(-1).state.desc.highlight === 8")
    page.locator("#show-map").click()
    page.locator("#map-note").get_by_text(f"{POINTS:,} points").wait_for()
    page.wait_for_timeout(500)
    assert page.locator("#highlight input").input_value() == "Bag"
    assert js(page, "m.state.desc.highlight") == 8
    # another collection, never analysed: the map empties with a hint; Highlight resets
    choose(page, "collection", UNMAPPED)
    page.locator("#webmap .es-empty").get_by_text("No 2-D map stored").wait_for()
    assert js(page, "m.state.n") == 0
    assert page.locator("#highlight input").input_value() == "(none)"
    # and back: the map is drawn again
    choose(page, "collection", MAPPED)
    page.wait_for_function(READY, arg=POINTS)
    assert page.locator("#highlight input").input_value() == "(none)"


def test_a_projection_registered_here_is_offered_and_drawn(
    page: Any, served: tuple[str, Any, np.ndarray]
) -> None:
    from embedscope.analysis.registry import register_projection, unregister_projection
    from embedscope.ui.map import points
    from embedscope.ui.map.points import normalised

    _, session, xy = served
    name = "seeded_random"
    rotated = xy @ np.random.default_rng(7).normal(size=(2, 2))  # what the analysis would write
    with session.store() as s:
        index = {r.id: r.payload["index"] for r in s.scroll(MAPPED, None, ["index"])}
        s.set_payloads(MAPPED, {i: {name: [float(v) for v in rotated[row]]} for i, row in index.items()})
        analysis = dict(s.get_meta(MAPPED).analysis)
        s.update_meta(MAPPED, analysis={**analysis, "fields": [*analysis["fields"], name]})
    register_projection(name)(lambda X, s, a: X[:, :2])
    try:
        before = js(page, "m.state.token")
        page.locator("#show-map").click()  # the Map dropdown is filled when the map is shown
        page.wait_for_function("t => { const m = window.embedscopeMaps.at(-1);"
                               " return m.state.ready && m.state.token && m.state.token !== t; }",
                               arg=before, polling=50)
        choose(page, "projection", name)
        page.wait_for_function(
            "([p, n]) => { const m = window.embedscopeMaps.at(-1);"
            " return m.state.ready && m.state.n === n && m.state.desc.projection === p; }",
            arg=[name, POINTS], polling=50)
        with session.store() as s:
            wrote = points.load_map(s, MAPPED, name)  # in map order
        drawn = np.asarray(js(page, "[Array.from(m.state.x), Array.from(m.state.y)]"), np.float32).T
        assert np.allclose(drawn, normalised(wrote.xy), atol=1e-6)
        assert page.locator("#colour-by input").input_value() == "label"
        assert all(c in page.locator("#webmap .es-legend").inner_text() for c in CLASSES)
    finally:
        unregister_projection(name)
        with session.store() as s:
            s.update_meta(MAPPED, analysis=analysis)


def test_a_lasso_started_on_a_point_selects_every_point_in_its_loop(page: Any) -> None:
    import math

    page.locator("#webmap [data-tool=lasso]").click()
    box = page.locator("#webmap canvas").bounding_box()
    # a point well inside the canvas, so that a 60 px loop from it stays on the map
    row = js(page, """(() => { for (let r = 0; r < m.state.n; r++) {
        const [x, y] = m.scatterplot.getScreenPosition(r);
        if (x > 150 && y > 150 && x < a.w - 150 && y < a.h - 150) return r; } return -1; })()""",
             {"w": box["width"], "h": box["height"]})
    assert row >= 0
    x0, y0 = js(page, "m.scatterplot.getScreenPosition(a)", row)
    radius, steps = 60, 48
    loop = [(x0 + radius - radius * math.cos(2 * math.pi * i / steps),
             y0 + radius * math.sin(2 * math.pi * i / steps)) for i in range(steps + 1)]
    inside = js(page, """(() => { let n = 0; for (let r = 0; r < m.state.n; r++) {
        const [x, y] = m.scatterplot.getScreenPosition(r);
        if ((x - a.cx) ** 2 + (y - a.cy) ** 2 < (a.r - 2) ** 2) n++; } return n; })()""",
                {"cx": x0 + radius, "cy": y0, "r": radius})
    assert inside > 5
    page.mouse.move(box["x"] + x0, box["y"] + y0)
    page.mouse.down()
    for x, y in loop[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
    page.mouse.up()
    page.wait_for_timeout(800)  # a click taken for a click on the point would come by now
    selected = js(page, "m.state.nSelected")
    assert selected >= inside, (selected, inside)  # the loop's points, not only the first one
    page.locator("#selection-info").get_by_text(f"{selected:,} selected").wait_for()
    page.locator("#webmap [data-tool=pan]").click()
