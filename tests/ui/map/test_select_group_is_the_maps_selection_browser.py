""""Select group" makes the group the map's selection, in headless Chromium on the shared sample:
after a box, the map counts the group (not the box), "Tag selection" tags what the map counts,
and "Add" with another box gives the group and that box together."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.test_browser import CHROMIUM
from tests.ui.test_search_browser import choose, until, wait_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]
MAP = "window.embedscopeMaps.at(-1)"


def rows_in(page: Any, box: tuple[float, float, float, float]) -> set[int]:
    """The map rows inside a rectangle of map coordinates."""
    return set(page.evaluate(f"""([a, c, b, d]) => {{ const s = {MAP}.state, out = [];
        for (let i = 0; i < s.n; i++)
          if (s.x[i] >= a && s.x[i] <= b && s.y[i] >= c && s.y[i] <= d) out.push(i);
        return out; }}""", list(box)))


def test_select_group_is_the_maps_selection_for_count_tag_and_add(page: Any) -> None:
    page.get_by_role("tab", name="Explore").click()
    until(page, "() => (window.embedscopeMaps || []).some(m => m.state.ready && m.state.n === 300)")
    first, second = (-1.0, -1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 1.0)
    boxed = page.evaluate(f"() => {MAP}.selectBox(-1, -1, 0, 0)")
    wait_text(page, "#selection-info", f"{boxed:,} selected")

    assert page.locator("#colour-by input").input_value() == "label"
    choose(page, "highlight", "Bag")
    until(page, f"() => {MAP}.state.desc.highlight !== null")
    code = page.evaluate(f"() => {MAP}.state.desc.highlight")
    bags = set(page.evaluate(f"""c => {{ const s = {MAP}.state, out = [];
        for (let i = 0; i < s.n; i++) if (s.valueA[i] === c) out.push(i); return out; }}""", code))
    assert 0 < len(bags) != boxed
    page.locator("#select-group").click()
    wait_text(page, "#selection-info", f"{len(bags):,} selected")
    # the map's selection is the group: its rows, its count
    until(page, f"n => {MAP}.state.nSelected === n", len(bags))
    selected = set(page.evaluate(f"""() => {{ const s = {MAP}.state, out = [];
        for (let i = 0; i < s.n; i++) if (s.selected[i]) out.push(i); return out; }}"""))
    assert selected == bags
    assert f"{len(bags):,} selected" in page.locator("#webmap .es-count").inner_text()

    # Add + a box: the group and the box together (not the earlier box and this one)
    page.locator("#webmap [data-op=add]").click()
    union = bags | rows_in(page, second)
    assert union != rows_in(page, first) | rows_in(page, second)
    assert page.evaluate(f"() => {MAP}.selectBox(0, 0, 1, 1, 'add')") == len(union)
    wait_text(page, "#selection-info", f"{len(union):,} selected")
    page.locator("#webmap [data-op=replace]").click()

    # "Tag selection" tags what the map counts
    page.locator("#tag-name textarea, #tag-name input").first.fill("group-and-box")
    page.locator("#tag-selection").click()
    wait_text(page, "#tag-note", f"Tagged {len(union):,} points")
