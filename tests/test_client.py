"""The API client's connection: one kept per thread, opened again when the server closed it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from embedscope.client import APIError, Client
from embedscope.errors import UsageError


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    peers: list[int]
    close_after: bool = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections stay open unless the answer says otherwise
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.peers.append(self.client_address[1])
        if self.path.endswith("/busy"):
            body = json.dumps({"error": {"code": "busy", "message": "a job holds it"}}).encode()
            self.send_response(503)
            self.send_header("Retry-After", "2")
        else:
            body = json.dumps({"collections": [{"name": "c"}]}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.close_after:  # as a server does with an idle connection
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.peers = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_calls_share_one_connection_and_survive_the_server_closing_it(server: _Server) -> None:
    client = Client(f"http://127.0.0.1:{server.server_address[1]}")
    for _ in range(5):
        assert client.collections() == [{"name": "c"}]
    assert len(set(server.peers)) == 1, server.peers  # one TCP connection for five calls
    server.close_after = True
    for _ in range(3):  # each answer closes the connection: the next call opens another
        assert client.collections() == [{"name": "c"}]
    assert len(set(server.peers)) == 3, server.peers
    with pytest.raises(APIError) as err:
        client._call("GET", "/busy")
    assert (err.value.status, err.value.code, err.value.retry_after) == (503, "busy", 2.0)
    client.close()


def test_an_unreachable_server_and_a_bad_url_are_named(server: _Server) -> None:
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(APIError) as err:
        Client(f"http://127.0.0.1:{port}", timeout=5).collections()
    assert err.value.code == "unreachable" and f"127.0.0.1:{port}" in str(err.value)
    with pytest.raises(UsageError, match="not an http"):
        Client("127.0.0.1:7860")
