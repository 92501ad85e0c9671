"""What the analysis registries put on the map: projections, clusterings and per-point scores.

The page lists no method of its own: a projection, clusterer or score registered with
embedscope.analysis.registry (built in, or a plugin through its entry-point group) is offered on
the map as soon as a run has written its payload field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from embedscope.contract import Payload


@dataclass(frozen=True)
class Score:
    """A per-point score as the map colours it.

    Attributes:
        field: The payload field (the score's registered name).
        binary: Two categories (0 and 1) rather than a colour ramp.
        labels: The names of 0 and 1 in the legend of a binary score.
        warning: The value of a binary score drawn in the warning colour (a leak's 1, a wrong
            vote's 0).
    """

    field: str
    binary: bool = False
    labels: tuple[str, str] = ("0", "1")
    warning: int = 0


def _registry() -> Any:
    from embedscope.analysis import registry

    return registry


def _names(table: Iterable[str]) -> list[str]:
    # A Registry iterates its names in registration order, as a dict does its keys.
    return list(table)


def projections() -> list[str]:
    """The payload fields of every registered projection, in registration order."""
    return [Payload.projection(name) for name in _names(_registry().PROJECTIONS)]


def cluster_fields() -> list[str]:
    """The payload fields of every registered clusterer (``cluster_<name>``)."""
    return [Payload.cluster(name) for name in _names(_registry().CLUSTERERS)]


def scores() -> list[Score]:
    """Every registered per-point score, in registration order."""
    return [Score(name, entry.kind == "binary", entry.labels, entry.warning)
            for name, entry in _registry().SCORES.items()]


def score_fields() -> list[str]:
    """The payload fields of every registered per-point score."""
    return [s.field for s in scores()]
