"""The page says what it did, once, in its own words, and shows the state it is in — checked in
headless Chromium as a new user met each defect: a k that is not a whole number, refused files,
the header after "Show map (reload)", the Report tab's counts and captions, the Explore tab's
buttons, the hover card after a lasso and the Point id box after "Find similar"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import opened
from tests.ui.test_browser import CHROMIUM
from tests.ui.test_search_browser import captions, pick, search_tab, set_k, until, upload, wait_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def _explore(page: Any) -> None:
    page.get_by_role("tab", name="Explore").click()
    until(page, "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)")


def _type_k(page: Any, typed: str) -> None:
    box = page.locator("#k input[type=number]")
    box.fill(typed)
    box.press("Enter")


# --- 6. k -----------------------------------------------------------------------------------

def test_a_k_that_is_not_a_whole_number_is_refused_naming_it_and_the_range(page: Any) -> None:
    search_tab(page)
    set_k(page, 10)
    pick(page, "random")
    for typed, shown in (("2.5", "got 2.5"), ("", "got nothing (the k box is empty)")):
        _type_k(page, typed)
        page.locator("#search-button").click()
        wait_text(page, "#status", f"k must be a whole number between 1 and 50, {shown}")
        assert "None" not in page.locator("#status").inner_text()
        until(page, "() => document.querySelector('#k input[type=number]').value === '10'")
        assert len(captions(page)) == 10  # the results on screen stay (they are right for 10)


# --- 7. refused files -------------------------------------------------------------------------

#: Records the text of every toast message that appears from now on (Gradio groups toasts of one
#: kind into one card, each message its own item).
WATCH_TOASTS = """() => {
  window.toastLog = [];
  const seen = new WeakSet();
  const look = () => {
    for (const t of document.querySelectorAll('.toast-message-text')) {
      if (!seen.has(t)) { seen.add(t); window.toastLog.push(t.innerText.trim()); }
    }
  };
  look();
  window.toastLog = [];
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true,
                                                     characterData: true});
}"""


def _close_toasts(page: Any) -> None:
    page.evaluate("() => document.querySelectorAll('.toast-close').forEach(b => b.click())")
    until(page, "() => !document.querySelector('.toast-message-text')")


@pytest.mark.parametrize("box", ["#query-image", "#query-file"])
def test_a_refused_file_gets_one_message_in_the_pages_own_words(
        page: Any, box: str, tmp_path: Path) -> None:
    search_tab(page)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024))  # the page's limit: 1 MB
    cases = [(big, "big.png is 2.0 MB; the upload limit is 1 MB")]
    if box == "#query-image":  # the file box's empty file: tests/ui/test_page_defects_browser.py
        empty = tmp_path / "empty.png"
        empty.write_bytes(b"")
        cases.append((empty, "empty.png cannot be used as a query image: empty file (0 bytes)"))
    for path, message in cases:
        _close_toasts(page)
        page.evaluate(WATCH_TOASTS)
        upload(page, box, path, answer=message)
        wait_text(page, "#status", message)
        until(page, "t => window.toastLog.some(m => m.includes(t))", message)
        page.wait_for_timeout(2000)  # a second message would have come by now
        log = page.evaluate("window.toastLog")
        assert log and all(message in m for m in log), log  # the page's words only
        shown = [t.inner_text() for t in page.locator(".toast-message-text").all()
                 if t.is_visible()]
        assert len(shown) == 1, shown  # one toast beside the banner
        pills = [e.inner_text() for e in page.locator(f"{box} .error").all() if e.is_visible()]
        assert not pills, pills  # no "Error" in the box beside the page's message
    _close_toasts(page)


# --- 8. the header after "Show map (reload)" ------------------------------------------------

def test_show_map_reload_shows_the_new_analysis_time_in_the_header(page: Any, site: Any) -> None:
    _, session = site
    _explore(page)
    wait_text(page, "#collection-info", "latest analysis")
    with session.store() as s:
        analysis = dict(s.get_meta("fashion").analysis)
        # `embedscope analyze` in a terminal, as far as the header is concerned
        s.update_meta("fashion", analysis={**analysis, "created_at": "2031-02-03T04:05:06"})
    try:
        page.locator("#show-map").click()
        wait_text(page, "#collection-info", "latest analysis 2031-02-03T04:05:06")
        until(page, "() => (window.embedscopeMaps || []).some(m => m.state.ready)")
    finally:
        with session.store() as s:
            s.update_meta("fashion", analysis=analysis)


# --- 9. the Report tab ------------------------------------------------------------------------

def test_the_report_tab_says_what_report_json_holds_counts_leaks_and_keeps_captions_on_one_line(
        page: Any, site: Any) -> None:
    import json

    from embedscope.ui import report as reports

    _, session = site
    with session.store() as s:
        path = reports.report_path(s, "fashion")
    document = json.loads(path.read_text(encoding="utf-8"))
    listed = len(document["near_duplicates"]["pairs"])
    assert listed >= 2
    # a report whose list stopped at --max-list: more pairs found than listed
    document["near_duplicates"]["total"] = listed + 138
    path.write_text(json.dumps(document), encoding="utf-8")
    leaked = document["leaks"]["leaked"]
    page.get_by_role("tab", name="Report").click()
    page.locator("#load-report").click()
    wait_text(page, "#report-findings-note", f"of {listed + 138}")
    note = page.locator("#report-findings-note").inner_text()
    assert "every one is in" not in note
    assert f"{listed} most similar of the {listed + 138} pairs" in note, note
    shown = page.locator("#leaks .thumbnail-item").count() // 2
    assert shown > 0
    assert f"leaked test points: showing {shown} of {leaked}" in note, note
    lines = page.evaluate("""() => [...document.querySelectorAll(
        '#label-errors .caption-label, #duplicates .caption-label, #leaks .caption-label')]
        .map(c => { const s = getComputedStyle(c);
                    return {text: c.innerText, lines: c.clientHeight / parseFloat(s.lineHeight),
                            cut: c.scrollWidth > c.clientWidth + 1}; })""")
    assert not [c for c in lines if c["cut"]]  # wrapped where long (a class name), never cut
    short = [c for c in lines if "→" not in c["text"]]  # duplicates' and leaks' captions
    assert [c for c in short if " · test #" in c["text"]], lines
    assert all(c["lines"] < 1.6 for c in short), [c for c in short if c["lines"] >= 1.6]


# --- 10. the Explore tab's buttons, the hover card, the Point id box --------------------------

def _classes(page: Any, selector: str) -> str:
    return str(page.locator(selector).get_attribute("class") or "")


def _ingested_only(session: Any, name: str) -> None:
    """A collection as `embedscope ingest` leaves it: 40 of fashion's points, no analysis."""
    from embedscope.contract import Payload

    with session.store() as s:
        if name in s.list_collections():
            return
        meta = s.get_meta("fashion")
        s.ensure_collection(name, meta.model_copy(update={"analysis": {}}))
        records = [r for _, r in zip(range(40), s.scroll("fashion", None, True, True))]
        keep = (Payload.LABEL, Payload.LABEL_NAME, Payload.SPLIT, Payload.INDEX, Payload.THUMBNAIL)
        s.upsert(name, [r.id for r in records], [r.vector for r in records],
                 [{k: r.payload[k] for k in keep if k in r.payload} for r in records])


