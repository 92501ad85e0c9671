"""The package layout is a promise: one namespace, imports that point one way, no cycle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("ingest", "search", "analysis", "ui")
#: What each package may import besides itself and the core (``embedscope``: the store, the
#: contract, errors, settings): ingest → core only; search → ingest (query embedding);
#: analysis → search (the one k-NN vote); ui → analysis, ingest, search. Nothing imports ui, and
#: the core imports none of the four (only the console command dispatches to them, lazily).
ALLOWED = {
    "ingest": set(),
    "search": {"ingest"},
    "analysis": {"search", "ingest"},
    "ui": {"search", "ingest", "analysis"},
}
#: The console command and its dispatch: the only core modules that reach the services.
DISPATCH = {"embedscope.cli", "embedscope.commands", "embedscope.settings_doc", "embedscope.__main__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts[0] != "embedscope":
        parts = ["embedscope", *parts]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    files = [p for pkg in (*PACKAGES, "embedscope") for p in (REPO / pkg).rglob("*.py")]
    return {_module_name(p): p for p in files}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in the file, lazy ones included."""
    tree = ast.parse(path.read_text(), str(path))
    top = set(map(id, tree.body))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: never imported at run time
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
            found += [(f"{node.module}.{a.name}", id(node) in top) for a in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    modules = _sources()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, _ in _imports(path):
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else "embedscope"


def test_no_bare_top_level_imports_anywhere():
    """Code, tests and benchmarks import embedscope.search, never a generic `search`."""
    bad = []
    for path in [*REPO.glob("*/**/*.py")]:
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        for target, _ in _imports(path):
            if target.split(".")[0] in PACKAGES:
                bad.append(f"{path.relative_to(REPO)}: {target}")
    assert not bad, bad


def test_imports_follow_the_layering():
    modules = _sources()
    bad = []
    for name, path in modules.items():
        src = _package(name)
        for target, at_top in _imports(path):
            if not target.startswith("embedscope"):
                continue
            dst = _package(target)
            if src == "embedscope":
                if dst == "embedscope":
                    continue
                if name not in DISPATCH:  # the core stands under the services, never on them
                    bad.append(f"{name} (core) imports {target} ({dst})")
                elif at_top:  # the console command: dispatch only, every import lazy
                    bad.append(f"{name} imports {target} at module level (must be lazy)")
                continue
            if dst == "embedscope":
                if target.startswith("embedscope.cli") and not name.endswith(".__main__"):
                    bad.append(f"{name} imports the console command ({target})")
                continue
            if dst != src and dst not in ALLOWED[src]:
                bad.append(f"{name} ({src}) imports {target} ({dst})")
    assert not bad, "\n".join(bad)


def test_import_graph_has_no_cycle():
    """Module-level and lazy (function-level) imports together form a DAG."""
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" → ".join(c) for c in cycles)


def test_installed_package_has_one_namespace(tmp_path: Path):
    """From outside the repository: embedscope.* imports, a generic `search` or `ui` does not."""
    code = (
        "import importlib, importlib.util, json\n"
        "mods = ['embedscope.search', 'embedscope.ingest', 'embedscope.analysis', 'embedscope.ui',"
        " 'embedscope.cli']\n"
        "for m in mods: importlib.import_module(m)\n"
        "print(json.dumps({n: importlib.util.find_spec(n) is not None "
        "for n in ('search', 'ingest', 'analysis', 'ui')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '{"search": false, "ingest": false, "analysis": false, "ui": false}'


def test_a_users_own_search_module_does_not_shadow_ours(tmp_path: Path):
    (tmp_path / "search.py").write_text("raise SystemExit('the user module was imported')\n")
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "__init__.py").write_text("raise SystemExit('the user package was imported')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "from embedscope.store import open_store; import embedscope.ui.config; print('ours')"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ours", out.stdout + out.stderr


@pytest.mark.parametrize("service", ["ingest", "analysis", "ui"])
def test_each_service_runs_as_a_module(service: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-m", f"embedscope.{service}", "--help"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"python -m embedscope.{service}" in out.stdout
    assert "--qdrant-url" in out.stdout and "--data-dir" in out.stdout


def test_the_wheel_holds_every_module_under_the_namespace(tmp_path: Path):
    """A built wheel (what `pip install .` and the Docker image get) has every source file, all
    under embedscope/, and no generic top-level package — subpackages included."""
    import shutil
    import zipfile

    src = tmp_path / "src"  # a clean copy: no stale build/ from an earlier build
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "node_modules", ".*cache"))
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path), str(src)], capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("embedscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"embedscope"}, tops
    expected = {f"embedscope/{p.relative_to(REPO).as_posix()}" for pkg in PACKAGES
                for p in (REPO / pkg).rglob("*.py") if "__pycache__" not in p.parts}
    expected |= {f"{p.relative_to(REPO).as_posix()}" for p in (REPO / "embedscope").rglob("*.py")
                 if "__pycache__" not in p.parts}
    assert expected <= names, sorted(expected - names)
