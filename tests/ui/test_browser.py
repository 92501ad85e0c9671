"""The real page in headless Chromium: search by upload, the map, the report, and the errors."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import Built

CHROMIUM = Path(os.environ.get("EMBEDSCOPE_CHROMIUM", "/usr/bin/chromium"))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} "
                       "(apt-get install chromium, or set EMBEDSCOPE_CHROMIUM)"),
]
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(session: Any, **settings: Any) -> tuple[Any, str]:
    """Launch the page in a background thread on a free port; returns (demo, url)."""
    from embedscope.ui.config import UISettings
    from embedscope.ui.server import launch

    config = UISettings(port=free_port(), **settings)
    session.settings = config
    demo = launch(config, session, block=False)
    return demo, f"http://127.0.0.1:{config.port}/"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page_on(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """Open a page on a running app (viewport 1400×1100); screenshots go under tmp_path."""
    contexts: list[Any] = []

    def open_page(url: str) -> Any:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def app(fresh: Built) -> Iterator[tuple[str, Built]]:
    """The page on a private copy of the collection (max upload 1 MB)."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.service import Session

    session = Session(store=EdgeStore(fresh.qdrant_dir))
    demo, url = serve(session, max_upload_mb=1.0)
    yield url, fresh
    demo.close()
    session.close()


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def idle_status(page: Any) -> str:
    """The status banner once no event shows its timer there."""
    page.wait_for_function("() => !/processing|\\d\\.\\ds/.test("
                           "document.querySelector('#status').innerText)", polling=200)
    return str(page.locator("#status").inner_text()).strip()


def wait_collection(page: Any) -> None:
    page.locator("#collection-info").get_by_text("300 points").wait_for()


def test_upload_shows_neighbours_and_prediction(app: tuple[str, Built], page_on: Any,
                                                query_png: Path, tmp_path: Path) -> None:
    url, _ = app
    page = page_on(url)
    wait_collection(page)
    page.locator("#query-file input[type=file]").set_input_files(str(query_png))
    page.locator("#prediction").get_by_text("Predicted:").wait_for()
    gallery = page.locator("#neighbours img")
    gallery.nth(9).wait_for()
    assert gallery.count() == 10  # k = 10 by default
    assert "Shirt · 1.000 · test #0" in page.locator("#neighbours").inner_text()
    page.locator("#votes").locator("svg").first.wait_for()
    assert idle_status(page) == ""
    shot(page, tmp_path, "search")


def test_bad_uploads_show_a_message_and_the_page_keeps_serving(
    app: tuple[str, Built], page_on: Any, query_png: Path, tmp_path: Path
) -> None:
    url, _ = app
    page = page_on(url)
    wait_collection(page)
    text = tmp_path / "notes.txt"
    text.write_text("not an image at all\n")
    page.locator("#query-file input[type=file]").set_input_files(str(text))
    status = page.locator("#status")
    status.get_by_text("notes.txt cannot be used as a query image").wait_for()
    shot(page, tmp_path, "text-upload")
    big = tmp_path / "big.png"
    big.write_bytes(query_png.read_bytes() + b"\0" * 1_200_000)
    page.locator("#query-file input[type=file]").set_input_files(str(big))  # emptied on error
    # The page refuses it before Gradio sees it, with the same limit, in the page's own words
    # (once: Gradio's own size toast no longer shows beside the banner).
    status.get_by_text("big.png is 1.1 MB; the upload limit is 1 MB").wait_for()
    assert page.get_by_text("exceed the maximum allowed size").count() == 0
    shot(page, tmp_path, "oversize-upload")
    # Still serving: a good image now works on the same page.
    page.locator("#query-file input[type=file]").set_input_files(str(query_png))
    page.locator("#prediction").get_by_text("Predicted:").wait_for()
    assert idle_status(page) == ""


def test_explore_runs_the_analysis_and_the_map_answers_clicks(
    app: tuple[str, Built], page_on: Any, tmp_path: Path
) -> None:
    url, _ = app
    page = page_on(url)
    wait_collection(page)
    page.get_by_role("tab", name="Explore").click()
    page.locator("#map-note").get_by_text("Run analysis").wait_for()
    page.locator("#run-analysis").click()
    page.wait_for_function(
        "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)",
        timeout=120_000,
    )
    page.evaluate("() => window.embedscopeMaps.at(-1).selectBox(-1, -1, 1, 1)")
    page.locator("#selection-info").get_by_text("300 selected").wait_for()
    shot(page, tmp_path, "explore")
    page.get_by_role("tab", name="Report").click()
    page.locator("#report-summary").get_by_text("Analysis").first.wait_for()
    page.locator("#report-plots img").first.wait_for()
    page.locator("#duplicates img").first.wait_for()
    page.locator("#report-html").scroll_into_view_if_needed()  # lazy images load on the way
    page.wait_for_function(
        "() => [...document.querySelectorAll('#label-errors img, #duplicates img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, tmp_path, "report")


def test_qdrant_down_shows_a_message(page_on: Any, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    # A port bound and never listened on refuses connections, and no server started meanwhile
    # (the page's own, say) can take it.
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    monkeypatch.setenv("EMBEDSCOPE_QDRANT_URL", f"http://127.0.0.1:{held.getsockname()[1]}")
    monkeypatch.setenv("EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS", "0.5")
    session = Session(UISettings())
    demo, url = serve(session)
    try:
        page = page_on(url)
        message = page.locator("#status").get_by_text("cannot reach the Qdrant server")
        try:
            message.wait_for(timeout=30_000)
        except PlaywrightTimeout:  # the load event's answer lost once under load (CI): reload
            page.reload()
            message.wait_for()
        shot(page, tmp_path, "qdrant-down")
        page.get_by_role("button", name="Reload collections").click()
        page.locator("#status").get_by_text("cannot reach").wait_for()
    finally:
        demo.close()
        session.close()
        held.close()
