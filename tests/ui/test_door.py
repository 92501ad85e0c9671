"""One door, one key: every route of a real server bound to 0.0.0.0 needs the key (a bearer
token, or the login form's cookie) or --auth's login; a loopback server refuses foreign Hosts and
Origins. Every request goes to 127.0.0.1 only."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from embedscope.errors import UsageError
from embedscope.ui.config import ServeSettings, UISettings
from tests.ui.conftest import Built
from tests.ui.test_browser import free_port

KEY = "door-key-7f3a"
HTML = {"Accept": "text/html,application/xhtml+xml"}
#: The routes driven: name → (method, path, request keywords). The file route is added per server.
ROUTES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "page": ("GET", "/", {"headers": HTML}),
    "config": ("GET", "/config", {}),
    "info": ("GET", "/gradio_api/info", {}),
    "collections": ("GET", "/api/v1/collections", {}),
    "search": ("POST", "/api/v1/search",
               {"json": {"collection": "fashion", "vector": [0.1] * 32, "k": 3}}),
    "schema": ("GET", "/api/v1/openapi.json", {}),
}


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@contextmanager
def _serving(b: Built, **settings: Any) -> Iterator[str]:
    from embedscope.store.edge import EdgeStore
    from embedscope.ui.server import serve_in_background
    from embedscope.ui.service import Session

    config = UISettings(port=free_port(), **settings)
    session = Session(config, EdgeStore(b.qdrant_dir, serving=True))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(b.data_dir))
        served = serve_in_background(config, session)
        try:
            yield f"http://127.0.0.1:{config.port}"
        finally:
            served.close()
            session.shutdown()


@pytest.fixture(scope="module")
def keyed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page and the API on 0.0.0.0 with an API key."""
    with _serving(built.copy(tmp_path_factory.mktemp("door-key") / "data"),
                  host="0.0.0.0", api_key=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def logged(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page and the API on 0.0.0.0 with --auth alice:pw and no API key."""
    with _serving(built.copy(tmp_path_factory.mktemp("door-auth") / "data"),
                  host="0.0.0.0", auth="alice:pw") as url:
        yield url


@pytest.fixture(scope="module")
def local(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page and the API on 127.0.0.1, no key."""
    with _serving(built.copy(tmp_path_factory.mktemp("door-local") / "data")) as url:
        yield url


def _upload(client: httpx.Client, **kw: Any) -> httpx.Response:
    return client.post("/gradio_api/upload", files={"files": ("q.png", _png(), "image/png")}, **kw)


def _bearer(client: httpx.Client) -> None:
    client.headers["Authorization"] = f"Bearer {KEY}"


def _drive(url: str, prepare: Callable[[httpx.Client], None] | None = None,
           owner: Callable[[httpx.Client], None] = _bearer, **kw: Any) -> dict[str, httpx.Response]:
    """Every route (an upload, and the file route on a file ``owner`` uploaded, included) with
    the same credentials: ``kw`` (headers) and what ``prepare`` did to the client."""
    with httpx.Client(base_url=url, timeout=120) as client:
        owner(client)
        uploaded = _upload(client)
        assert uploaded.status_code == 200, uploaded.text
    with httpx.Client(base_url=url, timeout=120, follow_redirects=False) as client:
        if prepare is not None:
            prepare(client)
        answers = {}
        for name, (method, path, extra) in ROUTES.items():
            headers = {**kw.get("headers", {}), **extra.get("headers", {})}
            answers[name] = client.request(method, path, **{**kw, **extra, "headers": headers})
        answers["upload"] = _upload(client, **kw)
        answers["file"] = client.get(f"/gradio_api/file={uploaded.json()[0]}", **kw)
    return answers


def _login(password: str, user: str = "") -> Callable[[httpx.Client], None]:
    def prepare(client: httpx.Client) -> None:
        answer = client.post("/login", data={"username": user, "password": password,
                                             "next": "/"})
        assert answer.status_code == 303, answer.text
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie

    return prepare


def _error(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def test_every_route_refuses_a_request_without_credentials_off_loopback(keyed: str) -> None:
    answers = _drive(keyed)
    page = answers.pop("page")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"
    for name, answer in answers.items():
        assert answer.status_code == 401, (name, answer.status_code, answer.text[:200])
        assert _error(answer) == "missing_token" and answer.headers["www-authenticate"] == "Bearer"


def test_every_route_refuses_a_wrong_key(keyed: str) -> None:
    answers = _drive(keyed, headers={"Authorization": "Bearer not-the-key"})
    for name, answer in answers.items():
        assert answer.status_code == 403 and _error(answer) == "wrong_token", name


def test_every_route_answers_the_right_bearer_key(keyed: str) -> None:
    answers = _drive(keyed, headers={"Authorization": f"Bearer {KEY}"})
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.status_code, answer.text[:200])
    assert "gradio" in answers["page"].text.lower()
    assert answers["collections"].json()["collections"][0]["name"] == "fashion"
    assert len(answers["search"].json()["hits"]) == 3
    assert answers["file"].content == _png()


def test_the_login_form_takes_the_key_and_its_cookie_opens_every_route(keyed: str) -> None:
    answers = _drive(keyed, prepare=_login(KEY))
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.status_code, answer.text[:200])


def test_a_wrong_key_in_the_login_form_gives_no_cookie(keyed: str) -> None:
    with httpx.Client(base_url=keyed, timeout=60) as client:
        wrong = client.post("/login", data={"password": "guess", "next": "/"})
        assert wrong.status_code == 401 and "wrong key" in wrong.text
        assert "set-cookie" not in wrong.headers
        assert client.get("/config").status_code == 401


def test_logging_out_ends_the_cookie(keyed: str) -> None:
    name = f"embedscope_login_{keyed.rsplit(':', 1)[1]}"
    with httpx.Client(base_url=keyed, timeout=60, follow_redirects=False) as client:
        _login(KEY)(client)
        token = client.cookies.get(name)
        assert token and client.get("/config").status_code == 200
        assert client.get("/logout").status_code == 303
        assert client.get("/config").status_code == 401  # the browser's cookie is gone
    with httpx.Client(base_url=keyed, timeout=60) as other:  # and the token itself is dead
        other.cookies.set(name, token)
        assert other.get("/config").status_code == 401


def test_auth_login_opens_every_route_and_a_bearer_token_does_not(logged: str) -> None:
    none = _drive(logged, owner=_login("pw", "alice"))
    assert none.pop("page").status_code == 303
    assert all(a.status_code == 401 and _error(a) == "no_api_key" for a in none.values())
    alice = _login("pw", "alice")
    right = _drive(logged, prepare=alice, owner=alice)
    for name, answer in right.items():
        assert answer.status_code == 200, (name, answer.status_code, answer.text[:200])
    with httpx.Client(base_url=logged, timeout=60) as client:
        assert client.get("/config", headers={"Authorization": "Bearer pw"}).status_code == 403


def test_the_login_page_escapes_its_values_and_only_redirects_home(keyed: str) -> None:
    with httpx.Client(base_url=keyed, timeout=60, follow_redirects=False) as client:
        form = client.get("/login", params={"next": '/x"><script>window.pwned=1</script>'})
        assert form.status_code == 200 and "<script>" not in form.text
        assert "&quot;&gt;&lt;script&gt;" in form.text
        away = client.post("/login", data={"password": KEY, "next": "//evil.example/"})
        assert away.status_code == 303 and away.headers["location"] == "/"


def test_a_loopback_server_refuses_a_foreign_host_or_origin(local: str) -> None:
    port = local.rsplit(":", 1)[1]
    with httpx.Client(base_url=local, timeout=60, follow_redirects=False) as client:
        for path in ("/", "/config", "/gradio_api/info", "/api/v1/collections"):
            assert client.get(path).status_code == 200, path
            evil = client.get(path, headers={"Host": f"evil.example:{port}"})
            assert evil.status_code == 403 and _error(evil) == "foreign_host", path
            other = client.get(path, headers={"Origin": "http://evil.example"})
            assert other.status_code == 403 and _error(other) == "foreign_origin", path
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]"):
            assert client.get("/config", headers={"Host": host}).status_code == 200, host
        same = client.post("/api/v1/search", headers={"Origin": f"http://127.0.0.1:{port}"},
                           json={"collection": "fashion", "vector": [0.1] * 32, "k": 2})
        assert same.status_code == 200
        posted = client.post("/api/v1/search", headers={"Origin": "null"},
                             json={"collection": "fashion", "vector": [0.1] * 32, "k": 2})
        assert posted.status_code == 403
        rebound = _upload(client, headers={"Host": "attacker.example"})
        assert rebound.status_code == 403


