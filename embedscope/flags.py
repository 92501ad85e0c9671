"""Command-line flags from pydantic-settings classes: one builder, so a default lives in one place.

Every field of a settings class becomes ``--field-name`` (or the name in the field's
``json_schema_extra={"flag": …}``), with the field's description, its ``EMBEDSCOPE_*``
variable and its default in the help. Flags default to ``None`` so that an unset flag leaves
the variable or the class default in force; :func:`settings_from_args` builds the object.
"""

from __future__ import annotations

import argparse
import enum
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable that feeds ``field`` of settings class ``cls``."""
    return (str(cls.model_config.get("env_prefix", "")) + field).upper()


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def flag_name(field: str, info: FieldInfo) -> str:
    """The flag of a field: its ``flag`` extra, else ``--field-name``."""
    return str(_extra(info).get("flag") or "--" + field.replace("_", "-"))


def default_text(info: FieldInfo) -> str:
    """The default as the help and the README show it."""
    if info.default_factory is not None:
        return "all" if info.default_factory is list else "see meaning"
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, enum.Enum):
        value = value.value
    return "all" if value == [] else str(value)


def _base_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args and typing.get_origin(annotation) is not list else annotation


def _choices(annotation: Any) -> list[Any] | None:
    base = _base_type(annotation)
    if typing.get_origin(base) is typing.Literal:
        return list(typing.get_args(base))
    return None


def _kind(annotation: Any) -> Any:
    base = _base_type(annotation)
    if typing.get_origin(base) is typing.Literal:
        return type(typing.get_args(base)[0])
    return {int: int, float: float, Path: Path, SecretStr: str}.get(base, str)


def add_settings_flags(
    parser: argparse.ArgumentParser | Any,
    cls: type[BaseSettings],
    *,
    skip: Iterable[str] = (),
    only: Iterable[str] | None = None,
    flags: Mapping[str, str] | None = None,
    title: str | None = None,
    groups: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Add one flag per field of ``cls`` to ``parser``.

    Fields may set ``json_schema_extra`` keys: ``flag`` (the flag's name, e.g. ``"-k"``) and
    ``metavar``. Booleans get ``--x/--no-x``; list fields take the flag once per item.

    Args:
        parser: The (sub)parser.
        cls: The pydantic-settings class.
        skip: Fields not to offer (set by the command itself, or positional).
        only: Offer only these fields (in the class's order).
        flags: Per-command flag names that override the field's own (``{"remote_url": "--to"}``).
        title: Put every flag in one --help section of this title.
        groups: --help sections by title, each with its fields (the rest go under ``title``).
    """
    skipped, wanted = set(skip), None if only is None else set(only)
    section_of = {f: name for name, fields in (groups or {}).items() for f in fields}
    sections: dict[str, Any] = {}
    existing = set(getattr(parser, "_option_string_actions", {}))
    for field, info in cls.model_fields.items():
        if field in skipped or (wanted is not None and field not in wanted):
            continue
        flag = (flags or {}).get(field) or flag_name(field, info)
        if flag in existing:  # already offered by another settings class of the same command
            continue
        existing.add(flag)
        section = section_of.get(field, title)
        target = parser
        if section:
            if section not in sections:
                sections[section] = parser.add_argument_group(section)
            target = sections[section]
        default = default_text(info)
        help_text = f"{info.description or ''} [env {env_name(cls, field)}; default {default}]"
        help_text = help_text.replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": field, "default": None, "help": help_text}
        if "metavar" in _extra(info):
            kwargs["metavar"] = _extra(info)["metavar"]
        if _base_type(info.annotation) is bool:
            target.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(info.annotation) is list:
            target.add_argument(flag, action="append", **kwargs)
        else:
            choices = _choices(info.annotation)
            target.add_argument(flag, type=_kind(info.annotation), choices=choices, **kwargs)


def settings_from_args(cls: type[S], args: Any, **overrides: Any) -> S:
    """Build a settings object: flags given (non-None) override EMBEDSCOPE_* variables and defaults."""
    values = {k: v for k, v in vars(args).items() if k in cls.model_fields and v is not None}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)
