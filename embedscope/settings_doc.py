"""Every setting of every command as a Markdown table: `python -m embedscope.settings_doc`."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

#: (section title, "module:Class") for every settings object the commands build.
SETTINGS = (
    ("Qdrant and storage (all commands)", "search.config:QdrantSettings"),
    ("ingest", "ingest.config:IngestSettings"),
    ("analyze / compare", "analysis.config:AnalysisSettings"),
    ("ui", "ui.config:UISettings"),
    ("push / pull", "search.transfer:TransferSettings"),
)


def settings_classes() -> Iterator[tuple[str, Any]]:
    """(title, class) for each settings class."""
    for title, target in SETTINGS:
        module, name = target.split(":")
        yield title, getattr(importlib.import_module(module), name)


def env_name(cls: Any, field: str) -> str:
    """The environment variable that feeds ``field`` of settings class ``cls``."""
    return (cls.model_config.get("env_prefix", "") + field).upper()


def _default(info: Any) -> str:
    if info.default_factory is not None:
        return "all" if info.default_factory is list else "see meaning"
    value = info.default
    if value is None:
        return "unset"
    return f"`{value}`" if value != [] else "all"


def markdown() -> str:
    """The Configuration section's tables."""
    out: list[str] = []
    for title, cls in settings_classes():
        out += [f"**{title}**", "", "| variable | default | meaning |", "| --- | --- | --- |"]
        for field, info in cls.model_fields.items():
            desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{env_name(cls, field)}` | {_default(info)} | {desc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
