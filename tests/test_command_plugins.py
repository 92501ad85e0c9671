"""Commands come from the built-in modules and `embedscope.commands` plugins, each name once."""

from __future__ import annotations

import argparse
import importlib.metadata
from typing import Any

import pytest

from embedscope import cli
from embedscope.errors import RegistrationError


class _EntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name, self.value, self._target = name, f"plugin:{name}", target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def _plugins(monkeypatch: pytest.MonkeyPatch, *eps: _EntryPoint) -> None:
    real = importlib.metadata.entry_points

    def entry_points(group: str) -> Any:
        return list(eps) if group == "embedscope.commands" else real(group=group)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def _hello(sub: Any) -> None:
    p = sub.add_parser("hello", help="say hello")
    p.set_defaults(handler=lambda args: print("hello from a plugin") or 0)


def test_a_plugin_command_joins_and_a_broken_plugin_is_skipped(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _plugins(monkeypatch, _EntryPoint("broken", ImportError("missing dependency")),
             _EntryPoint("hello", _hello))
    assert cli.main(["hello"]) == 0
    assert "hello from a plugin" in capsys.readouterr().out
    helptext = cli.build_parser().format_help()
    assert "hello" in helptext and "search" in helptext


def test_a_plugin_that_takes_a_built_in_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def shadow(sub: Any) -> None:
        sub.add_parser("search", help="not ours")

    _plugins(monkeypatch, _EntryPoint("shadow", shadow))
    with pytest.raises(RegistrationError, match="command 'search' is already registered"):
        cli.build_parser()


def test_every_built_in_command_is_registered_once() -> None:
    from embedscope.commands import add_commands

    parser = argparse.ArgumentParser()
    names = add_commands(parser.add_subparsers()).names()
    assert len(names) == len(set(names))
    assert {"ingest", "collections", "search", "classify", "evaluate", "check", "snapshot",
            "restore", "push", "pull", "analyze", "compare", "ui"} <= set(names)