def test_websockets_pass_the_same_door() -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from embedscope.ui.door import Door

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("open")
        await ws.close()

    app = Starlette(routes=[WebSocketRoute("/ws", echo)])
    locked = TestClient(Door(app, ServeSettings(host="0.0.0.0", api_key=KEY)),
                        base_url="http://127.0.0.1")
    with pytest.raises(WebSocketDisconnect), locked.websocket_connect("/ws"):
        pass
    with locked.websocket_connect("/ws", headers={"Authorization": f"Bearer {KEY}"}) as ws:
        assert ws.receive_text() == "open"
    local = TestClient(Door(app, ServeSettings()))
    loopback = {"Host": "127.0.0.1:7860"}  # the test client's websockets say "testserver"
    with local.websocket_connect("/ws", headers=loopback) as ws:
        assert ws.receive_text() == "open"
    for foreign in ({"Host": "evil.example"}, {**loopback, "Origin": "http://evil.example"}):
        with pytest.raises(WebSocketDisconnect), local.websocket_connect("/ws", headers=foreign):
            pass


def test_an_empty_key_is_refused_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    from embedscope.cli import main
    from embedscope.ui.server import build_server

    for settings in (ServeSettings(api_key=""), ServeSettings(host="0.0.0.0", api_key="  ")):
        with pytest.raises(UsageError, match="the API key is empty"):
            build_server(settings, session=None, page=False)  # type: ignore[arg-type]
    assert main(["serve", "--api-key", ""]) == 2
    assert "the API key is empty" in capsys.readouterr().err
    assert main(["ui", "--host", "0.0.0.0", "--auth", ""]) == 2
    assert "user:password" in capsys.readouterr().err