def test_the_highlighted_button_is_the_one_that_works_and_a_grey_one_says_why(
        browser: Any, site: Any) -> None:
    _ingested_only(site[1], "plain")
    with opened(browser, site[0]) as pg:
        _explore(pg)
        assert "primary" in _classes(pg, "#show-map")
        assert pg.locator("#run-analysis").is_disabled()
        wait_text(pg, "#analysis-note", "fashion has one (pca)")
        assert "embedscope analyze --collection fashion" in pg.locator("#analysis-note").inner_text()
        pg.locator("#collection input").click()
        pg.get_by_role("option", name="plain", exact=True).click()
        wait_text(pg, "#collection-info", "not analysed yet")
        until(pg, "() => !document.querySelector('#run-analysis').disabled")
        until(pg, "() => document.querySelector('#run-analysis').classList.contains('primary')")
        assert "primary" not in _classes(pg, "#show-map")
        assert "has one" not in pg.locator("#analysis-note").inner_text()


def test_the_hover_card_goes_when_a_lasso_selects(page: Any) -> None:
    import math

    _explore(page)
    page.locator("#webmap [data-tool=lasso]").click()
    box = page.locator("#webmap canvas").bounding_box()
    row = page.evaluate("""a => { const m = window.embedscopeMaps.at(-1);
        for (let r = 0; r < m.state.n; r++) {
          const [x, y] = m.scatterplot.getScreenPosition(r);
          if (x > 120 && y > 120 && x < a.w - 120 && y < a.h - 120) return r; } return -1; }""",
                        {"w": box["width"], "h": box["height"]})
    assert row >= 0
    x0, y0 = page.evaluate("r => window.embedscopeMaps.at(-1).scatterplot.getScreenPosition(r)", row)
    page.mouse.move(box["x"] + x0, box["y"] + y0)
    tooltip = page.locator("#webmap .es-tooltip")
    tooltip.wait_for(state="visible")
    radius, steps = 50, 36
    page.mouse.down()
    for i in range(1, steps + 1):
        a = 2 * math.pi * i / steps
        page.mouse.move(box["x"] + x0 + radius - radius * math.cos(a),
                        box["y"] + y0 + radius * math.sin(a), steps=2)
    page.mouse.up()
    until(page, "() => window.embedscopeMaps.at(-1).state.nSelected > 0")
    page.locator("#selection-info").get_by_text("selected").wait_for()
    assert tooltip.is_hidden(), "the hover card stays over the selection"
    page.locator("#webmap [data-tool=pan]").click()


def test_find_similar_puts_the_new_querys_id_in_the_point_id_box(page: Any) -> None:
    search_tab(page)
    set_k(page, 10)
    pick(page, "random")
    first = page.locator("#pick-id textarea").input_value()
    assert first
    page.locator("#neighbours .thumbnail-item").nth(2).click()
    until(page, "() => document.querySelector('#selected-id textarea').value")
    point = page.locator("#selected-id textarea").input_value()
    assert point != first
    before = page.locator("#query-info").inner_text()
    page.locator("#find-similar-button").click()
    until(page, "b => { const t = document.querySelector('#query-info').innerText;"
                " return t.includes('Query:') && t !== b; }", before)
    until(page, "p => document.querySelector('#pick-id textarea').value === p", point)
