"""Analysis-specific errors (subclasses of embedscope.errors.EmbedscopeError)."""

from __future__ import annotations

from embedscope.errors import EmbedscopeError


class TooFewPointsError(EmbedscopeError):
    """The collection (or sample) has fewer points than a chosen method needs."""

    exit_code = 2
