"""The JSON API searched by words: a phrase embedded by the collection's text tower, or searched
in a linked text space (`via`) and shown with the collection's payloads, as the CLI does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.search.text import classify_text, search_text, text_vectors
from embedscope.store.edge import EdgeStore
from embedscope.ui.config import ServeSettings
from embedscope.ui.service import Session
from tests.search.test_text_search import PHRASE, PIXELS, SIGLIP, ingest_spaces

API = "/api/v1"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path,
           tiny_siglip_dir: Path) -> Iterator[tuple[Any, Session]]:
    """The API over a SigLIP collection (60 points) and a pixels one sharing 50 of its ids."""
    from fastapi.testclient import TestClient

    from embedscope.ui.server import build_server

    root = tmp_path_factory.mktemp("api-text") / "qdrant"
    with EdgeStore(root) as store:
        ingest_spaces(sample_dir, tiny_siglip_dir, store=store)
    settings = ServeSettings(device="cpu")
    session = Session(settings, EdgeStore(root, serving=True))
    # a loopback server answers loopback Host names only (TestClient's default is "testserver")
    with TestClient(build_server(settings, session), base_url="http://127.0.0.1") as client:
        yield client, session
    session.shutdown()


def _post(client: Any, route: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"{API}/{route}", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_phrase_is_embedded_and_searched_in_a_text_space(served) -> None:
    client, session = served
    embedded = _post(client, "embed", {"collection": SIGLIP, "text": PHRASE})
    hits = _post(client, "search", {"collection": SIGLIP, "text": PHRASE, "k": 8})
    with session.store() as s:
        want_vector = text_vectors(s, SIGLIP, [PHRASE], "cpu")[0]
        want = search_text(s, SIGLIP, PHRASE, k=8, device="cpu")
    np.testing.assert_allclose(embedded["vector"], want_vector, atol=1e-5)
    assert [h["id"] for h in hits["hits"]] == [h.id for h in want.hits]
    assert "missing" not in hits and "space" not in hits  # the collection answered itself


def test_via_searches_the_linked_space_and_names_what_the_collection_lacks(served) -> None:
    client, session = served
    found = _post(client, "search", {"collection": PIXELS, "text": PHRASE, "k": 40,
                                     "via": SIGLIP, "fields": ["label", "split"]})
    vote = _post(client, "classify", {"collection": PIXELS, "text": PHRASE, "k": 7, "via": SIGLIP})
    with session.store() as s:
        want = search_text(s, PIXELS, PHRASE, k=40, via=SIGLIP, device="cpu")
        voted, shown = classify_text(s, PIXELS, PHRASE, k=7, via=SIGLIP, device="cpu")
        stored = {r.id for r in s.scroll(PIXELS, None, False)}
    assert found["space"] == SIGLIP and found["missing"] == want.missing and want.missing
    assert [h["id"] for h in found["hits"]] == [h.id for h in want.hits]
    assert {h["id"] for h in found["hits"]} <= stored and not set(found["missing"]) & stored
    assert vote["label"] == voted.to_json()["label"] and vote["space"] == SIGLIP
    assert [h["id"] for h in vote["hits"]] == [h.id for h in shown.hits]


def test_words_where_no_text_tower_answers_name_the_way(served) -> None:
    client, _ = served
    cases = [  # 422: the schema takes it, the collection cannot; 400: it breaks the schema
        ({"collection": PIXELS, "text": PHRASE}, "search", 422, f'search with `"via": "{SIGLIP}"`'),
        ({"collection": PIXELS, "text": PHRASE}, "classify", 422, f'`"via": "{SIGLIP}"`'),
        ({"collection": PIXELS, "text": PHRASE}, "embed", 422, "cannot embed text"),
        ({"collection": PIXELS, "point_id": str(uuid.uuid4()), "via": SIGLIP}, "search", 400,
         "give `text` with it"),
        ({"collection": PIXELS, "text": PHRASE, "via": SIGLIP, "tag": "t"}, "search", 422,
         "`tag` filters the collection's own points"),
        ({"collection": SIGLIP, "text": "  "}, "search", 400, "`text` is blank"),
    ]
    for body, route, status, words in cases:
        answer = client.post(f"{API}/{route}", json=body)
        assert answer.status_code == status, (body, answer.text)
        message = answer.json()["error"]["message"]
        assert words in message and "--via" not in message, (body, message)  # a field, not a flag
