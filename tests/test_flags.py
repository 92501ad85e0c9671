"""Every command's flags come from its settings classes: one default, one flag, one variable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from embedscope.cli import build_parser, main
from embedscope.flags import flag_name
from embedscope.search.config import EvaluateSettings, QuerySettings
from embedscope.settings import OutputSettings, QdrantSettings

STORE_COMMANDS = ("ingest", "collections", "search", "classify", "evaluate", "analyze", "compare",
                  "ui", "push", "pull")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _settings_of(command: str) -> list[type]:
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.ingest.config import IngestSettings
    from embedscope.store.transfer import TransferSettings
    from embedscope.ui.config import UISettings

    return {
        "ingest": [IngestSettings, OutputSettings, QdrantSettings],
        "collections": [OutputSettings, QdrantSettings],
        "search": [QuerySettings, OutputSettings, QdrantSettings],
        "classify": [QuerySettings, OutputSettings, QdrantSettings],
        "evaluate": [EvaluateSettings, OutputSettings, QdrantSettings],
        "analyze": [AnalysisSettings, QdrantSettings],
        "compare": [AnalysisSettings, QdrantSettings],
        "ui": [UISettings, QdrantSettings],
        "push": [TransferSettings, OutputSettings, QdrantSettings],
        "pull": [TransferSettings, OutputSettings, QdrantSettings],
    }[command]


#: Commands that open the store with open_store(..., batch=True): they retry an unreachable server
#: for --qdrant-retry-seconds; the others (interactive) give up after --qdrant-interactive-seconds.
BATCH = ("ingest", "analyze", "compare", "push", "pull")

#: Settings a command fills itself, offers under another flag name, or does not read (the other
#: kind of command's wait for Qdrant).
NOT_FLAGS = {("classify", "label"), ("compare", "collection"), ("push", "remote_url"),
             ("pull", "remote_url"),
             *((c, "qdrant_interactive_seconds" if c in BATCH else "qdrant_retry_seconds")
               for c in STORE_COMMANDS)}


@pytest.mark.parametrize("command", STORE_COMMANDS)
def test_every_setting_is_a_flag_of_its_command(command: str):
    parser = _subparsers()[command]
    offered = set(parser._option_string_actions)
    assert {"--qdrant-url", "--data-dir"} <= offered
    missing = [f"{cls.__name__}.{field} ({flag_name(field, info)})"
               for cls in _settings_of(command) for field, info in cls.model_fields.items()
               if (command, field) not in NOT_FLAGS and flag_name(field, info) not in offered]
    assert not missing, missing
    help_text = parser.format_help()
    assert "[env EMBEDSCOPE_" in help_text and "default" in help_text


def test_push_and_pull_name_the_server_their_own_way():
    subs = _subparsers()
    assert "--to" in subs["push"]._option_string_actions
    assert "--from" in subs["pull"]._option_string_actions


def test_flags_default_to_none_so_variables_and_defaults_apply():
    args = _subparsers()["search"].parse_args([])
    assert args.k is None and args.exact is None and args.data_dir is None


def test_a_flag_beats_its_variable_and_the_variable_beats_the_default(data_env: Path, capsys,
                                                                       monkeypatch):
    import numpy as np

    from embedscope.contract import CollectionMeta, row_point_id
    from embedscope.store.edge import EdgeStore

    ids = [row_point_id("t", "s", i) for i in range(12)]
    with EdgeStore(data_env / "qdrant") as store:
        store.ensure_collection("t__fake", CollectionMeta(model="fake", dimension=2))
        angles = np.linspace(0, 1.5, 12)
        store.upsert("t__fake", ids, np.stack([np.cos(angles), np.sin(angles)], 1),
                     [{"split": "s", "index": i} for i in range(12)])

    def hits(*extra: str) -> int:
        assert main(["search", "--collection", "t__fake", "--id", ids[0], "--json", *extra]) == 0
        return len(json.loads(capsys.readouterr().out))

    assert hits() == 10  # the class default
    monkeypatch.setenv("EMBEDSCOPE_SEARCH_K", "3")
    assert hits() == 3
    assert hits("-k", "5") == 5
    monkeypatch.setenv("EMBEDSCOPE_SEARCH_K", "three")
    assert main(["search", "--collection", "t__fake", "--id", ids[0]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting: -k (EMBEDSCOPE_SEARCH_K)") and "'three'" in err


def test_data_dir_flag_is_the_store_every_command_opens(sample_dir: Path, tmp_path: Path, capsys,
                                                        monkeypatch):
    """--data-dir on ingest, collections and analyze wins over EMBEDSCOPE_DATA_DIR."""
    elsewhere, here = tmp_path / "elsewhere", tmp_path / "here"
    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(elsewhere))
    monkeypatch.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
    assert main(["ingest", "--dataset", str(sample_dir), "--model", "pixels", "--limit", "40",
                 "--split", "train", "--num-workers", "0", "--no-progress", "--json",
                 "--data-dir", str(here)]) == 0
    assert json.loads(capsys.readouterr().out)["points_in_collection"] == 40
    assert main(["collections", "--json", "--data-dir", str(here)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["points"] == 40
    assert main(["collections", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    name = row["name"]
    assert main(["analyze", "--collection", name, "--projections", "pca", "--clusterers", "kmeans",
                 "--no-progress", "--data-dir", str(here)]) == 0
    assert (here / "reports" / name / "report.json").is_file()
    assert not (elsewhere / "reports").exists()


def test_search_needs_exactly_one_query(data_env: Path, capsys):
    assert main(["search", "--collection", "x"]) == 2
    assert "exactly one query" in capsys.readouterr().err
    assert main(["evaluate"]) == 2
    assert "no collection given" in capsys.readouterr().err
