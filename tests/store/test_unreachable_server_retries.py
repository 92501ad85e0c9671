"""An unreachable Qdrant server: bounded retries with backoff, then a clear error and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embedscope.cli import main
from embedscope.contract import CollectionMeta
from embedscope.errors import QdrantUnavailableError
from embedscope.store.edge import EdgeStore
from embedscope.store.remote import RemoteStore

#: Nothing listens on port 1 of the loopback interface: connections are refused at once.
DEAD_URL = "http://127.0.0.1:1"


def test_library_retries_for_the_bounded_time_then_names_the_fix():
    store = RemoteStore(DEAD_URL, timeout=2, retry_seconds=2.0)
    start = time.monotonic()
    with pytest.raises(QdrantUnavailableError) as info:
        store.list_collections()
    elapsed = time.monotonic() - start
    store.close()
    # Backoff 0.5 s + 1 s, then the next 2 s wait would pass the deadline: ~1.5 s in all.
    assert 1.0 <= elapsed < 2.0 + 3.0, elapsed
    msg = str(info.value)
    assert "127.0.0.1:1" in msg and "tried for 2 s" in msg
    assert "EMBEDSCOPE_QDRANT_URL" in msg and "EMBEDSCOPE_QDRANT_RETRY_SECONDS" in msg


def test_zero_retry_budget_fails_at_once():
    store = RemoteStore(DEAD_URL, timeout=2, retry_seconds=0.0)
    start = time.monotonic()
    with pytest.raises(QdrantUnavailableError):
        store.collection_exists("anything")
    assert time.monotonic() - start < 1.5
    store.close()


def test_cli_push_to_unreachable_server_exits_6(data_env: Path, monkeypatch, capsys):
    local = EdgeStore(data_env / "qdrant")
    local.ensure_collection("toy__fake", CollectionMeta(model="fake", dimension=4))
    local.close()
    monkeypatch.setenv("EMBEDSCOPE_QDRANT_RETRY_SECONDS", "1")
    start = time.monotonic()
    code = main(["push", "--collection", "toy__fake", "--to", DEAD_URL])
    assert time.monotonic() - start < 10
    assert code == QdrantUnavailableError.exit_code == 6
    err = capsys.readouterr().err
    assert "error: cannot reach the Qdrant server at http://127.0.0.1:1" in err


def test_console_command_with_unreachable_server_url_exits_6(tmp_path: Path):
    """The real `embedscope` process: EMBEDSCOPE_QDRANT_URL unreachable → exit 6, clear message."""
    env = {
        **os.environ, "EMBEDSCOPE_QDRANT_URL": DEAD_URL, "EMBEDSCOPE_QDRANT_RETRY_SECONDS": "1",
        "EMBEDSCOPE_DATA_DIR": str(tmp_path / "data"),
    }
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "embedscope", "pull", "--collection", "toy__fake",
         "--from", DEAD_URL], env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 6, proc.stderr
    assert "cannot reach the Qdrant server at http://127.0.0.1:1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - start < 60


def test_a_url_without_scheme_is_refused_at_once():
    from embedscope.errors import UsageError
    from embedscope.store.remote import RemoteStore

    with pytest.raises(UsageError, match="no http:// or https:// scheme"):
        RemoteStore("notaurl", retry_seconds=60)
