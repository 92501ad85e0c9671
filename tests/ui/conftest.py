"""Fixtures of the ui tests: a small collection from the shared sample, built once and copied."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Built:
    """A data directory holding one embedded collection."""

    data_dir: Path
    collection: str

    @property
    def qdrant_dir(self) -> Path:
        """Where the embedded collections live."""
        return self.data_dir / "qdrant"

    def copy(self, target: Path) -> Built:
        """An independent copy (embedded Qdrant: one process/store per collection directory)."""
        shutil.copytree(self.data_dir, target)
        return Built(target, self.collection)


@pytest.fixture(scope="session")
def built(sample_dir: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """150 train + 150 test Fashion-MNIST images embedded with the tiny random DINOv2 at 56 px."""
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.store.edge import EdgeStore

    data = tmp_path_factory.mktemp("ui-data")
    settings = IngestSettings(dataset=str(sample_dir), model=str(tiny_model_dir), image_size=56,
                              limit=150, progress=False, num_workers=0, collection="fashion")
    with EdgeStore(data / "qdrant") as store:
        summary = run_ingest(settings, store=store)
    assert summary.points_in_collection == 300
    return Built(data, summary.collection)


@pytest.fixture
def fresh(built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Built:
    """A private copy of the collection; EMBEDSCOPE_DATA_DIR points at it (reports go there)."""
    copy = built.copy(tmp_path / "data")
    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(copy.data_dir))
    monkeypatch.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
    return copy


@pytest.fixture(scope="session")
def analysed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A copy of the collection after the page's quick analysis (PCA + k-means) ran on it."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.report import run_quick

    copy = built.copy(tmp_path_factory.mktemp("ui-analysed") / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(copy.data_dir))
        with EdgeStore(copy.qdrant_dir) as store:
            run_quick(store, copy.collection, UISettings())
    return copy


@pytest.fixture(scope="session")
def query_png(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Row 0 of the test split (stored in the collection) as a PNG file."""
    import pyarrow.parquet as pq
    from PIL import Image

    row = pq.read_table(sample_dir / "test.parquet", columns=["image"]).slice(0, 1).to_pylist()[0]
    path = tmp_path_factory.mktemp("query") / "test-0.png"
    Image.open(io.BytesIO(row["image"]["bytes"])).save(path)
    return path


@pytest.fixture
def session_on(request: pytest.FixtureRequest) -> Iterator[object]:
    """A factory of ui sessions on a Built copy; every session is closed afterwards."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    made: list[Session] = []

    def make(b: Built, **settings: object) -> Session:
        s = Session(UISettings(**settings), EdgeStore(b.qdrant_dir))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


# --- one page server and one Chromium page per browser test module (the Search tab's tests) --

TAG = "bags-of-test"


@pytest.fixture(scope="module")
def tagged(analysed: Built, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The analysed collection, its test-split bags tagged, beside an unanalysed 'aaa'."""
    from embedscope.store.edge import EdgeStore

    copy = analysed.copy(tmp_path_factory.mktemp("ui-tagged") / "data")
    with EdgeStore(copy.qdrant_dir) as store:
        store.ensure_collection("aaa", store.get_meta("fashion"))  # first by name, no analysis
        bag = store.get_meta("fashion").labels.index("Bag")
        from embedscope.store import Where

        bags = [r.id for r in store.scroll("fashion", Where(split="test", label=bag), False)]
        assert len(bags) >= 5
        store.set_payloads("fashion", {i: {"tags": [TAG]} for i in bags})
    return copy


@pytest.fixture(scope="module")
def site(tagged: Built) -> Iterator[tuple[str, Any]]:
    """One page server for the module (max upload 1 MB): (url, session)."""
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.service import Session

    session = Session(store=EdgeStore(tagged.qdrant_dir))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(tagged.data_dir))
        from tests.ui.test_browser import serve

        demo, url = serve(session, max_upload_mb=1.0)
        yield url, session
        demo.close()
    session.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a browser test module."""
    from playwright.sync_api import sync_playwright

    from benchmarks.bench_map import CHROMIUM_ARGS
    from tests.ui.test_browser import CHROMIUM

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def opened(browser: Any, url: str) -> Iterator[Any]:
    """A page (viewport 1400×1100) on the app at ``url``, once it lists the 300-point collection."""
    from tests.ui.test_browser import TIMEOUT_MS

    pg = browser.new_page(viewport={"width": 1400, "height": 1100})
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(url)
    pg.locator("#collection-info").get_by_text("300 points").wait_for()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture(scope="module")
def page(site: tuple[str, Any], browser: Any) -> Iterator[Any]:
    """One Chromium page on the site for the whole module."""
    with opened(browser, site[0]) as pg:
        yield pg


@contextmanager
def launched(session: Any, config: Any) -> Iterator[str]:
    """The page of ``session`` served on ``config.port`` (closed, with the session, after)."""
    from embedscope.ui.server import launch

    session.settings = config
    demo = launch(config, session, block=False)
    try:
        yield f"http://127.0.0.1:{config.port}/"
    finally:
        demo.close()
        session.close()


def tie_at_two(session: Any, collection: str = "fashion") -> str:
    """A stored point whose two nearest neighbours disagree (a tie at k = 2); skips without."""
    with session.store() as store:
        ids = [r.id for r in store.scroll(collection, None, False)]
    for point in ids:
        hits = session.search_point(collection, point, 2).hits
        if hits[0].payload["label"] != hits[1].payload["label"]:
            return point
    pytest.skip(f"no tie at k=2 in {collection!r}")
