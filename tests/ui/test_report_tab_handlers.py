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
    assert values["leaks"][0][1].startswith("leak 1: test ")
    assert values["leaks"][1][1].startswith("leak 1: train ")
    assert "leaked test points" in values["summary"]
