"""A setting means one thing: each variable reaches exactly the commands where it means that.

Every command's settings are built the way the console command builds them (its parser, then
settings_from_args for each settings class it reads), once with no EMBEDSCOPE_* variable set and
once with one variable set alone; the commands whose settings changed are the ones that see it.
Old names: honoured with a one-line warning where they meant one thing, refused where they
meant several.
"""

from __future__ import annotations

import argparse
import os
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from embedscope import variables
from embedscope.cli import build_parser, main
from embedscope.flags import env_name, settings_from_args, settings_read, settings_without_env
from embedscope.settings_doc import settings_classes

#: Positional arguments a command needs to parse.
ARGV = {"compare": ["a__x", "b__x"], "restore": ["snap.tar.gz"]}

#: Commands that open the store for a batch job: they retry an unreachable server for
#: EMBEDSCOPE_QDRANT_RETRY_SECONDS; the others give up after …_QDRANT_INTERACTIVE_SECONDS.
BATCH = {"ingest", "analyze", "compare", "push", "pull", "export-map", "export"}


def _parser() -> argparse.ArgumentParser:
    return build_parser()


PARSER = _parser()
COMMANDS = sorted(next(a for a in PARSER._actions
                       if isinstance(a, argparse._SubParsersAction)).choices)
EVERY = set(COMMANDS)  # every command opens the store

#: Who reads what, by variable (then by prefix, longest first): the specification.
EXPECTED = {
    "EMBEDSCOPE_QDRANT_RETRY_SECONDS": BATCH,
    "EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS": EVERY - BATCH,
    "EMBEDSCOPE_JSON_OUTPUT": EVERY - {"analyze", "compare", "ui", "export-map", "serve", "export"},
    "EMBEDSCOPE_ANALYSIS_COLLECTION": {"analyze"},  # compare names its collections as arguments
    "EMBEDSCOPE_SEARCH_LABEL": {"search"},  # classify votes among every class
    "EMBEDSCOPE_BACKUP_COLLECTION": {"check", "snapshot"},
    "EMBEDSCOPE_BACKUP_OUTPUT": {"snapshot"},
    "EMBEDSCOPE_BACKUP_TARGET_COLLECTION": {"restore"},
    "EMBEDSCOPE_BACKUP_RECREATE": {"restore"},
    "EMBEDSCOPE_BACKUP_REINDEX": {"check"},
}
BY_PREFIX = {
    "EMBEDSCOPE_INGEST_": {"ingest"},
    "EMBEDSCOPE_ANALYSIS_": {"analyze", "compare"},
    "EMBEDSCOPE_SEARCH_": {"search", "classify"},
    "EMBEDSCOPE_EVALUATE_": {"evaluate"},
    "EMBEDSCOPE_TRANSFER_": {"push", "pull"},
    "EMBEDSCOPE_UI_": {"ui"},
    "EMBEDSCOPE_EXPORT_MAP_": {"export-map"},
    "EMBEDSCOPE_EXPORT_": {"export"},
    "EMBEDSCOPE_SERVE_": {"serve"},
    "EMBEDSCOPE_": EVERY,  # the shared store settings (Qdrant URL, key, data directory …)
}


def _expected(variable: str) -> set[str]:
    if variable in EXPECTED:
        return EXPECTED[variable]
    prefix = max((p for p in BY_PREFIX if variable.startswith(p)), key=len)
    return BY_PREFIX[prefix]


def _other_value(info: FieldInfo) -> str:
    """A valid value, as a variable's text, that differs from the field's default."""
    annotation = info.annotation
    default = info.get_default(call_default_factory=True)
    if typing.get_origin(annotation) is list:
        return '["other"]'
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    base = next(a for a in typing.get_args(annotation) if a is not type(None)) if union else annotation
    if typing.get_origin(base) is typing.Literal:
        return next(str(c) for c in typing.get_args(base) if c != default)
    if base is bool:
        return "false" if default else "true"
    if base is int:
        return str((default or 2) + 1)
    if base is float:
        return str(default / 2 if default else 0.5)
    if base is SecretStr:
        return "user:secret"
    if base is Path:
        return "/elsewhere"
    assert base is str, annotation
    return "other"


