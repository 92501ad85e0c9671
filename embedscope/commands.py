"""The console command's subcommands: built-in modules and plugins, under the one registry rule.

A module contributes subcommands through ``register(subparsers)`` (one ``add_parser`` per
command). The built-in modules are listed below in `--help` order; a plugin is an entry point of
the ``embedscope.commands`` group naming such a module (or its ``register`` function)::

    [project.entry-points."embedscope.commands"]
    mytool = "my_package.cli"

Every command name is registered once: a second ``add_parser`` of a taken name (a plugin
shadowing ``search``, say) raises RegistrationError, as a second registration does in every
other registry of embedscope. A plugin that fails to import is logged and skipped. Command
modules keep heavy imports (torch, transformers, umap, gradio) inside their handlers so that
`embedscope --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from typing import Any

from embedscope.registry import Registry

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "embedscope.commands"

#: The built-in command modules, in `--help` order.
BUILTIN_MODULES = (
    "embedscope.ingest.cli", "embedscope.store.commands", "embedscope.search.cli",
    "embedscope.store.transfer_commands", "embedscope.analysis.cli", "embedscope.ui.cli",
)


class _Registering:
    """The subparsers action, with every new command name registered (a taken name raises)."""

    def __init__(self, sub: Any, registry: Registry[str], origin: str) -> None:
        self._sub, self._registry, self.origin = sub, registry, origin

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        self._registry.add(name, self.origin)
        return self._sub.add_parser(name, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._sub, attr)


def _register_functions() -> list[tuple[str, Callable[[Any], None]]]:
    """(origin, register) of every built-in module, then of every plugin that loads."""
    out = []
    for name in BUILTIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        out.append((name, module.register))
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
        except Exception as exc:  # a third-party plugin must not break the built-in commands
            log.warning("command plugin %s (%s) failed to load: %s", ep.name, ep.value, exc)
            continue
        out.append((f"plugin {ep.name} ({ep.value})", getattr(target, "register", target)))
    return out


def add_commands(sub: Any) -> Registry[str]:
    """Add every command to the subparsers action ``sub``.

    Returns:
        The command names, each with the module or plugin that added it.

    Raises:
        RegistrationError: two modules or plugins add a command of the same name.
    """
    registry: Registry[str] = Registry("command", pattern_hint="")
    for origin, register in _register_functions():
        register(_Registering(sub, registry, origin))
    return registry
