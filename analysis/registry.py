"""Name → function registries: the projections, clusterers, metric stages and per-point scores.

A new method is one function plus one registration, next to each other in one module::

    @register_projection("umap", check=_umap_too_small)
    def _umap(X, s, a):
        return umap_map(X, s.umap_neighbors, s.umap_min_dist, s.seed)

The settings check --projections / --clusterers against these registries, the job runs what they
hold, the outputs take plot titles from them, and the report, the payloads and the page list what
they hold: nothing else lists the names. Each is an :class:`embedscope.registry.Registry`, so the
rule is the one of every extension point: a name registers once (a second registration raises),
and plugins come in through the entry-point groups ``embedscope.projections``,
``embedscope.clusterers``, ``embedscope.metrics`` and ``embedscope.scores``.

The registries hold plain functions (umap, scikit-learn and kmedoids load inside them), and this
module imports nothing else of the package but the core, so the settings can read it and
`embedscope --help` stays instant. Settings and analysis arguments are typed ``Any`` here for that reason; the
registered functions are typed fully where they are defined. The built-ins register when their
modules are imported, which the package's ``__init__`` does: every ``embedscope.analysis.*``
import sees them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from embedscope.registry import IDENTIFIER, Registry

#: ``run(X, settings, analysis) -> (n, 2) float array``; ``analysis`` holds the earlier stages.
ProjectionFn = Callable[[np.ndarray, Any, Any], np.ndarray]
#: ``run(X, settings, analysis) -> result.Clustering``.
ClustererFn = Callable[[np.ndarray, Any, Any], Any]
#: ``check(n, k, settings) -> message | None``: why ``n`` points are too few, None when enough.
SizeCheck = Callable[[int, int, Any], str | None]
#: ``stage(analysis, store, stages)``: fills fields of the analysis, timed with ``stages.stage``.
MetricFn = Callable[[Any, Any, Any], None]
#: ``score(analysis) -> (m,) array or None``: one value per row of the shared k-NN graph
#: (``analysis.graph_rows``, every analysed point when None); None when it does not apply.
ScoreFn = Callable[[Any], "np.ndarray | None"]
#: ``place(fitted, X, update) -> (m, 2) map or (m,) cluster ids``: the new rows ``X`` placed with
#: what the full run fitted (``analysis.fitted[...]``); ``update`` holds the settings of that run,
#: every fitted object (``update.fitted``) and the maps placed so far (``update.maps``, new rows).
PlaceFn = Callable[[Any, np.ndarray, Any], np.ndarray]

F = TypeVar("F", bound=Callable[..., Any])

_HINT = ("use lower-case letters, digits and '_', starting with a letter (the name becomes a "
         "payload field and part of file names)")


@dataclass(frozen=True)
class Projection:
    """A registered 2-D map: its function, its plot title and its minimum-size check."""

    name: str
    run: ProjectionFn
    title: str
    check: SizeCheck | None = None
    #: Places new points with what ``run`` kept in ``analysis.fitted["map/<name>"]`` (for
    #: ``analyze --update``); None: the method cannot place new points (t-SNE).
    place: PlaceFn | None = None


@dataclass(frozen=True)
class Clusterer:
    """A registered clustering: function, plot title, size check, use of --clusters, report note."""

    name: str
    run: ClustererFn
    title: str
    check: SizeCheck | None = None
    uses_k: bool = False
    note: str | None = None
    #: Assigns new points with what ``run`` kept in ``analysis.fitted["cluster/<name>"]``
    #: (``analyze --update``); None: new points stay without this clustering's id.
    place: PlaceFn | None = None


@dataclass(frozen=True)
class Score:
    """A registered per-point score: written to the payload field ``name`` of every labelled point
    the shared k-NN graph covers, offered as a colouring on the map, described in the report.

    Attributes:
        name: The payload field.
        run: ``score(analysis) -> (m,) array | None``.
        title: How legends and the report name it.
        description: One line: what a high value means.
        kind: ``"binary"`` (0/1, e.g. right/wrong) or ``"continuous"``.
        labels: What 0 and 1 mean, for the legend of a binary score.
        warning: The value of a binary score that is the finding to look at, drawn in the
            warning colour (0 for ``knn_correct``'s "wrong", 1 for ``leaked``'s "leaked").
    """

    name: str
    run: ScoreFn
    title: str
    description: str = ""
    kind: str = "continuous"
    labels: tuple[str, str] = ("0", "1")
    warning: int = 0


def _builtins() -> None:
    importlib.import_module("embedscope.analysis")  # its __init__ imports the built-in methods


#: --projections names → projections, in registration order (the order of error messages).
PROJECTIONS: Registry[Projection] = Registry(
    "projection", "embedscope.projections", builtins=_builtins, pattern=IDENTIFIER, pattern_hint=_HINT)
#: --clusterers names → clusterers, in registration order.
CLUSTERERS: Registry[Clusterer] = Registry(
    "clusterer", "embedscope.clusterers", builtins=_builtins, pattern=IDENTIFIER, pattern_hint=_HINT)
#: Metric stages, run in registration order after the maps and clusterings.
METRICS: Registry[MetricFn] = Registry(
    "metric stage", "embedscope.metrics", builtins=_builtins, pattern=IDENTIFIER, pattern_hint=_HINT)
#: Per-point scores, computed after the metric stages and written back as payload fields.
SCORES: Registry[Score] = Registry(
    "per-point score", "embedscope.scores", builtins=_builtins, pattern=IDENTIFIER, pattern_hint=_HINT)


def register_projection(
    name: str, *, title: str | None = None, check: SizeCheck | None = None,
    place: PlaceFn | None = None,
) -> Callable[[F], F]:
    """Decorator: add ``fn(X, settings, analysis) -> (n, 2) array`` as the projection ``name``.

    Args:
        name: The --projections name; also the payload field of the 2-D coordinates and the
            ``map_<name>.png`` file.
        title: Plot title (default: the name in capitals).
        check: ``check(n, k, settings)`` returning why ``n`` points are too few, or None.
        place: ``place(fitted, X, update) -> (m, 2)``: new points placed with what the function
            kept in ``analysis.fitted["map/<name>"]`` (``analyze --update``); None: it cannot.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        RegistrationError: The name is malformed or already registered.
    """

    def add(fn: F) -> F:
        PROJECTIONS.add(name, Projection(name, fn, title or name.upper(), check, place))
        return fn

    return add


def register_clusterer(
    name: str, *, title: str | None = None, check: SizeCheck | None = None,
    uses_k: bool = False, note: str | None = None, place: PlaceFn | None = None,
) -> Callable[[F], F]:
    """Decorator: add ``fn(X, settings, analysis) -> Clustering`` as the clusterer ``name``.

    Args:
        name: The --clusterers name; its cluster ids go to the payload field ``cluster_<name>``.
        title: Name in plot titles and notes (default: the name).
        check: ``check(n, k, settings)`` returning why ``n`` points are too few, or None.
        uses_k: The method reads ``analysis.k``, so --clusters auto searches for one.
        note: A line added to the report's notes whenever the clusterer ran.
        place: ``place(fitted, X, update) -> (m,) ids``: new points assigned with what the
            function kept in ``analysis.fitted["cluster/<name>"]`` (``analyze --update``).

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        RegistrationError: The name is malformed or already registered.
    """

    def add(fn: F) -> F:
        entry = Clusterer(name, fn, title or name, check, uses_k, note, place)
        CLUSTERERS.add(name, entry)
        return fn

    return add


def register_metric(name: str) -> Callable[[F], F]:
    """Decorator: add ``fn(analysis, store, stages)`` as a metric stage, run after the earlier ones.

    Args:
        name: A name for the stage (unique).

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        RegistrationError: The name is malformed or already registered.
    """

    def add(fn: F) -> F:
        METRICS.add(name, fn)
        return fn

    return add


def register_score(
    name: str, *, title: str | None = None, description: str = "", kind: str = "continuous",
    labels: tuple[str, str] = ("0", "1"), warning: int = 0,
) -> Callable[[F], F]:
    """Decorator: add ``fn(analysis) -> (m,) array | None`` as the per-point score ``name``.

    Args:
        name: The payload field the score is written to (one value per labelled point).
        title: How legends and the report name it (default: the name).
        description: One line: what a high value means.
        kind: ``"binary"`` (0/1) or ``"continuous"``.
        labels: What 0 and 1 mean in the legend of a binary score.
        warning: Which value of a binary score is the finding (drawn in the warning colour,
            the other in the "fine" one): 0 when 1 means right (``knn_correct``), 1 when 1
            flags a problem (``leaked``).

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        RegistrationError: The name is malformed or already registered.
        ValueError: ``warning`` is neither 0 nor 1.
    """
    if warning not in (0, 1):
        raise ValueError(f"score {name!r}: warning must be 0 or 1 (the value of the binary "
                         f"score drawn as the warning), got {warning!r}")

    def add(fn: F) -> F:
        SCORES.add(name, Score(name, fn, title or name, description, kind, labels, warning))
        return fn

    return add


def unregister_projection(name: str) -> None:
    """Remove the projection ``name`` (KeyError when it is not registered)."""
    PROJECTIONS.remove(name)


def unregister_clusterer(name: str) -> None:
    """Remove the clusterer ``name`` (KeyError when it is not registered)."""
    CLUSTERERS.remove(name)


def unregister_metric(name: str) -> None:
    """Remove the metric stage ``name`` (KeyError when it is not registered)."""
    METRICS.remove(name)


def unregister_score(name: str) -> None:
    """Remove the per-point score ``name`` (KeyError when it is not registered)."""
    SCORES.remove(name)
