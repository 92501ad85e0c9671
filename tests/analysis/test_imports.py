"""The analysis package's import graph has no cycle, and its settings see the built-ins cheaply."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import embedscope.analysis

PACKAGE = "embedscope.analysis"
ROOT = Path(embedscope.analysis.__file__).parent


def _edges(path: Path, modules: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports anywhere: top level, in functions, guarded."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == PACKAGE:  # `from embedscope.analysis import x`: package and x
                names += [f"{PACKAGE}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE:
                found.add("__init__")
            elif name.startswith(PACKAGE + "."):
                found.add(name[len(PACKAGE) + 1:].split(".")[0])
    return (found & modules) - {path.stem}


def test_import_graph_is_acyclic() -> None:
    modules = {p.stem for p in ROOT.glob("*.py")}
    graph = {p.stem: _edges(p, modules) for p in ROOT.glob("*.py")}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name):], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_settings_alone_know_the_builtins_without_heavy_imports() -> None:
    code = ("import sys; from embedscope.analysis.config import AnalysisSettings as A; "
            "s = A(collection='c'); s.check(); print(s.projection_list(), s.clusterer_list(), "
            "[m for m in ('sklearn', 'umap', 'kmedoids', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "['umap', 'pca'] ['kmeans', 'kmedoids', 'hdbscan'] []"
    )
