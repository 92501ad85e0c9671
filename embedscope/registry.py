"""Name → entry registries with one rule for every extension point of embedscope.

Model families, analysis methods (projections, clusterers, metric stages, per-point scores),
page tabs and commands are each a :class:`Registry`. The rule is the same for all of them:

- an entry is added under a name once; adding a name that is already there raises
  :class:`~embedscope.errors.RegistrationError` (remove it first to replace it);
- the built-in entries register when their modules are imported (``builtins`` names a
  function that imports them);
- plugins come in through the registry's entry-point group: each entry point names a module
  (or an object) whose import registers its entries. A plugin that fails to import is logged and
  skipped, so one broken package cannot take the built-ins down; a plugin that registers a
  taken name raises like any other second registration.

Readers ask the registry (``names()``, ``items()``, ``get(name)``), never a list of their own,
so an entry added in one place reaches every reader.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from embedscope.errors import RegistrationError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Names that become payload fields, file names and flag values: lower-case identifiers.
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


class Registry(Generic[T]):
    """Entries by name, in registration order.

    Args:
        kind: What an entry is, for messages ("projection", "model family", "command").
        group: The entry-point group plugins register through (e.g. ``embedscope.projections``).
        builtins: Imports the modules whose import registers the built-in entries; called once,
            before the first read.
        pattern: Names must match it in full (None: any non-empty name).
        pattern_hint: What a valid name looks like, for the error message.
    """

    def __init__(
        self, kind: str, group: str | None = None, *, builtins: Callable[[], object] | None = None,
        pattern: re.Pattern[str] | None = None, pattern_hint: str = "",
    ) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._pattern = pattern
        self._pattern_hint = pattern_hint
        self._entries: dict[str, T] = {}
        self._lock = threading.RLock()
        self._loaded = False
        self._loading = False

    # -- writing -------------------------------------------------------------------------------

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name``.

        Returns:
            The entry, unchanged.

        Raises:
            RegistrationError: the name is malformed or already registered.
        """
        if not name or (self._pattern is not None and not self._pattern.fullmatch(name)):
            raise RegistrationError(f"{self.kind} name {name!r} is not valid"
                                    + (f": {self._pattern_hint}" if self._pattern_hint else ""))
        with self._lock:
            if name in self._entries:
                raise RegistrationError(
                    f"{self.kind} {name!r} is already registered; a name is registered once "
                    f"(remove the first registration to replace it)")
            self._entries[name] = entry
        return entry

    def remove(self, name: str) -> T:
        """Forget ``name`` and return its entry.

        Raises:
            KeyError: ``name`` is not registered.
        """
        with self._lock:
            return self._entries.pop(name)

    # -- reading -------------------------------------------------------------------------------

    def load(self, *, refresh: bool = False) -> None:
        """Register the built-ins, then every plugin of the entry-point group (once per process)."""
        with self._lock:
            if (self._loaded and not refresh) or self._loading:
                return
            self._loading = True
            try:
                if self._builtins is not None:
                    self._builtins()
                if self.group:
                    self._load_plugins()
                self._loaded = True
            finally:
                self._loading = False

    def _load_plugins(self) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=str(self.group)):
            try:
                ep.load()  # the plugin's module registers its entries on import
            except RegistrationError:
                raise
            except Exception as exc:  # a third-party plugin must not break the built-ins
                log.warning("%s plugin %s (%s) failed to load: %s", self.kind, ep.name, ep.value, exc)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        self.load()
        with self._lock:
            return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, in registration order."""
        self.load()
        with self._lock:
            return list(self._entries.items())

    def values(self) -> list[T]:
        """The entries, in registration order."""
        return [entry for _, entry in self.items()]

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises:
            RegistrationError: no such entry (the message lists the registered names).
        """
        self.load()
        with self._lock:
            if name in self._entries:
                return self._entries[name]
        raise RegistrationError(f"no {self.kind} {name!r}; registered: {', '.join(self.names()) or 'none'}")

    def keys(self) -> list[str]:
        """The registered names (as ``dict.keys``), in registration order."""
        return self.names()

    def __getitem__(self, name: str) -> T:
        self.load()
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
