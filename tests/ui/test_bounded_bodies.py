"""Bounded bodies: a request over its route's limit answers 413 — before reading when its
Content-Length says so, while it streams when it is chunked — and 20 concurrent oversized uploads
leave the server's memory flat. The server runs in its own process, called on 127.0.0.1."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.ui.test_browser import free_port

MB = 1024 * 1024
#: Each oversized request would send this much (the limit is 1 MB).
BODY = 30 * MB
CHUNK = 64 * 1024
BOUNDARY = "es-bounded-bodies"
#: (path, content type, the bytes that open the body) of the two upload routes.
ROUTES = {
    "api": ("/api/v1/search", "application/json", b'{"collection": "x", "image": "'),
    "upload": ("/gradio_api/upload", f"multipart/form-data; boundary={BOUNDARY}",
               (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; "
                "filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """`python -m embedscope.ui --max-upload-mb 1` on an empty data directory: (port, pid)."""
    data = tmp_path_factory.mktemp("bounded")
    port = free_port()
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(data), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1"}
    env.pop("EMBEDSCOPE_QDRANT_URL", None)
    log = (data / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "embedscope.ui", "--port", str(port),
                             "--max-upload-mb", "1"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    if proc.poll() is not None or time.monotonic() >= deadline:
        proc.kill()
        pytest.fail(f"the server did not start: {(data / 'server.log').read_text()[-2000:]}")
    yield port, proc.pid
    proc.terminate()
    proc.wait(30)
    log.close()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The response on ``sock``: status, headers, body (read until the server closes)."""
    sock.settimeout(120)
    data = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            data += got
    except (ConnectionResetError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        raise AssertionError(f"no HTTP answer: {data[:200]!r}")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _chunked(port: int, route: str, total: int = BODY) -> tuple[int, int, bytes]:
    """Stream ``total`` bytes chunked (no Content-Length), as a careful client does: stop
    sending once the server answers. Returns (status, bytes sent, body)."""
    path, kind, opening = ROUTES[route]
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {kind}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n").encode())
    sent = 0
    try:
        for i in range(0, total, CHUNK):
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered
            chunk = opening if i == 0 else b"A" * CHUNK
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        else:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed the connection while we were still sending
    try:
        status, _, body = _answer(sock)
    finally:
        sock.close()
    return status, sent, body


def test_a_content_length_over_the_limit_answers_413_before_any_body(server) -> None:
    port, _ = server
    for route in ROUTES:
        path, kind, _ = ROUTES[route]
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
                          f"{kind}\r\nContent-Length: {BODY}\r\n\r\n").encode())  # no body sent
            status, headers, body = _answer(sock)
        assert status == 413, (route, body[:300])
        error = json.loads(body)["error"]
        assert error["code"] == "too_large" and "30.0 MB" in error["message"], route
        assert headers.get("connection") == "close"


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(server) -> None:
    port, _ = server
    for route in ROUTES:
        status, sent, body = _chunked(port, route)
        assert status == 413, (route, body[:300])
        if route == "api":
            assert json.loads(body)["error"]["code"] == "too_large"
        else:  # the door's limit or Gradio's own file-size check, whichever reads the byte first
            assert b"too_large" in body or b"exceeded maximum allowed size" in body, body[:300]
        assert sent < BODY / 2, f"{route}: the server read {sent / MB:.0f} MB before answering"


def test_a_chunked_body_under_the_limit_is_served(server) -> None:
    port, _ = server
    path = "/api/v1/search"
    body = json.dumps({"collection": "nope", "vector": [0.5, 0.5], "k": 1}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
                      "application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                      ).encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        status, _, answer = _answer(sock)
    assert status == 404 and json.loads(answer)["error"]["code"] == "collection_not_found"


def test_twenty_concurrent_oversized_uploads_leave_memory_flat(server) -> None:
    port, pid = server
    for route in ROUTES:  # warm up: the first request of each route loads its code
        assert _chunked(port, route, 4 * MB)[0] == 413
    before = _rss_mb(pid)
    routes = [route for route in ROUTES for _ in range(10)]
    with ThreadPoolExecutor(len(routes)) as pool:
        answers = list(pool.map(lambda r: _chunked(port, r), routes))
    after = _rss_mb(pid)
    assert [status for status, _, _ in answers] == [413] * len(routes)
    growth = after - before
    print(f"\nserver RSS {before:.0f} MB → {after:.0f} MB (+{growth:.0f} MB) over "
          f"{len(routes)} concurrent uploads of {BODY // MB} MB "
          f"(each sent {max(s for _, s, _ in answers) / MB:.1f} MB at most)")
    assert growth < len(routes) * BODY / MB / 10, f"the server grew by {growth:.0f} MB"
