"""`embedscope export-map` past what an export holds: a seeded sample of the points on the whole
map's frame, the density overview of every point, and a page that says so."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.bench_map import build_collection
from tests.ui.map.test_export_map import CHROMIUM

NAME, POINTS, KEPT = "sampled__fake", 600, 200


def _document(folder: Path) -> dict[str, Any]:
    text = (folder / "map-data.js").read_text()
    prefix = "window.EMBEDSCOPE_EXPORT = "
    assert text.startswith(prefix)
    return json.loads(text[len(prefix):].rstrip().rstrip(";"))


def _raw(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any, Any]]:
    """The 600-point map exported with room for 200 points and an overview from 300 points."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map.export import export_map
    from embedscope.ui.map.points import load_map

    tmp = tmp_path_factory.mktemp("sampled")
    with EdgeStore(tmp / "qdrant") as store:
        build_collection(store, NAME, POINTS)
        done = export_map(store, NAME, tmp / "map", tile=8, columns=8, max_points=KEPT,
                          density_from=300)
        whole = load_map(store, NAME, "umap")
    yield tmp / "map", done, whole


def test_past_max_points_a_seeded_sample_is_exported_on_the_whole_maps_frame(
    sampled: tuple[Path, Any, Any],
) -> None:
    from embedscope.ui.map import density
    from embedscope.ui.map.export import sample_rows
    from embedscope.ui.map.points import normalised

    folder, done, whole = sampled
    doc = _document(folder)
    assert (done.points, done.map_points, done.thumbnails) == (KEPT, POINTS, KEPT)
    assert (doc["n"], doc["map_points"], len(doc["captions"])) == (KEPT, POINTS, KEPT)
    rows = sample_rows(POINTS, KEPT)
    assert rows is not None and len(np.unique(rows)) == KEPT
    assert np.array_equal(rows, sample_rows(POINTS, KEPT)), "the sample is seeded"
    # the sample's coordinates are the whole map's (normalised once, on every point)
    xy = _raw(doc["xy"], "<f4").reshape(2, KEPT).T
    assert np.allclose(xy, normalised(whole.xy)[rows])
    ids = _raw(doc["ids"], "S16")
    assert list(ids) == list(np.asarray(whole.ids, "S16")[rows])
    label = next(f for f in doc["fields"] if f["name"] == "label")
    codes = _raw(label["codes"], "<u2")
    assert np.array_equal(codes, whole.labels[rows])
    assert sum(label["counts"]) == POINTS, "the legend counts every point"
    # the overview counts every point: its intensities cover the whole map's cells
    grid = doc["density"]["grid"]
    overview = base64.b64decode(label["density"])
    alpha = np.frombuffer(overview[2 * grid * grid:], dtype=np.uint8)
    every = density.cells(normalised(whole.xy), grid)
    assert set(np.flatnonzero(alpha)) == set(every.tolist())


def test_no_sample_and_no_overview_when_the_map_fits(tmp_path: Path) -> None:
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.map.export import export_map

    with EdgeStore(tmp_path / "qdrant") as store:
        build_collection(store, NAME, 150)
        done = export_map(store, NAME, tmp_path / "map", tile=8, columns=8, max_points=150,
                          density_from=151)
    doc = _document(tmp_path / "map")
    assert done.points == done.map_points == doc["n"] == 150
    assert doc["density"] is None and all("density" not in f for f in doc["fields"])


@pytest.mark.browser
def test_the_sampled_export_opens_on_its_overview_and_says_it_is_a_sample(
    sampled: tuple[Path, Any, Any], browser: Any,
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    folder, _, _ = sampled
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(60_000)
    page.goto((folder / "index.html").resolve().as_uri())
    page.wait_for_function(
        "n => window.embedscopeExport && window.embedscopeExport.map.state.ready "
        "&& window.embedscopeExport.map.state.n === n", arg=KEPT, polling=50)
    state = "window.embedscopeExport.map.state"
    assert page.evaluate(f"{state}.overviewAt > 0 && {state}.density !== null")
    assert page.evaluate(f"{state}.timings.overview < {state}.timings.drawn")
    title = page.locator("[data-role=title]").inner_text()
    assert f"{KEPT} of {POINTS} points" in title and "sample" in title
    assert page.evaluate("window.embedscopeExport.map.selectBox(-1, -1, 1, 1)") == KEPT
    page.close()
