"""The Search tab never speaks of the map, in headless Chromium: on a page that only searched, after
the server let go of the map that page was given (other visitors reloaded maps since), a search
shows its results without a word about the map, and a search while a job holds the collection
says "collection busy" — not "this map is no longer loaded"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ui import test_store_sharing_browser as sharing
from tests.ui.conftest import Built
from tests.ui.test_browser import CHROMIUM, TIMEOUT_MS
from tests.ui.test_search_browser import pick, status, wait_text
from tests.ui.test_store_sharing import _HOLD, _env

#: The page served as `embedscope ui` serves it (a serving store a job can ask to let go).
served, page = sharing.served, sharing.page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]
READY = "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)"
#: How long a page is given to show a message it must never show (the map's mark follows each
#: search at once; a message of it would be on the banner well within this).
NEVER_MS = 3_000


@pytest.fixture
def fresh(analysed: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Built:
    """The served collection (tests/ui/test_store_sharing_browser.py ``served``) with its map."""
    copy = analysed.copy(tmp_path / "data")
    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(copy.data_dir))
    monkeypatch.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
    return copy


def never_says(page: Any, text: str) -> None:
    """Fail if the banner comes to show ``text`` within NEVER_MS."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)",
                               arg=text, polling=100, timeout=NEVER_MS)
    except PlaywrightTimeout:
        return
    raise AssertionError(f"the banner says {page.locator('#status').inner_text()!r}")


def let_go_of_the_map(browser: Any, url: str) -> None:
    """Another visitor presses "Show map (reload)" until the server has published more maps than
    it keeps: the map the first page was given is no longer loaded."""
    from embedscope.ui.map.published import KEEP

    other = browser.new_page(viewport={"width": 1400, "height": 1100})
    other.set_default_timeout(TIMEOUT_MS)
    try:
        other.goto(url)
        other.locator("#collection-info").get_by_text("300 points").wait_for()
        other.get_by_role("tab", name="Explore").click()
        other.wait_for_function(READY, polling=200)
        for _ in range(KEEP + 1):
            before = other.evaluate("() => window.embedscopeMaps.at(-1).state.token")
            other.locator("#show-map").click()
            other.wait_for_function("t => { const m = window.embedscopeMaps.at(-1);"
                                    " return m.state.ready && m.state.token !== t; }",
                                    arg=before, polling=200)
    finally:
        other.close()


def test_a_search_never_speaks_of_the_map_and_a_busy_one_says_busy(
        page: Any, served: tuple[str, Built], browser: Any) -> None:
    url, b = served
    pick(page, "random")  # the Search tab only: the page was given a map it never showed
    assert status(page) == ""
    let_go_of_the_map(browser, url)
    for _ in range(2):
        pick(page, "random")
        never_says(page, "map")
        assert status(page) == ""

    job = subprocess.Popen([sys.executable, "-c", _HOLD, str(b.qdrant_dir), b.collection, "60"],
                           stdout=subprocess.PIPE, text=True, env=_env(b))
    try:
        assert job.stdout is not None and job.stdout.readline().strip() == "held"
        page.locator("#pick").click()
        wait_text(page, "#status", "collection busy")
        never_says(page, "map")
        assert "collection busy" in status(page)
    finally:
        job.kill()
        job.wait()
