"""Name → function registries: the projections, clusterers and metric stages a run can use.

A new method is one function plus one registration, next to each other in one module::

    @register_projection("umap", check=_umap_too_small)
    def _umap(X, s, a):
        return umap_map(X, s.umap_neighbors, s.umap_min_dist, s.seed)

The settings check --projections / --clusterers against these tables, the job runs what they
hold, and the outputs take plot titles from them: nothing else lists the names.

The tables hold plain functions (umap, scikit-learn and kmedoids load inside them), and this
module imports nothing else of the package, so the settings can read it and `embedscope --help`
stays instant. Settings and analysis arguments are typed ``Any`` here for that reason; the
registered functions are typed fully where they are defined. The built-ins register when their
modules are imported, which the package's ``__init__`` does: every ``embedscope.analysis.*``
import sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

#: ``run(X, settings, analysis) -> (n, 2) float array``; ``analysis`` holds the earlier stages.
ProjectionFn = Callable[[np.ndarray, Any, Any], np.ndarray]
#: ``run(X, settings, analysis) -> result.Clustering``.
ClustererFn = Callable[[np.ndarray, Any, Any], Any]
#: ``check(n, k, settings) -> message | None``: why ``n`` points are too few, None when enough.
SizeCheck = Callable[[int, int, Any], str | None]
#: ``stage(analysis, store, stages)``: fills fields of the analysis, timed with ``stages.stage``.
MetricFn = Callable[[Any, Any, Any], None]

F = TypeVar("F", bound=Callable[..., Any])

#: Names become payload fields (``umap``, ``cluster_kmeans``) and file names (``map_umap.png``).
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Projection:
    """A registered 2-D map: its function, its plot title and its minimum-size check."""

    name: str
    run: ProjectionFn
    title: str
    check: SizeCheck | None = None


@dataclass(frozen=True)
class Clusterer:
    """A registered clustering: function, plot title, size check, use of --k, report note."""

    name: str
    run: ClustererFn
    title: str
    check: SizeCheck | None = None
    uses_k: bool = False
    note: str | None = None


#: --projections names → projections, in registration order (the order of error messages).
PROJECTIONS: dict[str, Projection] = {}
#: --clusterers names → clusterers, in registration order.
CLUSTERERS: dict[str, Clusterer] = {}
#: Metric stages, run in registration order after the maps and clusterings.
METRICS: dict[str, MetricFn] = {}


def _add(table: dict[str, Any], kind: str, name: str, entry: Any) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{kind} name {name!r}: use lower-case letters, digits and '_', starting with a "
            "letter (the name becomes a payload field and part of file names)"
        )
    if name in table:
        raise ValueError(f"{kind} {name!r} is already registered: unregister it first")
    table[name] = entry


def register_projection(
    name: str, *, title: str | None = None, check: SizeCheck | None = None
) -> Callable[[F], F]:
    """Decorator: add ``fn(X, settings, analysis) -> (n, 2) array`` as the projection ``name``.

    Args:
        name: The --projections name; also the payload field of the 2-D coordinates and the
            ``map_<name>.png`` file.
        title: Plot title (default: the name in capitals).
        check: ``check(n, k, settings)`` returning why ``n`` points are too few, or None.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        ValueError: The name is malformed or already registered.
    """

    def add(fn: F) -> F:
        _add(PROJECTIONS, "projection", name, Projection(name, fn, title or name.upper(), check))
        return fn

    return add


def register_clusterer(
    name: str, *, title: str | None = None, check: SizeCheck | None = None,
    uses_k: bool = False, note: str | None = None,
) -> Callable[[F], F]:
    """Decorator: add ``fn(X, settings, analysis) -> Clustering`` as the clusterer ``name``.

    Args:
        name: The --clusterers name; its cluster ids go to the payload field ``cluster_<name>``.
        title: Name in plot titles and notes (default: the name).
        check: ``check(n, k, settings)`` returning why ``n`` points are too few, or None.
        uses_k: The method reads ``analysis.k``, so --k auto searches for one.
        note: A line added to the report's notes whenever the clusterer ran.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        ValueError: The name is malformed or already registered.
    """

    def add(fn: F) -> F:
        entry = Clusterer(name, fn, title or name, check, uses_k, note)
        _add(CLUSTERERS, "clusterer", name, entry)
        return fn

    return add


def register_metric(name: str) -> Callable[[F], F]:
    """Decorator: add ``fn(analysis, store, stages)`` as a metric stage, run after the earlier ones.

    Args:
        name: A name for the stage (unique).

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        ValueError: The name is malformed or already registered.
    """

    def add(fn: F) -> F:
        _add(METRICS, "metric stage", name, fn)
        return fn

    return add


def unregister_projection(name: str) -> None:
    """Remove the projection ``name`` (KeyError when it is not registered)."""
    del PROJECTIONS[name]


def unregister_clusterer(name: str) -> None:
    """Remove the clusterer ``name`` (KeyError when it is not registered)."""
    del CLUSTERERS[name]


def unregister_metric(name: str) -> None:
    """Remove the metric stage ``name`` (KeyError when it is not registered)."""
    del METRICS[name]
