"""The JSON API: collections, embed, search, classify; errors as JSON; auth; batching; the client."""

from __future__ import annotations

import base64
import io
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from embedscope.errors import UsageError
from embedscope.store import Where
from embedscope.store.edge import EdgeStore
from embedscope.ui.config import ServeSettings, UISettings
from embedscope.ui.service import Session
from tests.ui.conftest import Built

API = "/api/v1"


def _client(settings: ServeSettings, session: Session, page: bool = False):
    from fastapi.testclient import TestClient

    from embedscope.ui.server import build_server

    # a loopback server answers loopback Host names only (TestClient's default is "testserver")
    return TestClient(build_server(settings, session, page=page), base_url="http://127.0.0.1")


@pytest.fixture
def served(fresh: Built) -> Iterator[tuple[object, Session, Built]]:
    session = Session(ServeSettings(), EdgeStore(fresh.qdrant_dir, serving=True))
    with _client(ServeSettings(), session) as client:
        yield client, session, fresh
    session.shutdown()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_collections_lists_model_dimension_and_points(served) -> None:
    client, _, b = served
    answer = client.get(f"{API}/collections")
    assert answer.status_code == 200
    (c,) = answer.json()["collections"]
    assert c["name"] == b.collection and c["points"] == 300 and c["dimension"] == 32
    assert len(c["labels"]) == 10 and c["image_size"] == 56


def test_embed_takes_multipart_or_base64_and_gives_the_collection_space(served, query_png) -> None:
    client, session, b = served
    by_json = client.post(f"{API}/embed", json={"collection": b.collection, "image": _b64(query_png)})
    with query_png.open("rb") as f:
        by_form = client.post(f"{API}/embed", data={"collection": b.collection},
                              files={"file": ("q.png", f, "image/png")})
    assert by_json.status_code == 200 and by_form.status_code == 200, by_json.text
    one, two = by_json.json(), by_form.json()
    assert one["dimension"] == 32 and len(one["vector"]) == 32
    assert one["space"]["image_size"] == 56 and one["model"] == one["space"]["model"]
    np.testing.assert_allclose(one["vector"], two["vector"], atol=1e-6)
    assert abs(np.linalg.norm(one["vector"]) - 1) < 1e-4


def test_search_by_image_point_or_vector_with_filters_and_fields(served, query_png) -> None:
    client, _, b = served
    answer = client.post(f"{API}/search", json={"collection": b.collection,
                                                "image": _b64(query_png), "k": 5})
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]
    assert len(hits) == 5 and hits[0]["score"] > 0.999  # the stored copy of the query
    assert hits[0]["payload"]["split"] == "test" and hits[0]["payload"]["index"] == 0
    assert "thumbnail" not in hits[0]["payload"]
    first = hits[0]["id"]
    by_point = client.post(f"{API}/search", json={"collection": b.collection, "point_id": first,
                                                  "k": 3, "split": "train",
                                                  "fields": ["label", "thumbnail"]}).json()["hits"]
    assert first not in [h["id"] for h in by_point]
    assert set(by_point[0]["payload"]) == {"label", "thumbnail"}
    vector = client.post(f"{API}/embed", json={"collection": b.collection,
                                               "image": _b64(query_png)}).json()["vector"]
    by_vector = client.post(f"{API}/search", json={"collection": b.collection, "vector": vector,
                                                   "k": 5}).json()["hits"]
    assert [h["id"] for h in by_vector] == [h["id"] for h in hits]


def test_classify_votes_among_the_neighbours(served, query_png) -> None:
    client, _, b = served
    answer = client.post(f"{API}/classify", json={"collection": b.collection,
                                                  "image": _b64(query_png), "k": 7})
    assert answer.status_code == 200, answer.text
    vote = answer.json()
    assert vote["label_name"] in vote["counts"] and sum(vote["counts"].values()) == 7
    assert len(vote["hits"]) == 7


