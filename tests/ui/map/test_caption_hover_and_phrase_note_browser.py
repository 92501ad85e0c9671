"""Cluster captions and the phrase note, in headless Chromium on a map with captions (a pixels map
linked to a SigLIP space): hovering a caption shows the caption and its cosine, not the point under
it; the note of a phrase colouring goes once another colouring is chosen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ui import test_text_browser as text_page
from tests.ui.map.test_map_browser import choose
from tests.ui.test_search_browser import until, wait_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not text_page.CHROMIUM.exists(), reason=f"no Chromium at {text_page.CHROMIUM}"),
]
#: The pixels map (50 points, k-means 3, captions in the linked SigLIP space), served once.
served = text_page.served
MAP = "window.embedscopeMaps.at(-1)"


@pytest.fixture
def page(browser: Any, served: tuple[str, Any, Path]) -> Any:
    """A page on the Explore tab with the map drawn."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1200})
    pg = ctx.new_page()
    pg.set_default_timeout(text_page.TIMEOUT_MS)
    pg.goto(served[0])
    pg.locator("#collection-info").get_by_text(f"{text_page.POINTS:,} points").wait_for()
    pg.get_by_role("tab", name="Explore").click()
    until(pg, text_page.READY, text_page.POINTS)
    yield pg
    ctx.close()


def test_hovering_a_caption_shows_its_cosine_not_the_point_under_it(
        page: Any, served: tuple[str, Any, Path]) -> None:
    report = json.loads((served[2] / "report" / "report.json").read_text())
    scores = {c["cluster"]: c["score"] for c in report["captions"]["clusterings"]["kmeans"]}
    choose(page, "colour-by", "cluster_kmeans")
    label = page.locator("#webmap .es-label").first
    label.wait_for()
    text, row = label.inner_text(), int(label.get_attribute("data-row"))
    caption = page.evaluate(f"r => {MAP}.state.desc.captions.find(c => c.row === r)", row)
    box = label.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tooltip = page.locator("#webmap .es-tooltip")
    until(page, "t => { const e = document.querySelector('#webmap .es-tooltip');"
                " return !e.hidden && e.innerText.includes(t); }", "cosine")
    shown = tooltip.inner_text()
    assert text in shown and f"cosine {round(scores[caption['cluster']], 4)}" in shown, shown
    assert tooltip.locator("img").count() == 0, "the point under the caption is shown"
    page.wait_for_timeout(300)  # a point's card (asked for 40 ms after a hover) would be here
    assert "cosine" in tooltip.inner_text() and page.evaluate(f"() => {MAP}.state.hovered") == -1
    page.mouse.move(5, 5)  # off the map: the card goes
    until(page, "() => document.querySelector('#webmap .es-tooltip').hidden")


def test_the_phrase_note_goes_when_another_colouring_is_chosen(page: Any) -> None:
    page.locator("#phrase textarea").fill("a sandal with a heel.")
    page.locator("#phrase-button").click()
    wait_text(page, "#map-note", "Coloured by the cosine to")
    choose(page, "colour-by", "label")
    until(page, f"() => {MAP}.state.desc.colour_by === 'label'")
    until(page, "() => !document.querySelector('#map-note').innerText.includes('cosine')")
    assert f"{text_page.POINTS:,} points" in page.locator("#map-note").inner_text()
    # the phrase chosen again: its note again
    choose(page, "colour-by", "phrase: a sandal with a heel.")
    wait_text(page, "#map-note", "Coloured by the cosine to")
