"""Values from the data are text in the page's Markdown: ui/binding.py ``escape`` and ``code``."""

from __future__ import annotations

import pytest

from embedscope.ui.binding import code, escape


@pytest.mark.parametrize(("value", "expected"), [
    ("<script>x</script>", "\\<script\\>x\\</script\\>"),
    ('"><img src=x onerror=a>', '"\\>\\<img src=x onerror=a\\>'),
    ("[a link](javascript:x)", "\\[a link\\](javascript:x)"),
    ("![img](http://x/y.png)", "\\!\\[img\\](http://x/y.png)"),
    ("**bold** & <b>", "\\*\\*bold\\*\\* \\& \\<b\\>"),
    ("a_b|c`d", "a\\_b\\|c\\`d"),
    ("two\nlines\r\n# heading", "two lines # heading"),
    ("# heading", "\\# heading"),
    ("- item", "\\- item"),
    ("12. item", "12\\. item"),
    ("Bag · test #0", "Bag · test #0"),  # a # inside a line is no markup: left as it is
    ("closing ##", "closing \\#\\#"),
])
def test_markup_in_a_value_is_escaped_and_kept_on_one_line(value: str, expected: str) -> None:
    assert escape(value) == expected


def test_code_spans_hold_any_backticks() -> None:
    assert code("plain") == "`plain`"
    assert code("a`b") == "``a`b``"
    assert code("`x") == "`` `x ``"