def test_fewer_matches_than_k_answer_what_matches_with_a_note(served, query_png) -> None:
    client, session, b = served
    with session.store() as s:  # how many test points there are, counted here, not by the API
        tests = s.count(b.collection, Where(split="test", label=0))
    assert 3 < tests + 5 <= ServeSettings().max_k
    body = {"collection": b.collection, "image": _b64(query_png), "split": "test", "label": "0",
            "k": tests + 5}
    found = client.post(f"{API}/search", json=body)
    assert found.status_code == 200, found.text
    assert len(found.json()["hits"]) == tests
    assert found.json()["note"].startswith(f"only {tests} of the k={tests + 5} neighbours")
    voted = client.post(f"{API}/classify", json=body).json()
    assert sum(voted["counts"].values()) == tests and "note" in voted
    enough = client.post(f"{API}/search", json={**body, "k": 3}).json()
    assert "note" not in enough and len(enough["hits"]) == 3


class _CountingEdgeStore(EdgeStore):
    """The real embedded store, its passes over the collection counted."""

    passes: list[str]

    def count(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.passes.append("count")
        return super().count(*args, **kwargs)

    def scroll_page(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.passes.append("scroll")
        return super().scroll_page(*args, **kwargs)


def test_the_api_routes_make_no_pass_over_the_collection(fresh: Built) -> None:
    store = _CountingEdgeStore(fresh.qdrant_dir, serving=True)
    store.passes = []
    session = Session(ServeSettings(), store)
    with _client(ServeSettings(), session) as client:
        (listed,) = client.get(f"{API}/collections").json()["collections"]
        assert listed["points"] == 300
        point = client.post(f"{API}/search", json={"collection": fresh.collection,
                                                   "vector": [1.0] * 32, "k": 3}).json()["hits"][0]
        for route in ("search", "classify"):
            for query in ({"vector": [0.5] * 31 + [1.0]}, {"point_id": point["id"]}):
                answer = client.post(f"{API}/{route}", json={"collection": fresh.collection,
                                                             "k": 5, "split": "train", **query})
                assert answer.status_code == 200, answer.text
    session.shutdown()
    assert store.passes == []


def _bomb(tmp: Path) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buf, "PNG")
    return buf.getvalue()


def test_errors_are_json_with_a_code_and_the_cli_message(served, tmp_path: Path) -> None:
    client, _, b = served
    cases = [  # 400: the body breaks the schema; 422: the schema takes it, the collection cannot
        ({"collection": "nope", "point_id": str(uuid.uuid4())}, 404, "collection_not_found",
         "no collection named"),
        ({"collection": b.collection, "vector": [1.0] * 32, "k": 500}, 400, "usage",
         "k must be between 1 and 50"),
        ({"collection": b.collection, "point_id": "x"}, 400, "usage", "point ids are UUIDs"),
        ({"collection": b.collection}, 400, "usage", "give exactly one of"),
        ({"collection": b.collection, "vector": [1.0], "via": "x"}, 400, "usage", "give `text` with it"),
        ({"collection": "", "vector": [1.0]}, 400, "usage", "collection: String should have at least 1"),
        ({"collection": b.collection, "text": " \t"}, 400, "usage", "`text` is blank"),
        ({"collection": b.collection, "vector": [1.0] * 32, "k": "3"}, 400, "usage", "k: Input should be"),
        ({"k": 3}, 400, "usage", "collection: Field required"),
        ({"collection": b.collection, "image": base64.b64encode(b"hello").decode()}, 422,
         "bad_image", "cannot be used as a query image"),
        ({"collection": b.collection, "image": ""}, 422, "bad_image", "empty"),
        ({"collection": b.collection, "image": "%%%"}, 422, "usage", "not valid base64"),
        ({"collection": b.collection, "image": base64.b64encode(_bomb(tmp_path)).decode()}, 422,
         "bad_image", "decompression bombs"),
        ({"collection": b.collection, "text": "a shoe"}, 422, "usage", "cannot embed text"),
        ({"collection": b.collection, "vector": [1.0] * 7}, 422, "usage", "dimension"),
        ({"collection": b.collection, "point_id": str(uuid.uuid4())}, 422, "usage", "no point with id"),
    ]
    for body, status, code, words in cases:
        answer = client.post(f"{API}/search", json=body)
        assert answer.status_code == status, (body, answer.text)
        err = answer.json()["error"]
        assert err["code"] == code and words in err["message"], (body, err)
        assert "Traceback" not in answer.text
    big = client.post(f"{API}/embed", data={"collection": b.collection},
                      files={"file": ("big.png", b"\0" * (11 * 1024 * 1024), "image/png")})
    assert big.status_code == 413 and "upload limit is 10 MB" in big.json()["error"]["message"]
    junk = client.post(f"{API}/search", content=b"{not json", headers={"content-type": "application/json"})
    assert junk.status_code == 400 and junk.json()["error"]["code"] == "usage"


def test_a_busy_collection_answers_503_with_retry_after(served) -> None:
    client, session, b = served
    session.close()
    with EdgeStore(b.qdrant_dir) as job:  # a job holding it (in this process, as a lock)
        job.count(b.collection)
        answer = client.post(f"{API}/search", json={"collection": b.collection,
                                                    "vector": [1.0] * 32})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    err = answer.json()["error"]
    assert err["code"] == "collection_busy" and err["exit_code"] == 5
    assert "collection busy:" in err["message"]
    assert client.post(f"{API}/search", json={"collection": b.collection,
                                              "vector": [1.0] * 32}).status_code == 200


def test_openapi_schema_and_docs_page(served) -> None:
    client, _, _ = served
    schema = client.get(f"{API}/openapi.json").json()
    assert {f"{API}/collections", f"{API}/embed", f"{API}/search", f"{API}/classify"} <= set(schema["paths"])
    body = schema["paths"][f"{API}/search"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    page = client.get(f"{API}/docs")
    assert page.status_code == 200 and "POST /api/v1/search" in page.text and "cdn" not in page.text


# --- auth --------------------------------------------------------------------------------------

def test_a_key_is_required_off_loopback_missing_wrong_and_right_token(fresh: Built) -> None:
    settings = ServeSettings(host="0.0.0.0", api_key="s3cret")
    session = Session(settings, EdgeStore(fresh.qdrant_dir, serving=True))
    try:
        with _client(settings, session) as client:
            missing = client.get(f"{API}/collections")
            wrong = client.get(f"{API}/collections", headers={"Authorization": "Bearer nope"})
            right = client.get(f"{API}/collections", headers={"Authorization": "Bearer s3cret"})
            schema = client.get(f"{API}/openapi.json")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_token"
        assert missing.headers["www-authenticate"] == "Bearer"
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_token"
        assert right.status_code == 200 and right.json()["collections"]
        assert schema.status_code == 401  # every route is behind the door, the schema too
    finally:
        session.shutdown()


def test_loopback_needs_no_token_but_checks_one_when_a_key_is_set(fresh: Built) -> None:
    session = Session(ServeSettings(), EdgeStore(fresh.qdrant_dir, serving=True))
    try:
        with _client(ServeSettings(), session) as client:
            assert client.get(f"{API}/collections").status_code == 200
        keyed = ServeSettings(api_key="k")
        with _client(keyed, session) as client:
            assert client.get(f"{API}/collections").status_code == 401
            assert client.get(f"{API}/collections",
                              headers={"Authorization": "Bearer k"}).status_code == 200
    finally:
        session.shutdown()


def test_refuses_to_serve_everywhere_without_a_key_unless_insecure(fresh: Built) -> None:
    session = Session(ServeSettings(), EdgeStore(fresh.qdrant_dir, serving=True))
    try:
        with pytest.raises(UsageError, match="refusing to serve on 0.0.0.0 without an API key"):
            _client(ServeSettings(host="0.0.0.0"), session)
        with _client(ServeSettings(host="0.0.0.0", insecure=True), session) as client:
            assert client.get(f"{API}/collections").status_code == 200
    finally:
        session.shutdown()


def test_serve_command_refuses_an_open_interface_without_a_key(capsys) -> None:
    from embedscope.cli import main

    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in capsys.readouterr().err


# --- the page and the API in one app -----------------------------------------------------------

def test_ui_serves_the_page_and_the_api_in_one_app(fresh: Built) -> None:
    settings = UISettings(host="0.0.0.0", auth="alice:pw")  # a login, no API key
    session = Session(settings, EdgeStore(fresh.qdrant_dir, serving=True))
    try:
        with _client(settings, session, page=True) as client:
            page = client.get("/", follow_redirects=False)
            api = client.get(f"{API}/collections")
            client.post("/login", data={"username": "alice", "password": "pw"})
            logged_in_page = client.get("/")
            logged_in_api = client.get(f"{API}/collections")
        assert page.status_code == 401 and api.status_code == 401
        assert api.json()["error"]["code"] == "no_api_key"  # a service cannot log in here
        assert logged_in_page.status_code == 200 and "gradio" in logged_in_page.text.lower()
        assert logged_in_api.status_code == 200
        local = UISettings()
        with _client(local, session, page=True) as client:
            assert client.get(f"{API}/collections").status_code == 200
    finally:
        session.shutdown()


# --- batching ----------------------------------------------------------------------------------

def test_concurrent_embeds_share_model_calls(fresh: Built, query_png: Path) -> None:
    settings = ServeSettings(batch_window_ms=50, max_batch=8)
    session = Session(settings, EdgeStore(fresh.qdrant_dir, serving=True))
    try:
        with _client(settings, session) as client:
            body = {"collection": fresh.collection, "image": _b64(query_png)}
            first = client.post(f"{API}/embed", json=body).json()["vector"]  # loads the model
            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(lambda _: client.post(f"{API}/embed", json=body), range(16)))
        assert all(a.status_code == 200 for a in answers)
        for a in answers:
            np.testing.assert_allclose(a.json()["vector"], first, atol=1e-5)
        (batcher,) = session._batchers.values()
        assert batcher.images == 17 and batcher.calls <= 1 + 16 // 2  # at most 8 a call, shared
        assert batcher.calls < 17
    finally:
        session.shutdown()


# --- a live server, its client, and a job in between ---------------------------------------------

@pytest.fixture
def live(fresh: Built) -> Iterator[tuple[str, Session, Built]]:
    import socket

    import uvicorn

    from embedscope.ui.server import build_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ServeSettings(port=port, idle_release_seconds=0.5)
    session = Session(settings, EdgeStore(fresh.qdrant_dir, serving=True))
    server = uvicorn.Server(uvicorn.Config(build_server(settings, session, page=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", session, fresh
    server.should_exit = True
    thread.join(10)
    session.shutdown()


def test_the_client_embeds_searches_and_classifies(live, query_png: Path) -> None:
    from embedscope.client import APIError, Client

    url, _, b = live
    client = Client(url)
    assert client.collections()[0]["name"] == b.collection
    vector = client.embed(b.collection, query_png)["vector"]
    hits = client.search(b.collection, query_png, k=3)
    assert hits[0]["score"] > 0.999 and len(hits) == 3
    assert client.search(b.collection, vector=vector, k=3) == hits
    assert client.classify(b.collection, point_id=hits[0]["id"], k=5)["label_name"]
    with pytest.raises(APIError, match="no collection named 'nope'") as err:
        client.search("nope", vector=vector)
    assert err.value.status == 404 and err.value.code == "collection_not_found"


def test_an_api_search_sees_the_points_an_ingest_added_while_it_served(
        live, sample_dir: Path, tiny_model_dir: Path) -> None:
    from embedscope.client import Client
    from tests.ui.test_store_sharing import _embedscope

    url, session, b = live
    client = Client(url)
    assert client.collections()[0]["points"] == 300
    split = {"split": "train"}
    before = {h["id"] for h in client.search(b.collection, vector=[1.0] * 32, k=50, **split)}
    done = _embedscope(b, "ingest", "--dataset", str(sample_dir), "--model", str(tiny_model_dir),
                       "--image-size", "56", "--limit", "400", "--num-workers", "0",
                       "--collection", b.collection, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert client.collections()[0]["points"] == 800
    hits = client.search(b.collection, vector=[1.0] * 32, k=50, fields=["index"], **split)
    assert any(h["payload"]["index"] >= 150 for h in hits)  # new points answer
    assert {h["id"] for h in hits} != before
