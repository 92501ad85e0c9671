"""Settings, the command line and the page's one error handler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from embedscope.errors import UsageError
from embedscope.ui.config import UISettings


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDSCOPE_UI_PORT", "8123")
    monkeypatch.setenv("EMBEDSCOPE_UI_MAX_UPLOAD_MB", "2.5")
    monkeypatch.setenv("EMBEDSCOPE_UI_AUTH", "alice:se:cret")
    s = UISettings()
    assert (s.host, s.port, s.max_upload_mb, s.share) == ("127.0.0.1", 8123, 2.5, False)
    assert s.credentials() == ("alice", "se:cret")
    assert UISettings(auth=None).credentials() is None
    for bad in ("alice", ":pw", "alice:"):
        with pytest.raises(UsageError, match="user:password"):
            UISettings(auth=bad).credentials()


def test_cli_help_is_instant_and_bad_auth_exits_2(data_env: Path) -> None:
    code = ("import sys, embedscope.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('gradio', 'torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from embedscope.cli import main

    assert main(["ui", "--auth", "nobody"]) == 2


def test_guard_turns_errors_into_a_page_message() -> None:
    from embedscope.ui.app import guarded

    status = object()

    @guarded(status)
    def fails(name: str) -> dict:
        raise UsageError(f"no collection named {name!r}; try EMBEDSCOPE_DATA_DIR")

    @guarded(status)
    def works() -> dict:
        return {"x": 1}

    assert fails("a_b") == {status: "⚠️ no collection named 'a\\_b'; try EMBEDSCOPE\\_DATA\\_DIR"}
    assert works() == {"x": 1, status: ""}
    with pytest.raises(ZeroDivisionError):  # bugs are not hidden as messages
        guarded(status)(lambda: 1 / 0)()
