"""Data is text: a collection whose class names, split, tags, sources, captions and thumbnails
hold markup — written straight into the store, as any service with access to it could — runs
nothing in Chromium and shows the markup as text: on the page (Search, Explore, Report), in the
exported map and in report.html."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.ui.test_browser import CHROMIUM, TIMEOUT_MS
from tests.ui.test_search_browser import choose, pick, until, wait_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} "
                       "(apt-get install chromium, or set EMBEDSCOPE_CHROMIUM)"),
]

NAME = "hostile"
IMG = '"><img src=x onerror=window.__pwned=1>'
SCRIPT = "<script>window.__pwned=2</script>"
CLASSES = [IMG, SCRIPT, "[a link](javascript:window.__pwned=3)", "**bold** & <b>b</b>", "plain"]
SPLIT = "<img src=x onerror=window.__pwned=4>"
TAGS = ["<script>window.__pwned=5</script>", '"><img src=x onerror=window.__pwned=6>']
SOURCE = '"><img src=x onerror=window.__pwned=7>.png'
CAPTIONS = ["<img src=x onerror=window.__pwned=8>", "<script>window.__pwned=9</script>"]
BAD_THUMBNAILS = [
    'data:x" onerror="window.__pwned=11" x="',
    "data:image/svg+xml;base64,"
    + base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg' onload='window.__pwned=12'/>").decode(),
    'data:image/png;base64,AAAA" onerror="window.__pwned=13',
]
PER_CLASS, DIM = 40, 16
POINTS = PER_CLASS * len(CLASSES)
READY = "n => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === n)"
EXPORT_READY = "n => window.embedscopeExport && window.embedscopeExport.map.state.ready " \
               "&& window.embedscopeExport.map.state.n === n"
PWNED = "() => window.__pwned === undefined"


def png(shade: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), shade).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def split_of(i: int) -> str:
    """Points 0…9, 25…34, …: SPLIT; the others train."""
    return SPLIT if (i // 5) % 5 < 2 else "train"


def point_id(i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{NAME}/{i}"))


@dataclass
class Hostile:
    """The data directory, report.html, the exported map's folder, map rows of points 0…11."""

    data: Path
    html: Path
    export: Path
    rows: dict[int, int]