def test_insecure_opens_nothing_a_login_guards(fresh: Built) -> None:
    from fastapi.testclient import TestClient

    from embedscope.store.edge import EdgeStore
    from embedscope.ui.server import build_server
    from embedscope.ui.service import Session

    settings = UISettings(host="0.0.0.0", auth="alice:pw", insecure=True)
    session = Session(settings, EdgeStore(fresh.qdrant_dir, serving=True))
    try:
        with TestClient(build_server(settings, session, page=False),
                        base_url="http://127.0.0.1") as client:
            assert client.get("/api/v1/collections").status_code == 401
            client.post("/login", data={"username": "alice", "password": "pw"})
            assert client.get("/api/v1/collections").status_code == 200
        open_one = UISettings(host="0.0.0.0", insecure=True)
        with TestClient(build_server(open_one, session, page=False),
                        base_url="http://10.1.2.3:7860") as client:
            assert client.get("/api/v1/collections").status_code == 200  # by IP: served
            named = client.get("/api/v1/collections", headers={"Host": "rebound.example"})
            assert named.status_code == 403 and _error(named) == "foreign_host"
    finally:
        session.shutdown()


def test_a_key_alone_passes_the_exposure_check_because_it_guards_the_page() -> None:
    UISettings(host="0.0.0.0", api_key=KEY).check_exposure(login=False)
    with pytest.raises(UsageError, match="refusing to serve on 0.0.0.0"):
        UISettings(host="0.0.0.0").check_exposure(login=False)
