"""The Search tab in headless Chromium: uploads and their refusals, pivots (from its neighbours,
another tab, the report's findings), stale marks and vote notes, tag filters, readable captions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import TAG, tie_at_two
from tests.ui.test_browser import CHROMIUM
from tests.ui.test_query_uploads import bomb_png, tiny_png

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} "
                       "(apt-get install chromium, or set EMBEDSCOPE_CHROMIUM)"),
]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
def until(page: Any, script: str, arg: Any = None) -> None:
    """Wait until ``script`` is truthy, polled on a timer (frame-based polling stalled at times
    on the loaded 2-core machine while the page itself had long settled)."""
    page.wait_for_function(script, arg=arg, polling=200)


def wait_text(page: Any, selector: str, text: str) -> None:
    """Wait until ``selector``'s text contains ``text``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        until(page, "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
              [selector, text])
    except PlaywrightTimeout:
        found = page.locator(selector).inner_text()
        raise AssertionError(f"{selector} never showed {text!r}; it shows {found!r}") from None


def status(page: Any) -> str:
    """The banner once the page is idle (no event in progress)."""
    until(page, "() => !/processing|\\d\\.\\ds/.test(document.querySelector('#status').innerText)")
    return str(page.locator("#status").inner_text()).strip()


def captions(page: Any) -> list[str]:
    return [str(t).strip() for t in page.locator("#neighbours .caption-label").all_inner_texts()]


def pick(page: Any, mode: str, value: str | None = None) -> None:
    """Search with a stored image (the accordion opens on first use)."""
    if not page.locator("#pick").is_visible():
        page.get_by_text("…or use a stored image").click()
    page.get_by_label(mode, exact=True).check()
    if value is not None:
        page.locator("#pick-id textarea").fill(value)
    before = page.locator("#query-info").inner_text()
    page.locator("#pick").click()
    until(
        page, "b => { const t = document.querySelector('#query-info').innerText;"
        " return t.includes('Query:') && t !== b; }", before)


