"""The door in Chromium: a server bound to 0.0.0.0 with a key sends a browser to its login form;
the key typed there opens the page, whose events (queue, streams, files) then pass with the
cookie. Opened through 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.conftest import Built
from tests.ui.test_browser import CHROMIUM, TIMEOUT_MS
from tests.ui.test_door import KEY, _serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def keyed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serving(built.copy(tmp_path_factory.mktemp("door-browser") / "data"),
                  host="0.0.0.0", api_key=KEY) as url:
        yield url


def test_the_key_typed_in_the_login_form_opens_the_working_page(keyed: str, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    try:
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(keyed + "/")
        assert "/login" in page.url and page.locator("input[name=password]").is_visible()
        page.fill("input[name=password]", "not the key")
        page.click("button[type=submit]")
        page.get_by_text("wrong key.").wait_for()
        page.fill("input[name=password]", KEY)
        page.click("button[type=submit]")
        page.locator("#collection-info").get_by_text("300 points").wait_for()  # a queued event
        assert page.url.rstrip("/") == keyed
        cookie = next(c for c in ctx.cookies() if c["name"].startswith("embedscope_login_"))
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # no script reads the login
    finally:
        ctx.close()
