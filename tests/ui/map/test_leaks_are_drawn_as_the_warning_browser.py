"""Coloured by `leaked`, leaks read as the warning, in headless Chromium on the shared sample:
"leaked" in the page's warning vermillion (as k-NN "wrong"), "not leaked" in its bluish green."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.test_browser import CHROMIUM
from tests.ui.test_search_browser import choose, until, wait_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def swatches(page: Any) -> dict[str, tuple[int, ...]]:
    """The legend's groups and their swatches' colours (r, g, b)."""
    found = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#webmap .es-legend .es-item')].filter(i => i.querySelector('.es-swatch'))
        .map(i => [i.innerText.replace(/[\\d,]+$/, '').trim(),
                   getComputedStyle(i.querySelector('.es-swatch')).backgroundColor]))""")
    return {name: tuple(int(v) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])
            for name, rgb in found.items()}


def test_leaked_points_are_drawn_in_the_warning_colour(page: Any) -> None:
    page.get_by_role("tab", name="Explore").click()
    until(page, "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)")
    choose(page, "colour-by", "knn_correct")
    wait_text(page, "#webmap .es-legend", "wrong")
    knn = swatches(page)
    choose(page, "colour-by", "leaked")
    wait_text(page, "#webmap .es-legend", "not leaked")
    leaks = swatches(page)
    assert leaks["leaked"] == knn["wrong"], (leaks, knn)  # the warning: vermillion
    assert leaks["not leaked"] == knn["correct"], (leaks, knn)
    red, green = leaks["leaked"], leaks["not leaked"]
    assert red[0] > red[2] + 80 and red[0] > red[1] + 60, leaks
    assert green[1] > green[0] + 60, leaks
