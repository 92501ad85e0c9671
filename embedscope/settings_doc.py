"""Every setting of every command as a Markdown table: `python -m embedscope.settings_doc`."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

#: (section title, "module:Class") for every settings object the commands build.
SETTINGS = (
    ("Qdrant and storage (every command that opens the store)", "embedscope.settings:QdrantSettings"),
    ("ingest", "embedscope.ingest.config:IngestSettings"),
    ("search / classify", "embedscope.search.config:QuerySettings"),
    ("evaluate", "embedscope.search.config:EvaluateSettings"),
    ("output (collections, search, classify, evaluate, ingest, push, pull)",
     "embedscope.settings:OutputSettings"),
    ("analyze / compare", "embedscope.analysis.config:AnalysisSettings"),
    ("ui", "embedscope.ui.config:UISettings"),
    ("push / pull", "embedscope.store.transfer:TransferSettings"),
    ("check / snapshot / restore", "embedscope.settings:BackupSettings"),
)


def settings_classes() -> Iterator[tuple[str, Any]]:
    """(title, class) for each settings class."""
    for title, target in SETTINGS:
        module, name = target.split(":")
        yield title, getattr(importlib.import_module(module), name)


def markdown() -> str:
    """The Configuration section's tables."""
    from embedscope.flags import default_text, env_name, flag_name

    out: list[str] = []
    for title, cls in settings_classes():
        out += [f"**{title}**", "", "| flag | variable | default | meaning |", "| --- | --- | --- | --- |"]
        for field, info in cls.model_fields.items():
            desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
            default = default_text(info)
            default = default if default in ("all", "unset", "see meaning") else f"`{default}`"
            out.append(f"| `{flag_name(field, info)}` | `{env_name(cls, field)}` | {default} | {desc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
