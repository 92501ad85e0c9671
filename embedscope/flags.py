"""Command-line flags from pydantic-settings classes: one builder, so a default lives in one place.

Every field of a settings class becomes ``--field-name`` (or the name in the field's
``json_schema_extra={"flag": …}``), with the field's description, its ``EMBEDSCOPE_*``
variable and its default in the help. Flags default to ``None`` so that an unset flag leaves
the variable or the class default in force; :func:`settings_from_args` builds the object.

A command reads the variables of the flags it offers, and only those: the parser records which
fields of which class it offers (:func:`settings_read`), and a field a command does not offer
keeps its class default whatever the environment says.
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

from embedscope.variables import env_name

S = TypeVar("S", bound=BaseSettings)

#: The parser default (and so the parsed namespace's attribute) recording what a command reads:
#: {settings class: frozenset of fields}.
READS = "_settings_read"

__all__ = ["READS", "add_settings_flags", "default_text", "env_name", "flag_name", "settings_from_args",
           "settings_read", "settings_without_env", "variables_read"]


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
    offered = [f for f in cls.model_fields if f not in skipped and (wanted is None or f in wanted)]
    reads = settings_read(parser)
    reads[cls] = reads.get(cls, frozenset()) | frozenset(offered)
    parser.set_defaults(**{READS: reads})
    section_of = {f: name for name, fields in (groups or {}).items() for f in fields}
    sections: dict[str, Any] = {}
    existing = set(getattr(parser, "_option_string_actions", {}))
    for field in offered:
        info = cls.model_fields[field]
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


def settings_read(parser_or_args: Any) -> dict[type[BaseSettings], frozenset[str]]:
    """What a command reads: {settings class: the fields it offers as flags}.

    Args:
        parser_or_args: The command's parser, or the namespace it parsed.
    """
    get_default = getattr(parser_or_args, "get_default", None)
    recorded = get_default(READS) if get_default else getattr(parser_or_args, READS, None)
    return dict(recorded or {})


def variables_read(parser_or_args: Any) -> set[str]:
    """The ``EMBEDSCOPE_*`` variables a command reads (those of the flags it offers)."""
    return {env_name(cls, f) for cls, fields in settings_read(parser_or_args).items() for f in fields}


def settings_without_env(cls: type[S], **values: Any) -> S:
    """A settings object from ``values`` and the class defaults only: no variable is read."""
    defaults = {name: info.get_default(call_default_factory=True)
                for name, info in cls.model_fields.items() if name not in values}
    return cls(**defaults, **values)


def settings_from_args(cls: type[S], args: Any, **overrides: Any) -> S:
    """Build a settings object: flags given (non-None) override EMBEDSCOPE_* variables and defaults.

    Only the variables of the fields the command offers are read (see :func:`settings_read`;
    a namespace built by hand reads every field). An old variable name still set is honoured
    with a warning, or refused when it was ambiguous (:mod:`embedscope.variables`).

    Raises:
        UsageError: an ambiguous old variable name is set.
    """
    from embedscope.variables import legacy_values

    values = {k: v for k, v in vars(args).items() if k in cls.model_fields and v is not None}
    values.update({k: v for k, v in overrides.items() if v is not None})
    reads = settings_read(args)
    fields = reads.get(cls)
    if fields is None:
        fields = reads[cls] = frozenset(cls.model_fields)
    for field, value in legacy_values(cls, reads).items():
        values.setdefault(field, value)
    unread = {f: info.get_default(call_default_factory=True) for f, info in cls.model_fields.items()
              if f not in fields and f not in values}
    return cls(**values, **unread)
