"""Model families by name: every module in this package registers one; `select_family` picks.

Adding a family is one new file here::

    # ingest/families/my_family.py
    from embedscope.ingest.families import ModelSpec, register_family

    @register_family("my-family", ("my_model_type",), description="what it embeds")
    def my_family(spec: ModelSpec) -> Embedder:
        return MyEmbedder(spec.model, image_size=spec.image_size, device=spec.device, ...)

Nothing else changes: `discover` imports every module of this package (names starting with
``_`` excepted), then every ``embedscope.model_families`` entry point, so a third-party
package can add families too (``[project.entry-points."embedscope.model_families"]
myfam = "my_package.my_family"``). The families are an :class:`embedscope.registry.Registry`:
a name registers once, and a second registration of it raises. Importing this package stays
light: torch and transformers load only inside the families' factories.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from embedscope.ingest.errors import ModelError
from embedscope.registry import Registry

if TYPE_CHECKING:
    from embedscope.ingest.models import Embedder

ENTRY_POINT_GROUP = "embedscope.model_families"
Factory = Callable[["ModelSpec"], "Embedder"]
F = TypeVar("F", bound=Factory)


@dataclass
class ModelSpec:
    """What `load_embedder` was asked for; ``config`` (config.json) loads on first use.

    Attributes:
        model: 'pixels', a local model directory or a hub id.
        pooling: the requested pooling (each family says which it accepts).
        image_size: model input side (None: the family's default).
        device: auto | cuda | cuda:N | mps | cpu.
        revision: hub revision.
        native_side: the dataset's native side (the pixels baseline without image_size).
    """

    model: str
    pooling: str = "cls"
    image_size: int | None = None
    device: str = "auto"
    revision: str | None = None
    native_side: int | None = None
    _config: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        """The model's config.json (local directory, else the hub cache first; fast offline error)."""
        if self._config is None:
            from embedscope.ingest.vision import read_config

            self._config = read_config(self.model, self.revision)
        return self._config

    @property
    def model_type(self) -> str:
        """config.json ``model_type`` ('' when absent)."""
        return str(self.config.get("model_type") or "")

    @property
    def architectures(self) -> list[str]:
        """config.json ``architectures`` (the class names the checkpoint was saved from)."""
        return [str(a) for a in self.config.get("architectures") or []]


@dataclass(frozen=True)
class Family:
    """One registered model family."""

    name: str
    factory: Factory
    matches: Callable[[ModelSpec], bool]
    priority: int = 0
    model_types: tuple[str, ...] = ()
    description: str = ""

    def describe(self) -> str:
        """'name (model types)' — or 'name (description)' — for help texts and error messages."""
        what = ", ".join(self.model_types) or self.description
        return f"{self.name} ({what})" if what else self.name


def _import_builtins() -> None:
    """Import every family module of this package (their import registers them)."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


#: The registered families by name (built-ins first, then ``embedscope.model_families`` plugins).
FAMILIES: Registry[Family] = Registry("model family", ENTRY_POINT_GROUP, builtins=_import_builtins)


def register_family(name: str, matches: Callable[[ModelSpec], bool] | Collection[str], *,
                    priority: int = 0, description: str = "") -> Callable[[F], F]:
    """Decorator: register ``factory(spec) -> Embedder`` as model family ``name``.

    Args:
        name: the family's name (listed in errors and help; registered once: a second
            registration raises RegistrationError).
        matches: config.json ``model_type`` values this family handles, or a predicate on the
            `ModelSpec` (read ``spec.config`` only when needed: it may load config.json).
        priority: higher is asked first; ties in registration order.
        description: one line for listings.

    Returns:
        The decorator, which returns the factory unchanged.
    """
    if isinstance(matches, str):
        matches = (matches,)
    model_types: tuple[str, ...] = () if callable(matches) else tuple(matches)

    def by_type(spec: ModelSpec) -> bool:
        return spec.model_type in model_types

    predicate = matches if callable(matches) else by_type

    def decorator(factory: F) -> F:
        FAMILIES.add(name, Family(name, factory, predicate, priority, model_types, description))
        return factory

    return decorator


def unregister_family(name: str) -> None:
    """Forget family ``name`` (no error when it is not registered)."""
    if name in FAMILIES:
        FAMILIES.remove(name)


def discover(*, refresh: bool = False) -> None:
    """Import every family module of this package, then the ``embedscope.model_families`` plugins.

    Runs once per process; ``refresh`` scans again (new files, new plugins). A built-in module
    that fails to import is an error; a broken plugin is logged and skipped.
    """
    FAMILIES.load(refresh=refresh)


def families() -> list[Family]:
    """Every registered family, in the order `select_family` asks them."""
    return sorted(FAMILIES.values(), key=lambda f: -f.priority)


def family_names() -> list[str]:
    """Names of the registered families, sorted."""
    return sorted(f.name for f in families())


def get_family(name: str) -> Family:
    """The family registered as ``name``.

    Raises:
        ModelError: no such family (the message lists the registered ones).
    """
    for family in families():
        if family.name == name:
            return family
    raise ModelError(f"no model family {name!r}; registered families: {_listing()}")


def select_family(spec: ModelSpec) -> Family:
    """The first family (by priority) whose ``matches`` accepts ``spec``.

    Raises:
        ModelError: no family handles the model (the message names the registered families).
        OfflineError: a hub model's config.json is not cached and the hub cannot be reached.
    """
    for family in families():
        if family.matches(spec):
            return family
    raise ModelError(
        f"no model family handles {spec.model!r} (config.json model_type {spec.model_type!r}, "
        f"architectures {spec.architectures}); registered families: {_listing()}. "
        "To support it, install a plugin package whose module registers the family with "
        f"@register_family through an {ENTRY_POINT_GROUP!r} entry point (docs/extending.md)."
    )


def describe_families() -> str:
    """Every registered family with what it handles, for help texts and error messages."""
    return _listing()


def _listing() -> str:
    return "; ".join(f.describe() for f in sorted(families(), key=lambda f: f.name))