VARIABLES = sorted({env_name(cls, f): _other_value(info) for _, cls in settings_classes()
                    for f, info in cls.model_fields.items()}.items())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No EMBEDSCOPE_* variable set, and old names not yet warned about in this process."""
    for name in list(os.environ):
        if name.upper().startswith("EMBEDSCOPE_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(variables, "_warned", set())
    return monkeypatch


def _built(command: str) -> dict[str, Any]:
    """Every settings object `embedscope COMMAND` builds, as plain values."""
    args = PARSER.parse_args([command, *ARGV.get(command, [])])
    return {cls.__name__: settings_from_args(cls, args).model_dump()
            for cls in settings_read(args)}


def test_every_command_reads_its_settings_through_the_recorded_classes():
    assert {"ingest", "analyze", "compare", "ui", "search", "evaluate", "push"} <= EVERY
    for command in COMMANDS:
        args = PARSER.parse_args([command, *ARGV.get(command, [])])
        assert "QdrantSettings" in {c.__name__ for c in settings_read(args)}, command


@pytest.mark.parametrize(("variable", "value"), VARIABLES, ids=[v for v, _ in VARIABLES])
def test_a_variable_set_alone_reaches_exactly_its_commands(variable: str, value: str,
                                                           clean_env: pytest.MonkeyPatch):
    baseline = {command: _built(command) for command in COMMANDS}
    clean_env.setenv(variable, value)
    seeing = {command for command in COMMANDS if _built(command) != baseline[command]}
    assert seeing == _expected(variable)


def test_the_ambiguous_table_is_exactly_the_names_two_commands_shared():
    """An old name read by ingest and by analyze is ambiguous; one read by one of them is not."""
    from embedscope.analysis.config import AnalysisSettings
    from embedscope.ingest.config import IngestSettings

    def old_to_new(cls: Any) -> dict[str, str]:
        prefix, renamed = variables.MOVED_PREFIX[cls.__name__]
        return {(prefix + renamed.get(f, f)).upper(): env_name(cls, f) for f in cls.model_fields}

    ingest, analysis = old_to_new(IngestSettings), old_to_new(AnalysisSettings)
    shared = ingest.keys() & analysis.keys()
    assert set(variables.AMBIGUOUS) == shared
    for old in shared:
        assert set(variables.AMBIGUOUS[old]) == {ingest[old], analysis[old]}
    current = {env_name(cls, f) for _, cls in settings_classes() for f in cls.model_fields}
    olds = {*ingest, *analysis, *variables.MOVED}
    assert not olds & current, "an old name is still a current variable"
    assert variables.old_names(IngestSettings)["EMBEDSCOPE_DATASET"] == "dataset"
    assert variables.old_names(AnalysisSettings)["EMBEDSCOPE_K"] == "clusters"


def test_an_old_name_that_meant_one_thing_is_honoured_with_a_warning(clean_env, capsys):
    clean_env.setenv("EMBEDSCOPE_DATASET", "fashion_mnist")
    clean_env.setenv("EMBEDSCOPE_SPLITS", '["train"]')
    clean_env.setenv("EMBEDSCOPE_K", "auto")
    assert _built("ingest")["IngestSettings"]["dataset"] == "fashion_mnist"
    assert _built("ingest")["IngestSettings"]["splits"] == ["train"]
    assert _built("analyze")["AnalysisSettings"]["clusters"] == "auto"
    err = capsys.readouterr().err.splitlines()
    assert sorted(err) == [  # one line each, once per process
        "warning: EMBEDSCOPE_DATASET is deprecated: use EMBEDSCOPE_INGEST_DATASET",
        "warning: EMBEDSCOPE_K is deprecated: use EMBEDSCOPE_ANALYSIS_CLUSTERS",
        "warning: EMBEDSCOPE_SPLITS is deprecated: use EMBEDSCOPE_INGEST_SPLITS",
    ]
    # only where it was read: `search` never read EMBEDSCOPE_DATASET or EMBEDSCOPE_K
    clean_env.setenv("EMBEDSCOPE_INGEST_DATASET", "cifar10")  # the new name wins
    assert _built("ingest")["IngestSettings"]["dataset"] == "cifar10"
    args = PARSER.parse_args(["ingest", "--dataset", "mnist"])  # and a flag wins over both
    from embedscope.ingest.config import IngestSettings

    assert settings_from_args(IngestSettings, args).dataset == "mnist"
    capsys.readouterr()


def test_the_pages_old_wait_for_qdrant_is_its_interactive_wait(clean_env, capsys):
    clean_env.setenv("EMBEDSCOPE_UI_QDRANT_RETRY_SECONDS", "0.5")
    assert _built("ui")["QdrantSettings"]["qdrant_interactive_seconds"] == 0.5
    assert capsys.readouterr().err == ("warning: EMBEDSCOPE_UI_QDRANT_RETRY_SECONDS is deprecated: "
                                       "use EMBEDSCOPE_QDRANT_INTERACTIVE_SECONDS\n")
    assert _built("search")["QdrantSettings"]["qdrant_interactive_seconds"] == 3.0
    assert capsys.readouterr().err == ""


def test_an_old_name_reaches_the_command_through_main(clean_env, capsys, data_env):
    clean_env.setenv("EMBEDSCOPE_DATA_DIR", str(data_env))
    clean_env.setenv("EMBEDSCOPE_PROJECTIONS", "bogus")
    assert main(["analyze", "--collection", "c"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "warning: EMBEDSCOPE_PROJECTIONS is deprecated: use EMBEDSCOPE_ANALYSIS_PROJECTIONS"
    assert err[1].startswith("error: unknown projections bogus") and len(err) == 2


@pytest.mark.parametrize("old", sorted(variables.AMBIGUOUS))
@pytest.mark.parametrize("command", ["ingest", "analyze"])
def test_an_ambiguous_old_name_is_refused_naming_both_new_ones(old: str, command: str, clean_env,
                                                               capsys, data_env):
    clean_env.setenv("EMBEDSCOPE_DATA_DIR", str(data_env))
    clean_env.setenv(old, "1")
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {old} is ambiguous (") and err.count("\n") == 1
    for new in variables.AMBIGUOUS[old]:
        assert new in err
    assert err.rstrip().endswith("instead")


def test_the_sample_refusal_says_what_each_meant(clean_env, capsys):
    clean_env.setenv("EMBEDSCOPE_SAMPLE", "100")
    assert main(["ingest"]) == 2
    assert capsys.readouterr().err == (
        "error: EMBEDSCOPE_SAMPLE is ambiguous (images per split for ingest, points analysed for "
        "analyze): set EMBEDSCOPE_INGEST_SAMPLE or EMBEDSCOPE_ANALYSIS_SAMPLE instead\n")


def test_commands_that_never_read_an_ambiguous_name_ignore_it(clean_env, capsys, data_env):
    clean_env.setenv("EMBEDSCOPE_DATA_DIR", str(data_env))
    clean_env.setenv("EMBEDSCOPE_SAMPLE", "100")
    assert main(["collections", "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_k_is_a_number_of_neighbours_in_every_command():
    subs = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices
    with_k = {name for name, p in subs.items() if "-k" in p._option_string_actions}
    assert {"search", "classify", "evaluate", "ui"} <= with_k
    for name in with_k:
        assert "neighbour" in subs[name]._option_string_actions["-k"].help.lower(), name
    for name, p in subs.items():
        assert not {"--k", "--k-min", "--k-max"} & set(p._option_string_actions), name
    for name in ("analyze", "compare"):
        assert {"--clusters", "--clusters-min", "--clusters-max"} <= set(subs[name]._option_string_actions)


def test_the_pages_own_analysis_reads_no_analysis_variable(clean_env):
    from embedscope.analysis.config import AnalysisSettings

    clean_env.setenv("EMBEDSCOPE_ANALYSIS_SEED", "7")
    assert AnalysisSettings().seed == 7
    assert settings_without_env(AnalysisSettings, collection="c").seed == 0
