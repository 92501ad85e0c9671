"""The page's defects found by a new user in headless Chromium, each checked as they saw it:
report figures, out-of-range k, one result, Find similar, an empty upload, the findings' counts
and captions, the vote's wording, the tag note, the k-NN colours and the legend's rings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import tie_at_two
from tests.ui.test_browser import CHROMIUM
from tests.ui.test_search_browser import captions, choose, pick, search_tab, set_k, until, upload, wait_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def test_report_figures_fill_the_width_at_their_own_shape_with_captions(page: Any) -> None:
    page.get_by_role("tab", name="Report").click()
    page.locator("#report-plots img").first.wait_for()
    until(page, "() => [...document.querySelectorAll('#report-plots img')]"
                ".every(i => i.complete && i.naturalWidth > 0)")
    figures = page.evaluate("""() => [...document.querySelectorAll('#report-plots img')].map(i => {
        const r = i.getBoundingClientRect();
        return {w: r.width, h: r.height, nw: i.naturalWidth, nh: i.naturalHeight}; })""")
    assert len(figures) >= 2
    width = page.locator("#report-plots").bounding_box()["width"]
    for f in figures:  # the image box has the image's own shape: no white above and below
        assert abs(f["h"] / f["w"] - f["nh"] / f["nw"]) < 0.03, f
        assert f["w"] >= 0.6 * width or f["w"] >= f["nw"], (f, width)
    boxed = page.evaluate("""() => [...document.querySelectorAll('#report-plots, #report-plots *')]
        .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowY)
                     && e.scrollHeight > e.clientHeight + 2).length""")
    assert boxed == 0, "the figures sit in a scroll box"
    shown = page.locator("#report-plots figcaption")
    assert shown.count() == len(figures) and all(t.strip() for t in shown.all_inner_texts())
    assert shown.first.is_visible()


def test_findings_say_how_many_they_show_and_captions_leave_the_images_visible(page: Any) -> None:
    page.get_by_role("tab", name="Report").click()
    page.locator("#label-errors img").first.wait_for()
    labels = page.locator("#report-findings-note").inner_text()
    assert "label errors" in labels and " of " in labels and "near-duplicate pairs" in labels
    cover = page.evaluate("""() => [...document.querySelectorAll('#label-errors .thumbnail-item')]
        .slice(0, 8).map(t => {
          const img = t.querySelector('img').getBoundingClientRect();
          const cap = t.querySelector('.caption-label');
          if (!cap) return 0;
          const c = cap.getBoundingClientRect();
          const overlap = Math.max(0, Math.min(img.bottom, c.bottom) - Math.max(img.top, c.top));
          return overlap / img.height; })""")
    assert cover and max(cover) < 0.3, cover


def test_a_k_out_of_range_gets_the_pages_message_and_the_box_its_last_k(page: Any) -> None:
    search_tab(page)
    set_k(page, 10)
    pick(page, "random")
    for bad in (500, 0):
        set_k(page, bad)
        page.locator("#search-button").click()
        wait_text(page, "#status", f"k must be between 1 and 50, got {bad}")
        assert "greater than maximum" not in page.content()
        assert "less than minimum" not in page.content()
        assert "Error" not in page.locator("#stale-note").inner_text()
        until(page, "() => document.querySelector('#k input[type=number]').value === '10'")
        assert len(captions(page)) == 10
    set_k(page, 10)


def test_one_result_shows_at_thumbnail_size_with_its_caption(page: Any) -> None:
    search_tab(page)
    pick(page, "random")
    page.locator("#neighbours .thumbnail-item").nth(3).click()  # a neighbour selected (preview)
    until(page, "() => document.querySelector('#selected-id textarea').value")
    set_k(page, 1)
    page.locator("#search-button").click()
    until(page, "() => document.querySelectorAll('#neighbours .thumbnail-item').length === 1")
    img = page.locator("#neighbours img").first.bounding_box()
    assert img["width"] <= 260 and img["height"] <= 260, img
    assert page.locator("#neighbours .caption-label").first.is_visible()
    set_k(page, 10)
    page.locator("#search-button").click()
    until(page, "() => document.querySelectorAll('#neighbours .thumbnail-item').length === 10")


def test_find_similar_shows_the_new_results_as_a_grid_and_clears_the_upload(
        page: Any, query_png: Path) -> None:
    search_tab(page)
    # the file table draws the name's stem and extension apart: read the text without spaces
    shown = ("() => document.querySelector('#query-file').textContent"
             ".replace(/\\s+/g, '').includes('test-0.png')")
    upload(page, "#query-file", query_png, landed=shown)
    until(page, shown)
    wait_text(page, "#prediction", "Predicted:")
    until(page, "() => !document.querySelector('#query-info').innerText.includes('Query:')")
    page.locator("#neighbours .thumbnail-item").nth(3).click()
    until(page, "() => document.querySelector('#selected-id textarea').value")
    page.locator("#find-similar-button").click()
    wait_text(page, "#query-info", "Query:")
    until(page, "() => document.querySelectorAll('#neighbours .thumbnail-item').length === 10")
    assert page.locator("#neighbours .preview").count() == 0, "opened in preview mode"
    assert "test-0" not in page.locator("#query-file").text_content()


def test_an_empty_upload_warns_once(page: Any, tmp_path: Path) -> None:
    search_tab(page)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    page.locator("#query-file").scroll_into_view_if_needed()
    if page.locator("#query-file input[type=file]").count() == 0:
        page.locator("#query-file").get_by_role("button", name="Clear").first.click()
    # every toast of this warning drawn from now on, even one already closed when counted (on
    # a loaded machine a toast may close before the check below)
    page.evaluate("""() => {
        window.emptyToasts = new Set();
        const look = () => document.querySelectorAll('.toast-message-text').forEach(el => {
            if (el.textContent.includes('empty.png cannot be used')) window.emptyToasts.add(el);
        });
        new MutationObserver(look).observe(document.body, {childList: true, subtree: true,
                                                           characterData: true});
    }""")
    page.locator("#query-file input[type=file]").set_input_files(str(empty))
    wait_text(page, "#status", "empty.png cannot be used as a query image: empty file")
    until(page, "() => window.emptyToasts.size > 0")  # drawn with the banner or a moment later
    page.wait_for_timeout(1500)  # a second toast would have come by now
    assert page.evaluate("() => window.emptyToasts.size") == 1  # the banner and one toast


def test_a_tie_of_one_vote_each_is_worded_in_the_singular(page: Any, site: Any) -> None:
    _, session = site
    search_tab(page)
    point = tie_at_two(session)
    set_k(page, 2)
    pick(page, "by id", point)
    wait_text(page, "#prediction", "Tie between")
    text = page.locator("#prediction").inner_text()
    assert "(1 vote each)" in text and "1 votes" not in text
    set_k(page, 10)
    page.locator("#search-button").click()
    until(page, "() => document.querySelectorAll('#neighbours .thumbnail-item').length === 10")


def _explore(page: Any) -> None:
    page.get_by_role("tab", name="Explore").click()
    until(page, "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)")


def test_knn_correct_colours_wrong_red_and_right_green_and_the_rings_are_in_the_legend(
        page: Any) -> None:
    search_tab(page)
    pick(page, "random")  # a search: its query and neighbours are ringed on the map
    _explore(page)
    choose(page, "colour-by", "knn_correct")
    wait_text(page, "#webmap .es-legend", "wrong")
    swatches = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#webmap .es-legend .es-item')].filter(i => i.querySelector('.es-swatch'))
        .map(i => [i.innerText.trim().split(/\\s+/)[0],
        getComputedStyle(i.querySelector('.es-swatch')).backgroundColor]))""")

    def rgb(text: str) -> tuple[int, ...]:
        return tuple(int(v) for v in text[text.index("(") + 1:text.index(")")].split(",")[:3])

    wrong, right = rgb(swatches["wrong"]), rgb(swatches["correct"])
    assert wrong[0] > wrong[2] + 80 and wrong[0] > wrong[1] + 60, swatches  # red / orange-red
    assert right[1] > right[0] + 60, swatches  # green
    legend = page.locator("#webmap .es-legend").inner_text()
    assert "query" in legend.lower() and "neighbour" in legend.lower(), legend


def test_a_refused_tag_clears_the_previous_tag_note(page: Any) -> None:
    _explore(page)
    page.evaluate("() => window.embedscopeMaps.at(-1).selectBox(-1, -1, 1, 1)")
    wait_text(page, "#selection-info", "300 selected")
    page.locator("#tag-name textarea, #tag-name input").first.fill("second")
    page.locator("#tag-selection").click()
    wait_text(page, "#tag-note", "with second")
    page.locator("#tag-name textarea, #tag-name input").first.fill("bad tag!")
    page.locator("#tag-selection").click()
    wait_text(page, "#status", "bad tag!")
    until(page, "() => !document.querySelector('#tag-note').innerText.includes('Tagged')")
