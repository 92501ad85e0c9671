"""The EMBEDSCOPE_* variable of each setting, and the renamed ones: old names honoured or refused.

A variable means one thing: a command's own settings carry the command's prefix
(``EMBEDSCOPE_INGEST_SAMPLE``, ``EMBEDSCOPE_ANALYSIS_SAMPLE``), shared ones keep theirs
(``EMBEDSCOPE_QDRANT_URL``). An old name that one kind of command read is still honoured by that
command, where its new name is not set, with a one-line warning naming the new name. An old name
that meant different things to different commands (``EMBEDSCOPE_SAMPLE``) is refused with the
new names. :func:`embedscope.flags.settings_from_args` applies this when a command builds its
settings; :func:`markdown` is the table of renamed variables for the documentation.

The tables name settings classes by name (the core imports none of the services).
"""

from __future__ import annotations

import json
import os
import sys
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic_settings import BaseSettings

from embedscope.errors import UsageError

#: Settings classes whose variables moved from ``<old prefix><FIELD>`` to their class's own
#: prefix: class name → (old prefix, {new field: old field} for fields renamed as well).
MOVED_PREFIX: dict[str, tuple[str, dict[str, str]]] = {
    "IngestSettings": ("EMBEDSCOPE_", {}),
    "AnalysisSettings": (
        "EMBEDSCOPE_", {"clusters": "k", "clusters_min": "k_min", "clusters_max": "k_max"}
    ),
}

#: The commands that read each kind of old name (for the documentation's table).
READERS = {"IngestSettings": "ingest", "AnalysisSettings": "analyze and compare", "UISettings": "ui"}

#: Single variables that moved to another settings class: old name → (the settings class of the
#: commands that read it, the class that now holds it, its field there).
MOVED: dict[str, tuple[str, str, str]] = {
    # The page waited min(this, EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS) for Qdrant: now only the latter.
    "EMBEDSCOPE_UI_QDRANT_RETRY_SECONDS": ("UISettings", "QdrantSettings", "qdrant_interactive_seconds"),
}

#: Old names that meant different things to different commands: new name → what it is.
AMBIGUOUS: dict[str, dict[str, str]] = {
    "EMBEDSCOPE_COLLECTION": {
        "EMBEDSCOPE_INGEST_COLLECTION": "the collection ingest writes",
        "EMBEDSCOPE_ANALYSIS_COLLECTION": "the collection analyze reads",
    },
    "EMBEDSCOPE_SAMPLE": {
        "EMBEDSCOPE_INGEST_SAMPLE": "images per split for ingest",
        "EMBEDSCOPE_ANALYSIS_SAMPLE": "points analysed for analyze",
    },
    "EMBEDSCOPE_SEED": {
        "EMBEDSCOPE_INGEST_SEED": "the seed of ingest's sample",
        "EMBEDSCOPE_ANALYSIS_SEED": "the seed of every random step of analyze",
    },
    "EMBEDSCOPE_DEVICE": {
        "EMBEDSCOPE_INGEST_DEVICE": "the model's device for ingest (auto, cuda, mps, cpu)",
        "EMBEDSCOPE_ANALYSIS_DEVICE": "the vector maths' device for analyze (auto, cpu, cuda)",
    },
    "EMBEDSCOPE_PROGRESS": {
        "EMBEDSCOPE_INGEST_PROGRESS": "ingest's progress bar",
        "EMBEDSCOPE_ANALYSIS_PROGRESS": "analyze's progress bars and stage lines",
    },
}

_warned: set[str] = set()


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable that feeds ``field`` of settings class ``cls``."""
    return (str(cls.model_config.get("env_prefix", "")) + field).upper()


def old_names(cls: type[BaseSettings]) -> dict[str, str]:
    """{old variable: field} for the fields of ``cls`` whose variable was renamed."""
    out: dict[str, str] = {}
    if cls.__name__ in MOVED_PREFIX:
        prefix, renamed = MOVED_PREFIX[cls.__name__]
        out.update({(prefix + renamed.get(f, f)).upper(): f for f in cls.model_fields})
    out.update({old: field for old, (_, holder, field) in MOVED.items() if holder == cls.__name__})
    return {old: f for old, f in out.items() if old not in AMBIGUOUS}


def ambiguous_message(old: str) -> str:
    """The refusal of an ambiguous old name, naming the new ones."""
    new = AMBIGUOUS[old]
    return (f"{old} is ambiguous ({', '.join(new.values())}): set "
            f"{' or '.join(new)} instead")


def _environ() -> dict[str, str]:
    """The environment with upper-case names (pydantic-settings reads names case-insensitively)."""
    return {k.upper(): v for k, v in os.environ.items() if k.upper().startswith("EMBEDSCOPE_")}


def _decode(cls: type[BaseSettings], field: str, old: str, raw: str) -> Any:
    """An old variable's text as pydantic-settings decodes it: JSON for list fields."""
    annotation = cls.model_fields[field].annotation
    if typing.get_origin(annotation) is not list:
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{old}: {raw!r} is not a JSON list (e.g. '[\"train\"]')") from exc


def _warn(old: str, line: str) -> None:
    if old not in _warned:
        _warned.add(old)
        print(line, file=sys.stderr, flush=True)


def legacy_values(
    cls: type[BaseSettings], reads: Mapping[type[BaseSettings], Iterable[str]]
) -> dict[str, Any]:
    """Values of ``cls`` from old variable names that the command still honours.

    Args:
        cls: The settings class being built.
        reads: Every settings class the command reads, with the fields it reads of each.

    Returns:
        {field: value} for fields of ``cls`` set only through an old name (each reported once
        per process on stderr: ``warning: OLD is deprecated: use NEW``).

    Raises:
        UsageError: an ambiguous old name is set and the command reads one of its new names.
    """
    env = _environ()
    if not env:
        return {}
    read_names = {env_name(c, f) for c, fields in reads.items() for f in fields}
    for old in AMBIGUOUS:
        if old in env and read_names & AMBIGUOUS[old].keys():
            raise UsageError(ambiguous_message(old))
    command_classes = {c.__name__ for c in reads}
    fields = set(reads.get(cls, ()))
    values: dict[str, Any] = {}
    for old, field in old_names(cls).items():
        if old not in env or field not in fields:
            continue
        if old in MOVED and MOVED[old][0] not in command_classes:
            continue  # read by another kind of command
        new = env_name(cls, field)
        if new in env:
            _warn(old, f"warning: {old} is deprecated and ignored: {new} is set")
            continue
        _warn(old, f"warning: {old} is deprecated: use {new}")
        values[field] = _decode(cls, field, old, env[old])
    return values


def markdown(classes: Iterable[type[BaseSettings]]) -> str:
    """The renamed variables as a Markdown table (old name, new name, what happens)."""
    rows = ["| old variable | new variable | when the old one is set |", "| --- | --- | --- |"]
    for old, new in AMBIGUOUS.items():
        rows.append(f"| `{old}` | {' or '.join(f'`{n}`' for n in new)} | refused where it was read "
                    f"(exit 2): it meant {', '.join(new.values())} |")
    for cls in classes:
        for old, field in old_names(cls).items():
            reader = READERS[MOVED[old][0] if old in MOVED else cls.__name__]
            rows.append(f"| `{old}` | `{env_name(cls, field)}` | honoured by {reader}, with a "
                        "one-line warning |")
    return "\n".join(rows)

