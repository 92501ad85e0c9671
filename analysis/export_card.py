"""The dataset card of an export (README.md with the 🤗 YAML header) and the Embedding Atlas command.

The YAML header names the files of each split (``configs``) and the features, so that
``datasets.load_dataset("parquet", data_dir=DIR)``, ``load_dataset(DIR)`` and the Hub's viewer
read the folder; the body says which model, space and analysis run the rows come from and what
every column means.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedscope.analysis.export_columns import Plan
from embedscope.contract import CollectionMeta, Payload, slug


@dataclass
class Exported:
    """What an export wrote."""

    folder: Path
    collection: str
    rows: int
    splits: dict[str, int]
    files: list[Path]
    plan: Plan
    neighbours: str  # how the neighbours were found ("" when none)
    seconds: float
    bytes: int = 0
    notes: list[str] = field(default_factory=list)


def atlas_command(done: Exported) -> str:
    """The `embedding-atlas …` line that opens the export with its own map and neighbours.

    The shell lists ``data/*.parquet`` in name order, which is the export's row order, so the
    neighbours' row numbers hold (Embedding Atlas numbers the rows of its inputs in turn).
    """
    plan = done.plan
    parts = ["embedding-atlas", shlex.quote(str(done.folder / "data")) + "/*.parquet"]
    if plan.maps:
        parts += ["--x", f"{plan.maps[0]}_x", "--y", f"{plan.maps[0]}_y"]
    elif plan.vectors:
        parts += ["--vector", "vector"]  # no stored map: Embedding Atlas computes its own
    if plan.neighbors and plan.maps:
        parts += ["--neighbors", "neighbors"]
    if plan.thumbnails:
        parts += ["--image", Payload.THUMBNAIL]
    return " ".join(parts)


def _yaml_header(done: Exported, features: Any) -> str:
    import yaml

    header = {
        "configs": [{"config_name": "default", "data_files": [
            {"split": slug(split), "path": f"data/{slug(split)}-*.parquet"}
            for split in done.splits]}],
        "dataset_info": {"features": features._to_yaml_list()},
        "tags": ["embeddings", "embedscope", "image"],
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n"


def _analysis_lines(meta: CollectionMeta) -> list[str]:
    run = meta.analysis or {}
    if not run.get("run_id"):
        return ["- **Analysis**: none yet (no map, cluster or score columns; run "
                "`embedscope analyze` and export again)"]
    params = run.get("parameters") or {}
    chosen = ", ".join(f"{k} {params[k]}" for k in ("projections", "clusterers", "sample", "seed")
                       if k in params)
    return [f"- **Analysis run**: `{run['run_id']}` ({run.get('created_at', '?')}, "
            f"{run.get('points', '?')} points{'; ' + chosen if chosen else ''})",
            f"- **Fields it wrote**: {', '.join(f'`{f}`' for f in run.get('fields', []))}"]


def card_text(done: Exported, meta: CollectionMeta, features: Any) -> str:
    """The README.md of the export."""
    m = meta
    size = f", image size {m.image_size}" if m.image_size else ""
    lines = [
        _yaml_header(done, features),
        f"# {done.collection}",
        "",
        f"Image embeddings of **{m.dataset or done.collection}** exported by "
        "embedscope (`embedscope export`): one row per point of the "
        f"Qdrant collection `{done.collection}`, {done.rows:,} rows.",
        "",
        f"- **Model**: `{m.model}`{f' (revision `{m.revision}`)' if m.revision else ''}, "
        f"pooling {m.pooling}{size}",
        f"- **Vectors**: {m.dimension}-d float32, L2-normalised, cosine distance"
        + ("" if done.plan.vectors else " (not in this export: `--no-vectors`)"),
        f"- **Splits**: {', '.join(f'{s} ({n:,})' for s, n in done.splits.items())}",
        f"- **Classes**: {', '.join(m.labels) if m.labels else 'unlabelled'}",
        *_analysis_lines(m),
        (f"- **Neighbours**: {done.plan.neighbors} per row, {done.neighbours}"
         if done.plan.neighbors else "- **Neighbours**: not exported"),
        "",
        "## Columns",
        "",
        "| column | meaning |",
        "| --- | --- |",
        *(f"| `{name}` | {text.replace('|', '/')} |"
          for name, text in done.plan.descriptions().items()),
        "",
        "## Load it",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("parquet", data_dir="{done.folder}")  # one 🤗 split per split',
        "import pandas as pd",
        f'df = pd.read_parquet("{done.folder / "data"}")  # every row, in row order',
        "```",
        "",
        "Rows are numbered across the whole export (`row`), files in name order; `neighbors.ids` "
        "use these numbers. Open it in [Embedding Atlas](https://apple.github.io/embedding-atlas/) "
        "with embedscope's own map and neighbours (nothing recomputed):",
        "",
        "```bash",
        atlas_command(done),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_card(done: Exported, meta: CollectionMeta, features: Any) -> Path:
    """Write ``README.md`` beside the data folder."""
    path = done.folder / "README.md"
    path.write_text(card_text(done, meta, features), encoding="utf-8")
    return path
