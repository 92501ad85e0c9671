"""The page served as `embedscope ui` serves it (page and API in one app) shares its embedded
collection with the jobs, in headless Chromium: a job's hold is named, and a map an `analyze`
wrote while the page was open is shown without a restart."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.conftest import Built, opened
from tests.ui.test_browser import CHROMIUM, TIMEOUT_MS, free_port
from tests.ui.test_store_sharing import _HOLD, _embedscope, _env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture
def served(fresh: Built) -> Iterator[tuple[str, Built]]:
    """build_server(page=True) under uvicorn, as `embedscope ui` runs it."""
    import uvicorn

    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.server import build_server
    from embedscope.ui.service import Session

    settings = UISettings(port=free_port(), idle_release_seconds=0.5)
    session = Session(settings, EdgeStore(fresh.qdrant_dir, serving=True))
    server = uvicorn.Server(uvicorn.Config(build_server(settings, session), host="127.0.0.1",
                                           port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{settings.port}/", fresh
    server.should_exit = True
    thread.join(10)
    session.shutdown()


@pytest.fixture
def page(served: tuple[str, Built], browser: Any) -> Iterator[Any]:
    """A page on the served app (the module's Chromium: tests/ui/conftest.py)."""
    with opened(browser, served[0]) as pg:
        yield pg


def test_the_page_names_a_job_holding_the_collection_and_serves_it_after(
        page: Any, served: tuple[str, Built]) -> None:
    _, b = served
    job = subprocess.Popen([sys.executable, "-c", _HOLD, str(b.qdrant_dir), b.collection, "60"],
                           stdout=subprocess.PIPE, text=True, env=_env(b))
    try:
        assert job.stdout is not None and job.stdout.readline().strip() == "held"
        page.get_by_role("button", name="Reload collections").click()
        page.wait_for_function(  # the banner (or the collection line) names the job
            "t => ['#status', '#collection-info'].some(s => "
            "document.querySelector(s).innerText.includes(t))",
            arg=f"collection busy: analyze running (pid {job.pid})", polling=200)
        assert page.locator("#collection input").input_value() == b.collection  # still listed
        other = page.context.browser.new_page()  # a page loaded meanwhile lists it, says why
        other.set_default_timeout(TIMEOUT_MS)
        other.goto(page.url)
        other.locator("#collection-info").get_by_text(f"analyze running (pid {job.pid})").wait_for()
        assert other.locator("#collection input").input_value() == b.collection
        other.close()
    finally:
        job.kill()
        job.wait()
    page.get_by_role("button", name="Reload collections").click()
    page.wait_for_function("() => !document.querySelector('#status').innerText.includes('busy')"
                           " && document.querySelector('#collection-info').innerText"
                           ".includes('300 points')", polling=200)


def test_a_map_analyze_wrote_while_the_page_was_open_is_shown(
        page: Any, served: tuple[str, Built]) -> None:
    _, b = served
    page.get_by_role("tab", name="Explore").click()
    page.locator("#map-note").get_by_text("No 2-D map stored").wait_for()
    done = _embedscope(b, "analyze", "--collection", b.collection, "--projections", "pca",
                       "--clusterers", "kmeans", "--no-progress")
    assert done.returncode == 0, done.stderr
    page.locator("#show-map").click()
    page.wait_for_function(
        "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)",
        polling=200)
    assert "PCA · 300 points" in page.locator("#map-note").inner_text()
