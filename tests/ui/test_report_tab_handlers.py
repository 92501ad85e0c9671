"""The Report tab's handlers, called as plain functions (no browser)."""

from __future__ import annotations

import pytest

from embedscope.errors import UsageError
from tests.ui.conftest import Built


def test_report_values_show_the_latest_report(analysed: Built, session_on) -> None:
    from embedscope.analysis.report_model import Report
    from embedscope.ui import report as reports
    from embedscope.ui.report_tab import report_values

    session = session_on(analysed)
    values = report_values(session, "fashion")
    with session.store() as store:
        report = Report.read(reports.report_path(store, "fashion"))
    assert values["summary"].startswith(f"### Analysis {report.run_id}")
    for row in report.summary_rows():  # every headline figure of the typed report is shown
        assert f"| {row.figure} |" in values["summary"]
    assert values["plots"].split("<figcaption>")[1].startswith("map pca<")  # maps first
    assert f"showing **{len(values['errors'])}** of **{len(report.label_errors or [])}**" \
        in values["findings"]
    assert len(values["error_ids"]) == len(values["errors"]) <= len(report.label_errors or [])
    assert values["picked"] == "" and values["similar"] is False
    assert values["html"].endswith("fashion-report.html")


def test_report_values_without_a_collection_or_a_report_say_what_to_do(
        built: Built, session_on) -> None:
    from embedscope.ui.report_tab import report_values

    with pytest.raises(UsageError, match="choose a collection"):
        report_values(session_on(built), "")
    with pytest.raises(UsageError, match="not been analysed"):
        report_values(session_on(built), "fashion")


def test_picking_a_tile_enables_find_similar_only_on_a_real_tile() -> None:
    from embedscope.ui.report_tab import find_similar_request, pick

    assert pick(["a", "b"], 1) == ("b", True)
    assert pick(["a", "b"], 2) == ("", False)
    assert pick(["a", "b"], [0, 1]) == ("", False)
    assert find_similar_request("b").split()[0] == "b" and find_similar_request("") == ""


def test_report_tab_shows_leak_pairs_query_then_partner(analysed: Built, session_on) -> None:
    from embedscope.analysis.report_model import Report
    from embedscope.ui import report as reports
    from embedscope.ui.report_tab import report_values

    session = session_on(analysed)
    values = report_values(session, "fashion")
    with session.store() as store:
        report = Report.read(reports.report_path(store, "fashion"))
    assert report.leaks is not None and report.leaks.leaked > 0
    expected = [i for p in report.leaks.pairs[:24] for i in (p.id, p.partner_id)]
    assert values["leak_ids"] == expected and len(values["leaks"]) == len(expected)
    first = report.leaks.pairs[0]
    assert values["leaks"][0][1] == f"1 · test #{first.index} · {first.similarity:.3f}"
    assert values["leaks"][1][1] == f"1 · train #{first.partner_index}"
    assert "leaked test points" in values["summary"]
    shown = len(expected) // 2
    assert f"leaked test points: showing **{shown}** of **{report.leaks.leaked}**" \
        in values["findings"]


def test_the_findings_note_says_what_report_json_and_report_html_hold() -> None:
    from embedscope.analysis.report import HTML_ROWS
    from embedscope.ui.report import ReportView

    tiles = [("id", "cap")] * 48
    capped = ReportView("", label_errors=tiles, duplicates=tiles, leaks=tiles,
                        label_errors_total=200, duplicate_pairs_total=338,
                        duplicate_pairs_listed=200, max_list=200, leaked=40,
                        leak_pairs_listed=40, leak_splits="test").findings_note()
    assert "every one" not in capped
    assert "showing **48** of **200**" in capped and "showing **24** of **338**" in capped
    assert "leaked test points: showing **24** of **40**" in capped
    assert "the 200 most suspicious label errors (the list stops there: more may exist)" in capped
    assert "the 200 most similar of the 338 pairs" in capped and "all 40 leaks" in capped
    assert f"report.html the first {HTML_ROWS} of each" in capped
    whole = ReportView("", label_errors=tiles[:4], label_errors_total=4, duplicate_pairs_total=3,
                       duplicate_pairs_listed=3, max_list=200).findings_note()
    assert "every label error" in whole and "all 3 pairs" in whole and "leak" not in whole
