"""The README stays true: every setting is documented, and the test command is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from embedscope.flags import env_name
from embedscope.settings_doc import markdown, settings_classes

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme():
    missing = [env_name(cls, f) for _, cls in settings_classes() for f in cls.model_fields
               if env_name(cls, f) not in README]
    assert not missing, f"settings missing from README.md: {missing}"


def test_configuration_tables_are_current():
    assert markdown() in README, "regenerate with: python -m embedscope.settings_doc"


def test_every_setting_has_a_description():
    undocumented = [env_name(cls, f) for _, cls in settings_classes()
                    for f, info in cls.model_fields.items() if not info.description]
    assert not undocumented


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    command = re.search(r"## Tests.*?```bash\n(.+?)\n```", README, re.S).group(1).strip()
    assert command in ci


def test_help_is_instant_and_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys; from embedscope.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('torch', 'transformers', 'umap', 'gradio', 'sklearn', 'matplotlib') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
