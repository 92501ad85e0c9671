"""A phrase is embedded outside the store: while the text model runs (or first loads), the page's
other requests get the store, a job waiting for a collection gets it, and a command searching by
words holds no collection — on every edge that searches by words (page, map, API, command line)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import embedscope.ingest.query as query
from embedscope.store.edge import EdgeStore
from embedscope.ui.config import UISettings
from embedscope.ui.service import Session
from tests.search.test_text_search import PHRASE, PIXELS, SIGLIP, ingest_spaces

#: Generous bounds: a blocked store fails the test here instead of hanging it.
WAIT = 60.0


class SlowTextModel:
    """The real text embedding, held at a gate: the test acts while the model 'runs'."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.running = threading.Event()
        self.go = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.running.set()
        assert self.go.wait(WAIT), "the test never let the text model finish"
        return self.real(*args, **kwargs)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, tiny_siglip_dir: Path) -> Path:
    """The embedded store with the linked spaces; the pixels one has a PCA map."""
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.analysis.job import run as analyse

    data = tmp_path_factory.mktemp("phrase-hold")
    with EdgeStore(data / "qdrant") as store:
        ingest_spaces(sample_dir, tiny_siglip_dir, store=store)
        analyse(store, AnalysisSettings(collection=PIXELS, out=data / "report", projections="pca",
                                        clusterers="kmeans", clusters="3", knn_ks="1",
                                        progress=False))
    return data / "qdrant"


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowTextModel:
    gate = SlowTextModel(query.embed_texts)
    monkeypatch.setattr(query, "embed_texts", gate)
    return gate


@pytest.fixture
def session(root: Path) -> Iterator[Session]:
    s = Session(UISettings(device="cpu", idle_release_seconds=60), EdgeStore(root, serving=True))
    with s.store() as store:  # the page holds both spaces open, as after earlier requests
        store.count(SIGLIP), store.count(PIXELS)
    yield s
    s.shutdown()


def _while_embedding(slow: SlowTextModel, call: Callable[[], Any],
                     meanwhile: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``call`` until the text model runs, then ``meanwhile`` (bounded), then let it finish."""
    with ThreadPoolExecutor(2) as pool:
        searched = pool.submit(call)
        assert slow.running.wait(WAIT), "the phrase was never embedded"
        other = pool.submit(meanwhile)
        try:
            during = other.result(timeout=WAIT / 2)
        except TimeoutError:
            pytest.fail("the store stayed held while the phrase was embedded")
        finally:
            slow.go.set()
        return searched.result(timeout=WAIT), during


def _other_request(session: Session) -> Callable[[], int]:
    def count() -> int:
        with session.store() as s:
            return s.count(SIGLIP)
    return count


def _waiting_job(root: Path) -> Callable[[], int]:
    """A job (as `embedscope analyze` is) that waits for the page to let go of a collection."""
    def job() -> int:
        with EdgeStore(root, lock_wait=WAIT / 3) as store:
            return store.count(PIXELS)
    return job


def test_the_page_search_by_words_lets_other_requests_and_jobs_in_while_the_model_runs(
        session: Session, slow: SlowTextModel, root: Path) -> None:
    from embedscope.ui.text_search import search_text

    result, during = _while_embedding(slow, lambda: search_text(session, PIXELS, PHRASE, 5),
                                      _other_request(session))
    assert during == 60 and len(result.hits) == 5 and SIGLIP in result.query_caption
    slow.go.clear()
    slow.running.clear()
    result, during = _while_embedding(slow, lambda: search_text(session, PIXELS, PHRASE, 5),
                                      _waiting_job(root))
    assert during == 50 and len(result.hits) == 5  # the job got it; the page took it back after


def test_the_api_search_and_embed_by_words_let_other_requests_in_while_the_model_runs(
        session: Session, slow: SlowTextModel) -> None:
    from embedscope.ui.api_queries import EmbedRequest, QueryRequest, embed, search

    req = QueryRequest(collection=PIXELS, text=PHRASE, via=SIGLIP, k=4)
    answer, during = _while_embedding(slow, lambda: search(session, req, None),
                                      _other_request(session))
    assert during == 60 and len(answer["hits"]) == 4 and answer["space"] == SIGLIP
    slow.go.clear()
    slow.running.clear()
    answer, during = _while_embedding(
        slow, lambda: embed(session, EmbedRequest(collection=SIGLIP, text=PHRASE), None),
        _other_request(session))
    assert during == 60 and answer["dimension"] == len(answer["vector"])


def test_the_map_coloured_by_a_phrase_lets_other_requests_in_while_the_model_runs(
        session: Session, slow: SlowTextModel) -> None:
    from embedscope.ui.map.maps import Maps

    maps = Maps(session)
    view, _, _ = maps.open(PIXELS, None, None)
    (view, note), during = _while_embedding(slow, lambda: maps.colour_by_phrase(view, PHRASE),
                                            _other_request(session))
    assert during == 60 and "Coloured by the cosine" in note


def test_a_command_searching_by_words_holds_no_collection_while_the_model_runs(
        root: Path, slow: SlowTextModel, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from embedscope.cli import main

    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(root.parent))
    monkeypatch.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)

    def other_job() -> int:  # refused at once (busy) if the command held the collection
        with EdgeStore(root) as store:
            return store.count(SIGLIP)

    code, during = _while_embedding(
        slow, lambda: main(["search", "--collection", PIXELS, "--text", PHRASE, "--via", SIGLIP,
                            "-k", "3", "--json"]), other_job)
    assert code == 0 and during == 60
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 3