def upload(page: Any, box: str, path: Path, answer: str | None = None,
           landed: str | None = None) -> None:
    """Drop ``path`` into an upload box, emptying the box first if it holds a file.

    With ``answer`` (the banner's reply) or ``landed`` (a script true once the page took the
    file): if neither holds after 10 s, the file is dropped again, once: the box may have been
    re-rendered under the driver (an earlier event's reply clears it) and the first drop landed
    on the element it replaced.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def drop() -> None:
        page.locator(box).scroll_into_view_if_needed()
        if page.locator(f"{box} input[type=file]").count() == 0:
            page.locator(box).get_by_role("button", name="Clear").first.click()
        page.locator(f"{box} input[type=file]").set_input_files(str(path))

    drop()
    if answer is None and landed is None:
        return
    script = landed or "t => document.querySelector('#status').innerText.includes(t)"
    try:
        page.wait_for_function(script, arg=answer, polling=200, timeout=10_000)
    except PlaywrightTimeout:
        drop()


def set_k(page: Any, k: int) -> None:
    box = page.locator("#k input[type=number]")
    box.fill(str(k))
    box.press("Enter")


def search_tab(page: Any) -> None:
    """Open the Search tab and wait for its button."""
    page.get_by_role("tab", name="Search").click()
    page.locator("#search-button").wait_for()


def choose(page: Any, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_opens_on_the_analysed_collection_and_says_the_model_loads(
    page: Any, query_png: Path
) -> None:
    assert page.locator("#collection input").input_value() == "fashion"  # not 'aaa'
    page.evaluate("""() => { window.statusLog = [];
        new MutationObserver(() => window.statusLog.push(
            document.querySelector('#status').innerText)).observe(
            document.querySelector('#status'), {subtree: true, childList: true,
                                                characterData: true}); }""")
    upload(page, "#query-file", query_png)
    wait_text(page, "#prediction", "Predicted:")
    log = page.evaluate("window.statusLog")
    assert any("Loading the query model" in t for t in log), log
    assert status(page) == ""


@pytest.mark.parametrize("box", ["#query-file", "#query-image"])
def test_bad_uploads_get_the_pages_message_and_clear_the_results(
    page: Any, box: str, query_png: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not an image, whatever the name says\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.txt"
    notes.write_text("plain text\n")
    cases = [
        (fake, "fake.png cannot be used as a query image: not an image"),
        (empty, "empty.png cannot be used as a query image: empty file (0 bytes)"),
        (bomb_png(tmp_path / "bomb.png"),
         "bomb.png cannot be used as a query image: it has 400,000,000 pixels"),
        (tiny_png(tmp_path / "one.png"),
         "one.png cannot be used as a query image: image too small (1×1"),
    ]
    if box == "#query-image":  # the file box takes any file and the decoder answers
        cases.append((notes, "notes.txt cannot be used as a query image: it is not an image "
                             "file (text/plain)"))
    for path, message in cases:
        pick(page, "random")  # results on screen, to see them cleared
        assert len(captions(page)) == 10
        upload(page, box, path, answer=message)
        wait_text(page, "#status", message)
        until(page, "() => !document.querySelector('#prediction').innerText.trim()"
                               " && !document.querySelector('#neighbours .caption-label')")
        text = page.locator("body").inner_text()
        assert "gradio/" not in text and "DOS attack" not in text and str(tmp_path) not in text
        # The banner stays: the map's marking of the (now empty) results follows the refusal
        # and once cleared the banner within a fraction of a second.
        page.wait_for_timeout(1500)
        assert message in status(page)
    # Still serving: a good image now works from the same box.
    upload(page, box, query_png)
    wait_text(page, "#prediction", "Predicted:")
    assert status(page) == ""


def test_find_similar_pivots_and_a_stored_query_shows_itself(page: Any, site: Any) -> None:
    pick(page, "random")
    info = page.locator("#query-info").inner_text()
    assert re.search(r"Query: \S.* · (train|test) #\d+", info), info
    first = captions(page)[2]
    page.locator("#neighbours .thumbnail-item").nth(2).click()
    selected = page.locator("#selected-id textarea")
    until(page, "() => document.querySelector('#selected-id textarea').value")
    point = selected.input_value()
    assert UUID.match(point), point
    page.keyboard.press("Escape")  # close the gallery's preview
    page.locator("#find-similar-button").click()
    # The neighbour is now the query: its caption without the score.
    label, _score, where = first.split(" · ")
    wait_text(page, "#query-info", f"Query: {label} · {where}")
    assert point not in page.locator("#neighbours").inner_text()
    # Another tab asks through the hidden find_similar box: the Search tab comes forward.
    _, session = site
    other = session.pick_point("fashion", "random of a class", "Trouser")
    page.get_by_role("tab", name="Report").click()
    page.evaluate("""id => { const t = document.querySelector('#find-similar textarea');
        t.value = id + ' ' + Date.now(); t.dispatchEvent(new Event('input', {bubbles: true})); }""",
                  other)
    wait_text(page, "#query-info", "Query: Trouser")
    until(page, "() => [...document.querySelectorAll('[role=tab]')].some(t => "
                "t.innerText.trim() === 'Search' && t.getAttribute('aria-selected') === 'true')")


def test_changed_filters_mark_the_results_stale_and_notes_explain_the_vote(
    page: Any, site: Any
) -> None:
    _, session = site
    pick(page, "random")
    stale = page.locator("#stale-note")
    assert stale.inner_text().strip() == ""
    set_k(page, 7)
    wait_text(page, "#stale-note", "These results are for k=10")
    assert "you chose k=7" in stale.inner_text()
    page.locator("#search-button").click()
    until(page, "() => !document.querySelector('#stale-note').innerText.trim()")
    assert len(captions(page)) == 7
    choose(page, "class-filter", "Dress")
    wait_text(page, "#stale-note", "class (all)")
    page.locator("#search-button").click()
    wait_text(page, "#prediction", "prediction is Dress by construction")
    assert all(c.startswith("Dress") for c in captions(page))
    choose(page, "class-filter", "(all)")
    # A query whose two nearest neighbours disagree: a tie at k = 2.
    point = tie_at_two(session)
    set_k(page, 2)
    pick(page, "by id", point)
    wait_text(page, "#prediction", "Tie between")
    set_k(page, 10)
    page.locator("#search-button").click()
    until(page, "() => !document.querySelector('#stale-note').innerText.trim()")


def test_a_tag_filters_the_neighbours(page: Any, site: Any) -> None:
    pick(page, "random")
    choose(page, "tag-filter", TAG)
    wait_text(page, "#stale-note", f"you chose k=10, split (all), class (all), tag {TAG}")
    set_k(page, 5)
    page.locator("#search-button").click()
    until(page, "() => !document.querySelector('#stale-note').innerText.trim()")
    found = captions(page)
    assert len(found) == 5 and all(c.startswith("Bag") and " · test #" in c for c in found), found
    choose(page, "tag-filter", "(all)")
    set_k(page, 10)


def test_captions_wrap_report_figures_are_wide_and_findings_pivot(page: Any, query_png: Path) -> None:
    pick(page, "random")
    label = page.locator("#neighbours .caption-label").first
    assert label.evaluate("e => getComputedStyle(e).whiteSpace") == "normal"
    assert label.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    page.get_by_role("tab", name="Report").click()
    figure = page.locator("#report-plots img").first
    figure.wait_for()
    until(page, "() => { const i = document.querySelector('#report-plots img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    box = figure.bounding_box()
    assert box is not None and box["width"] > 800, box
    # A likely label error pivots to the Search tab through "Find similar".
    page.locator("#label-errors .thumbnail-item").first.click()
    until(page, "() => document.querySelector('#report-selected textarea').value")
    point = page.locator("#report-selected textarea").input_value()
    assert UUID.match(point), point
    page.keyboard.press("Escape")
    before = page.locator("#query-info").inner_text()
    page.locator("#report-find-similar").click()
    until(page, "b => { const t = document.querySelector('#query-info').innerText;"
                " return t.includes('Query:') && t !== b; }", before)
    until(page, "() => [...document.querySelectorAll('[role=tab]')].some(t => "
                "t.innerText.trim() === 'Search' && t.getAttribute('aria-selected') === 'true')")
