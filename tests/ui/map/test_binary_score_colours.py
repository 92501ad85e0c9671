"""A binary score's warning colour goes to the value its registration names: a wrong vote (0) and a
leak (1) are both drawn in vermillion, their other value in bluish green."""

from __future__ import annotations

import numpy as np
import pytest

from embedscope.ui.map.colours import FINE_COLOUR, WARNING_COLOUR, _score

RAW = np.array([0.0, 1.0, np.nan], np.float32)


@pytest.mark.parametrize(("field", "warned"), [("knn_correct", 0), ("leaked", 1)])
def test_the_registered_warning_value_is_drawn_in_the_warning_colour(field: str,
                                                                     warned: int) -> None:
    c = _score(field, RAW)
    assert c.colours is not None and c.colours[warned] == WARNING_COLOUR
    assert c.colours[1 - warned] == FINE_COLOUR
    assert c.names[2] == "not scored" and c.noise == 2


def test_a_plugin_names_its_warning_value() -> None:
    from embedscope.analysis.registry import register_score, unregister_score

    register_score("flagged", kind="binary", labels=("fine", "flagged"), warning=1)(lambda a: None)
    try:
        assert _score("flagged", RAW).colours == [FINE_COLOUR, WARNING_COLOUR]
    finally:
        unregister_score("flagged")
    with pytest.raises(ValueError, match="warning must be 0 or 1.*got 2"):
        register_score("flagged", kind="binary", warning=2)
