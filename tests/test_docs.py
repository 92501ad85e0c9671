"""The docs stay true and navigable: the generated settings block is current and complete, the
README is short and its test command is what CI runs, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from embedscope.flags import env_name
from embedscope.settings_doc import BEGIN, END, generated_block, markdown, settings_classes, write

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = (REPO / "README.md").read_text(encoding="utf-8")
CONFIGURATION = DOCS / "configuration.md"
REGENERATE = "regenerate with: python -m embedscope.settings_doc --write docs/configuration.md"
#: Variables the docs may name that are no setting: read by the tests, the compose file, scripts.
NOT_SETTINGS = {"EMBEDSCOPE_CHROMIUM", "EMBEDSCOPE_SHARED_DATA", "EMBEDSCOPE_DATASETS_DIR",
                "EMBEDSCOPE_TORCH_VERSION", "EMBEDSCOPE_SRC"}
#: Markdown links and images: [text](target) / ![alt](target), target up to a space or ')'.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _links(text: str) -> list[str]:
    """Link targets of a Markdown text, fenced code blocks left out."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return LINK.findall(text)


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        anchors.add(slug)
    return anchors


def _broken_links(path: Path) -> list[str]:
    """The relative links of ``path`` whose file (or heading anchor) does not exist."""
    broken = []
    for target in _links(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            continue  # http(s):, mailto: … are not checked offline
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest})")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


def test_configuration_block_is_what_the_generator_prints():
    block = generated_block(CONFIGURATION.read_text(encoding="utf-8"))
    assert block.strip() == markdown().strip(), REGENERATE


def test_every_setting_is_in_the_configuration_page():
    block = generated_block(CONFIGURATION.read_text(encoding="utf-8"))
    missing = [env_name(cls, f) for _, cls in settings_classes() for f in cls.model_fields
               if f"`{env_name(cls, f)}`" not in block]
    assert not missing, f"settings missing from docs/configuration.md: {missing}; {REGENERATE}"


def test_every_setting_has_a_description():
    undocumented = [env_name(cls, f) for _, cls in settings_classes()
                    for f, info in cls.model_fields.items() if not info.description]
    assert not undocumented


def test_write_rewrites_only_the_generated_block(tmp_path: Path):
    page = tmp_path / "configuration.md"
    page.write_text(f"# Title\n\nprose before\n\n{BEGIN}\nstale table\n{END}\n\nprose after\n", encoding="utf-8")
    assert write(page) is True
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nprose before\n\n") and text.endswith(f"{END}\n\nprose after\n")
    assert generated_block(text).strip() == markdown().strip()
    assert write(page) is False  # a second run finds it current


def test_write_refuses_a_file_without_markers(tmp_path: Path):
    page = tmp_path / "other.md"
    page.write_text("# no block here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="settings:begin"):
        write(page)
    assert page.read_text(encoding="utf-8") == "# no block here\n"


def test_variables_named_in_prose_are_current_settings():
    """Outside the generated block, the docs name only variables that exist today (old names
    may appear only where configuration.md explains the renaming)."""
    current = {env_name(cls, f) for _, cls in settings_classes() for f in cls.model_fields}
    from embedscope.variables import AMBIGUOUS, old_names

    old = set(AMBIGUOUS) | {name for _, cls in settings_classes() for name in old_names(cls)}
    variable = re.compile(r"EMBEDSCOPE_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])")
    stale = []
    for path in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        if path == CONFIGURATION:
            text = text.replace(generated_block(text), "")
        allowed = current | NOT_SETTINGS | (old if path == CONFIGURATION else set())
        stale += [f"{path.name}: {name}" for name in sorted(set(variable.findall(text)) - allowed)]
    assert not stale, f"variables that are no setting (renamed?): {stale}"


def test_configuration_page_says_how_to_regenerate_it():
    head = CONFIGURATION.read_text(encoding="utf-8").split(BEGIN)[0]
    assert "python -m embedscope.settings_doc --write docs/configuration.md" in head


def test_readme_is_at_most_250_lines():
    assert len(README.splitlines()) <= 250


def test_readme_links_into_docs_and_every_link_resolves():
    docs_links = [t for t in _links(README) if t.startswith("docs/")]
    assert docs_links, "the README links into docs/"
    assert not _broken_links(REPO / "README.md")


def test_readme_shows_the_page():
    images = [t for t in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", README)]
    assert images and all((REPO / img).is_file() for img in images)
    assert all((REPO / img).stat().st_size < 400_000 for img in images), "keep screenshots small"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_every_relative_link_in_docs_resolves(page: str):
    assert not _broken_links(DOCS / page)


def test_every_docs_page_is_reachable_from_the_docs_index():
    index = {t.partition("#")[0] for t in _links((DOCS / "README.md").read_text(encoding="utf-8"))}
    unlinked = [p.name for p in DOCS.glob("*.md") if p.name != "README.md" and p.name not in index]
    assert not unlinked, f"docs/README.md does not link to {unlinked}"


def _module_map() -> dict[str, set[str]]:
    """architecture.md's module map: folder → the names in the first column of its table."""
    text = (DOCS / "architecture.md").read_text(encoding="utf-8").split("## Module map", 1)[1]
    sections = re.findall(r"^### `([\w/]+)/`[^\n]*\n(.*?)(?=^### |\Z)", text, re.M | re.S)
    return {folder: {name for row in re.findall(r"^\| (.+?) \|", body, re.M)
                     for name in re.findall(r"`([^`]+)`", row)} for folder, body in sections}


def test_module_map_names_every_module_and_nothing_else():
    sections = _module_map()
    assert set(sections) >= {"embedscope", "ingest", "search", "analysis", "ui"}
    problems = []
    for folder, names in sections.items():
        root = REPO / folder
        problems += [f"{folder}/{n} does not exist" for n in sorted(names) if not (root / n).exists()]
        expected = {p.name for p in root.glob("*.py") if p.name != "__init__.py"}
        for sub in root.iterdir():
            if sub.is_dir() and not sub.name.startswith(("_", ".")) and f"{sub.name}/" not in names:
                expected |= {f"{sub.name}/{p.name}" for p in sub.glob("*.py") if p.name != "__init__.py"}
        problems += [f"{folder}/{n} is missing from the map" for n in sorted(expected - names)]
    assert not problems, f"docs/architecture.md's module map is out of date: {problems}"


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
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
