"""The page says what it did, once, in its own words, and shows the state it is in — checked in
headless Chromium as a new user met each defect: a k that is not a whole number, refused files,
the header after "Show map (reload)", the Report tab's counts and captions, the Explore tab's
buttons, the hover card after a lasso and the Point id box after "Find similar"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.test_browser import CHROMIUM
from tests.ui.test_search_browser import captions, pick, set_k, until, wait_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def _search_tab(page: Any) -> None:
    page.get_by_role("tab", name="Search").click()
    page.locator("#search-button").wait_for()


def _explore(page: Any) -> None:
    page.get_by_role("tab", name="Explore").click()
    until(page, "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)")


def _type_k(page: Any, typed: str) -> None:
    box = page.locator("#k input[type=number]")
    box.fill(typed)
    box.press("Enter")


# --- 6. k -----------------------------------------------------------------------------------

def test_a_k_that_is_not_a_whole_number_is_refused_naming_it_and_the_range(page: Any) -> None:
    _search_tab(page)
    set_k(page, 10)
    pick(page, "random")
    for typed, shown in (("2.5", "got 2.5"), ("", "got nothing (the k box is empty)")):
        _type_k(page, typed)
        page.locator("#search-button").click()
        wait_text(page, "#status", f"k must be a whole number between 1 and 50, {shown}")
        assert "None" not in page.locator("#status").inner_text()
        until(page, "() => document.querySelector('#k input[type=number]').value === '10'")
        assert len(captions(page)) == 10  # the results on screen stay (they are right for 10)
