"""Words on the page without a browser: the Search tab's text box, its hits marked on the map,
and the Explore map coloured by a phrase (equal to numpy in the linked text space)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.job import run as analyse
from embedscope.errors import UsageError
from embedscope.ingest.models import load_embedder
from embedscope.search.text import search_text as library_search
from embedscope.store.edge import EdgeStore
from embedscope.ui import search_handlers as h
from embedscope.ui.binding import escape
from embedscope.ui.config import UISettings
from embedscope.ui.map.maps import Maps
from embedscope.ui.service import ALL, Session
from tests.search.test_text_search import PHRASE, PIXELS, SIGLIP, ingest_spaces


@pytest.fixture(scope="module", params=["embedded", "memory"])
def page_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               sample_dir: Path, tiny_siglip_dir: Path):
    """The linked spaces, the pixels one analysed, on the embedded store and the server stand-in."""
    from embedscope.store.remote import RemoteStore

    root = tmp_path_factory.mktemp("text-page")
    store = EdgeStore(root / "qdrant") if request.param == "embedded" else RemoteStore(":memory:")
    ingest_spaces(sample_dir, tiny_siglip_dir, store=store)
    analyse(store, AnalysisSettings(collection=PIXELS, out=root / "report", projections="pca",
                                    clusterers="kmeans", clusters="3", knn_ks="1", progress=False))
    yield store
    store.close()


@pytest.fixture
def session(page_store):
    return Session(UISettings(device="cpu"), page_store)


def test_the_text_box_shows_when_a_linked_space_embeds_text(session):
    assert h.on_collection(session, PIXELS)["query_text"]["visible"] is True
    assert h.on_collection(session, SIGLIP)["text_button"]["visible"] is True


def test_a_phrase_finds_the_text_spaces_hits_shown_in_the_collection_and_marked(session, page_store):
    out = h.search_words(session, PIXELS, PHRASE, 5, ALL, ALL, ALL)
    assert not out.get("status"), out.get("status")
    want = library_search(page_store, PIXELS, PHRASE, k=5, via=SIGLIP, device="cpu")
    linked = out["search_result"]
    assert linked["collection"] == PIXELS and linked["neighbour_ids"] == [x.id for x in want.hits]
    assert escape(SIGLIP) in out["query_info"] and len(out["neighbours"]["value"]) == len(want.hits)
    assert out["last"] == "text:" + PHRASE  # "Search" runs the phrase again
    maps = Maps(session)
    v, _, _ = maps.open(PIXELS, "pca", None)
    v = maps.mark(v, linked)
    data = maps.published.get(v.token).data
    assert v.neighbours == data.rows_of(linked["neighbour_ids"]).tolist() and len(v.neighbours) == 5
    assert json.loads(maps.descriptor(v))["marks"]["neighbours"] == v.neighbours


def test_the_map_coloured_by_a_phrase_equals_numpy(session, page_store, tiny_siglip_dir: Path):
    maps = Maps(session)
    v, _, _ = maps.open(PIXELS, "pca", None)
    v, note = maps.colour_by_phrase(v, PHRASE)
    pub = maps.published.get(v.token)
    c = pub.colouring(v.colour_by)
    ids = pub.data.ids_of(range(pub.data.n))
    vecs = {r.id: r.vector for r in page_store.retrieve(SIGLIP, ids, False, True)}
    t = load_embedder(str(tiny_siglip_dir), device="cpu").embed_texts([PHRASE])[0]
    cos = np.array([vecs[i] @ t for i in ids])
    np.testing.assert_allclose(c.codes, (cos - cos.min()) / (cos.max() - cos.min()), atol=1e-4)
    assert c.kind == "continuous" and c.names == [f"cosine {cos.min():.3f}", f"{cos.max():.3f}"]
    entry = json.loads(maps.descriptor(v))["colourings"][v.colour_by]
    assert entry["low"] == c.names[0] and entry["high"] == c.names[1]  # the range in the legend
    assert escape(SIGLIP) in note and v.colour_by in maps.colourings(v)


def test_without_a_text_space_the_page_says_how_to_get_one(tmp_path: Path, sample_dir: Path):
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest

    with EdgeStore(tmp_path / "q") as store:
        run_ingest(IngestSettings(dataset=str(sample_dir), model="pixels", limit=20, progress=False),
                   store=store)
        analyse(store, AnalysisSettings(collection=PIXELS, out=tmp_path / "r", projections="pca",
                                        clusterers="kmeans", clusters="3", knn_ks="1", progress=False))
        session = Session(UISettings(), store)
        assert h.on_collection(session, PIXELS)["query_text"]["visible"] is False
        maps = Maps(session)
        v, _, _ = maps.open(PIXELS, "pca", None)
        with pytest.raises(UsageError, match="cannot embed text.*ingest the dataset"):
            maps.colour_by_phrase(v, PHRASE)