def write_hostile(store: Any) -> None:
    """Point i: class i % 5 (its own blob), split train or SPLIT, a tag on every third point,
    a bad thumbnail on every fourth (point 0 among them); the first points of SPLIT duplicate
    train points (leaks, near-duplicates) and a few sit in another class's blob (label errors)."""
    from embedscope.contract import CollectionMeta

    rng = np.random.default_rng(0)
    store.ensure_collection(NAME, CollectionMeta(model="fake", dimension=DIM, pooling="cls",
                                                 dataset="hostile", labels=CLASSES))
    centres = rng.normal(0, 1, (len(CLASSES), DIM)) * 4
    labels = np.arange(POINTS) % len(CLASSES)
    vectors = centres[labels] + rng.normal(0, 0.6, (POINTS, DIM))
    split = [split_of(i) for i in range(POINTS)]
    for i in (0, 2, 3, 4, 5, 8):  # a SPLIT point → a copy of a train point of its class
        j = next(t for t in range(POINTS) if split[t] == "train" and labels[t] == labels[i])
        vectors[i] = vectors[j] + rng.normal(0, 1e-4, DIM)
    for i in (1, 7, 13):  # label errors: in the blob of the next class
        vectors[i] = centres[(labels[i] + 1) % len(CLASSES)] + rng.normal(0, 0.6, DIM)
    payloads = []
    for i in range(POINTS):
        p: dict[str, Any] = {
            "dataset": "hostile", "split": split[i], "index": i, "label": int(labels[i]),
            "label_name": CLASSES[labels[i]], "source": SOURCE, "width": 8, "height": 8,
            "thumbnail": BAD_THUMBNAILS[(i // 4) % 3] if i % 4 == 0 else png(40 * int(labels[i])),
        }
        if i % 3 == 0:
            p["tags"] = [TAGS[(i // 3) % 2]]
        payloads.append(p)
    store.upsert(NAME, [point_id(i) for i in range(POINTS)], vectors.astype(np.float32), payloads)
    store.optimize(NAME)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    """The analysed hostile collection, its report's cluster captions hostile too (as a text
    space would have written them), and its exported map."""
    from embedscope.analysis.report import write_html
    from embedscope.analysis.report_model import Report
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.map.export import export_map
    from embedscope.ui.map.points import available, load_map
    from embedscope.ui.report import report_path, run_quick

    data = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(data))
        mp.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
        with EdgeStore(data / "qdrant") as store:
            write_hostile(store)
            run_quick(store, NAME, UISettings())
            path = report_path(store, NAME)
            document = json.loads(path.read_text())
            document["captions"] = {"vocabulary": "hostile", "space": "hostile", "clusterings": {
                "kmeans": [{"cluster": c, "caption": CAPTIONS[c % 2], "score": 0.3}
                           for c in range(10)]}}
            path.write_text(json.dumps(document))
            html = write_html(Report.model_validate(document), path.parent,
                              path.parent / "report.html")
            export_map(store, NAME, data / "export", tile=8, columns=16)
            shown = load_map(store, NAME, available(store, NAME)[0][0])  # the page's first map
            rows = {i: int(shown.rows_of([point_id(i)])[0]) for i in range(12)}
    return Hostile(data, html, data / "export", rows)


@pytest.fixture(scope="module")
def site(hostile: Hostile) -> Iterator[str]:
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.service import Session
    from tests.ui.test_browser import serve

    data = hostile.data
    session = Session(store=EdgeStore(data / "qdrant"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(data))
        demo, url = serve(session, collection=NAME)
        yield url
        demo.close()
    session.close()


@pytest.fixture(scope="module")
def page(site: str, browser: Any) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": 1400, "height": 1100})
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(site)
    pg.locator("#collection-info").get_by_text(f"{POINTS} points").wait_for()
    yield pg
    pg.close()


def text_of(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text())


def nothing_ran(page: Any) -> None:
    assert page.evaluate(PWNED), f"a value from the data ran: window.__pwned = " \
                                 f"{page.evaluate('window.__pwned')}"
    assert page.locator("img[src=x]").count() == 0, "markup from the data became an element"


def test_the_search_tab_shows_class_names_splits_and_tags_as_text(page: Any) -> None:
    pick(page, "by id", point_id(0))  # class IMG, split SPLIT, a bad thumbnail
    wait_text(page, "#query-info", f"{IMG} · {SPLIT} #0")
    wait_text(page, "#prediction", f"Predicted: {IMG}")
    labels = [t.strip() for t in page.locator("#neighbours .caption-label").all_inner_texts()]
    assert labels and all(t.startswith(tuple(CLASSES)) for t in labels), labels
    assert any(SPLIT in t for t in labels), labels
    # the filters offer the names as they are; a changed filter's note names them as text
    choose(page, "class-filter", SCRIPT)
    wait_text(page, "#stale-note", f"class {SCRIPT}")
    page.locator("#search-button").click()
    wait_text(page, "#prediction", f"keeps only {SCRIPT} neighbours")
    choose(page, "split-filter", SPLIT)
    wait_text(page, "#stale-note", f"split {SPLIT}")
    choose(page, "tag-filter", TAGS[1])
    wait_text(page, "#stale-note", f"tag {TAGS[1]}")
    nothing_ran(page)


def test_the_map_legend_hover_card_and_captions_show_text_and_no_bad_thumbnail(
    page: Any, hostile: Hostile
) -> None:
    page.get_by_role("tab", name="Explore").click()
    until(page, READY, POINTS)
    legend = text_of(page, "#webmap .es-legend")
    assert all(name in legend for name in CLASSES), legend
    # hover point 0 (a `data:x" onerror=…` thumbnail), 4 and 8 (other bad ones), 1 (a good one)
    js = "a => window.embedscopeMaps.at(-1).hover(a)"
    tooltip = page.locator("#webmap .es-tooltip")
    for i, bad in ((0, True), (1, False), (4, True), (8, True)):
        page.evaluate(js, hostile.rows[i])
        wait_text(page, "#webmap .es-tooltip", f"{split_of(i)} #{i}")
        assert tooltip.inner_text().strip().startswith(CLASSES[i % 5])
        assert tooltip.locator("img").count() == (0 if bad else 1), tooltip.inner_html()
    # coloured by a tag, then by the clusters: the legend and the captions are text too
    choose(page, "colour-by", f"tag: {TAGS[0]}")
    wait_text(page, "#webmap .es-legend", f"tag: {TAGS[0]}")
    choose(page, "colour-by", "cluster_kmeans")
    until(page, "() => document.querySelectorAll('#webmap .es-label').length > 0")
    shown = {str(t) for t in page.locator("#webmap .es-label").all_text_contents()}
    assert shown == set(CAPTIONS), shown
    # a box over the whole map: the selection's counts table names every class as text
    page.evaluate("() => window.embedscopeMaps.at(-1).selectBox(-1, -1, 1, 1)")
    for name in CLASSES:
        wait_text(page, "#selection-counts", name)
    nothing_ran(page)


def test_the_report_tab_shows_findings_as_text(page: Any) -> None:
    page.get_by_role("tab", name="Report").click()
    wait_text(page, "#report-summary", f"of {NAME}")
    until(page, "() => document.querySelectorAll('#label-errors .caption-label').length > 0")
    errors = " ".join(page.locator("#label-errors .caption-label").all_inner_texts())
    assert " → " in errors and any(name in errors for name in CLASSES[1:4]), errors
    until(page, "() => document.querySelectorAll('#leaks .caption-label').length > 0")
    leaks = " ".join(page.locator("#leaks .caption-label").all_inner_texts())
    assert SPLIT in leaks, leaks
    nothing_ran(page)


def test_report_html_shows_the_data_as_text(hostile: Hostile, browser: Any) -> None:
    pg = browser.new_page()
    try:
        pg.goto(hostile.html.resolve().as_uri())
        pg.wait_for_load_state("load")
        body = str(pg.locator("body").inner_text())
        for text in (IMG, SCRIPT, SPLIT, *CAPTIONS):
            assert text in body, text
        nothing_ran(pg)
    finally:
        pg.close()


def test_the_exported_map_shows_the_data_as_text(hostile: Hostile, browser: Any) -> None:
    pg = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto((hostile.export / "index.html").resolve().as_uri())
        pg.wait_for_function(EXPORT_READY, arg=POINTS, polling=100)
        legend = text_of(pg, ".es-legend")
        assert all(name in legend for name in CLASSES), legend
        captions = pg.evaluate("window.EMBEDSCOPE_EXPORT.captions")
        row = next(r for r, c in enumerate(captions) if c.endswith(f"{SPLIT} #0"))
        pg.evaluate("r => window.embedscopeExport.map.hover(r)", row)
        wait_text(pg, ".es-tooltip", f"{IMG} · {SPLIT} #0")
        # "Select group": the group picker offers the names; the gallery captions them as text
        pg.select_option("[data-role=colour]", "label")
        pg.select_option("[data-role=group]", SCRIPT)
        wait_text(pg, "[data-role=counts]", f"{SCRIPT} {PER_CLASS}")
        tiles = " ".join(pg.locator(".es-tile figcaption").all_inner_texts())
        assert SCRIPT in tiles, tiles
        nothing_ran(pg)
    finally:
        pg.close()
