"""A selection's gallery sorted "most unique first" / "most typical first" and back to map order."""

from __future__ import annotations

import numpy as np
import pytest

from embedscope.errors import UsageError
from embedscope.ui.map.selection import MAP_ORDER, Selection, ordered


def _selection() -> Selection:
    return Selection("c", ["a", "b", "c", "d"], page=1, scores={
        "uniqueness": np.array([0.1, 0.4, np.nan, 0.3]),
        "representativeness": np.array([0.9, 0.2, 0.5, 0.7]),
        MAP_ORDER: np.arange(4, dtype=np.float64)})


def test_orders_put_the_highest_score_first_unscored_last_and_map_order_back() -> None:
    s = ordered(_selection(), "most unique first")
    assert s.ids == ["b", "d", "a", "c"] and s.page == 0
    s = ordered(s, "most typical first")
    assert s.ids == ["a", "d", "c", "b"]
    assert ordered(s, "map order").ids == ["a", "b", "c", "d"]


def test_an_order_without_scores_or_selection_says_what_to_do() -> None:
    s = Selection("c", ["a"], scores={MAP_ORDER: np.zeros(1)})
    with pytest.raises(UsageError, match="run the analysis"):
        ordered(s, "most unique first")
    with pytest.raises(UsageError, match="nothing selected"):
        ordered(None, "map order")
    with pytest.raises(UsageError, match="unknown order"):
        ordered(_selection(), "random")
