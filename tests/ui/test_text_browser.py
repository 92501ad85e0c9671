"""Words on the page in headless Chromium: a phrase typed on the Search tab has its hits ringed on
the Explore map (a pixels map searched through a linked SigLIP space), and the map coloured by a
phrase draws a continuous scale with its range in the legend."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.search.test_text_search import PHRASE, PIXELS, SIGLIP, ingest_spaces
from tests.ui.conftest import launched
from tests.ui.map.test_map_browser import choose, free_port, js

CHROMIUM = Path(os.environ.get("EMBEDSCOPE_CHROMIUM", "/usr/bin/chromium"))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]
TIMEOUT_MS = 90_000
POINTS, K = 50, 5
READY = "n => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === n)"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path,
           tiny_siglip_dir: Path) -> Iterator[tuple[str, Any, Path]]:
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    data = tmp_path_factory.mktemp("text-page")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(data))
        mp.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
        store = EdgeStore(data / "qdrant")
        ingest_spaces(sample_dir, tiny_siglip_dir, store=store)
        run(store, AnalysisSettings(collection=PIXELS, out=data / "report", projections="pca",
                                    clusterers="kmeans", clusters="3", knn_ks="1", progress=False))
        config = UISettings(port=free_port(), collection=PIXELS, device="cpu", k=K)
        session = Session(config, store)
        with launched(session, config) as url:
            yield url, session, data


def test_a_typed_phrase_is_ringed_on_the_map_and_colours_it(browser: Any,
                                                            served: tuple[str, Any, Path]):
    from embedscope.search.text import search_text

    url, session, _ = served
    with session.store() as s:
        want = [h.id for h in search_text(s, PIXELS, PHRASE, k=K, via=SIGLIP, device="cpu").hits]
    ctx = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#collection-info").get_by_text(f"{POINTS:,} points").wait_for()
    box = page.locator("#query-text textarea")
    box.wait_for()  # shown: a linked collection (SigLIP) embeds text
    box.fill(PHRASE)
    page.locator("#text-search").click()
    page.locator("#query-info").get_by_text(SIGLIP).wait_for()
    page.locator("#neighbours img").nth(K - 1).wait_for()

    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function(READY, arg=POINTS, polling=50)
    page.wait_for_function(f"() => window.embedscopeMaps.at(-1).state.desc.marks.neighbours.length === {K}",
                           polling=50)
    rows = js(page, "m.state.desc.marks.neighbours")
    with session.store() as s:
        from embedscope.ui.map.points import load_map

        data = load_map(s, PIXELS, "pca")
    assert sorted(data.ids_of(rows)) == sorted(want)
    assert js(page, "Array.from(m.state.valueB).filter(b => b === 2).length") == K  # ringed, enlarged

    page.locator("#phrase textarea").fill("a sandal with a heel.")
    page.locator("#phrase-button").click()
    page.wait_for_function("() => window.embedscopeMaps.at(-1).state.continuous === true", polling=50)
    # the legend is redrawn after the state changes: wait for it rather than read it at once
    page.wait_for_function("() => (document.querySelector('#webmap .es-legend') || {}).innerText"
                           "?.includes('phrase: a sandal with a heel.')", polling=50)
    legend = page.locator("#webmap .es-legend").inner_text()
    assert "phrase: a sandal with a heel." in legend and "cosine" in legend
    low, high = page.locator("#webmap .es-ramp-ends span").all_inner_texts()
    assert float(low.removeprefix("cosine ")) < float(high)
    values = js(page, "Array.from(m.state.valueA)")
    assert min(values) == 0 and max(values) == 1 and len(values) == POINTS

    # coloured by a clustering, its captions are drawn over the map (and the toggle hides them)
    choose(page, "colour-by", "cluster_kmeans")
    page.locator("#webmap .es-label").nth(2).wait_for()
    report = json.loads((served[2] / "report" / "report.json").read_text())
    texts = sorted(c["caption"] for c in report["captions"]["clusterings"]["kmeans"])
    assert sorted(page.locator("#webmap .es-label").all_inner_texts()) == texts
    page.locator("#captions input").click()
    page.wait_for_function("() => document.querySelectorAll('#webmap .es-label').length === 0",
                           polling=50)
    ctx.close()
