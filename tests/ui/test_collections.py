"""The collections the page lists, and the one it opens on."""

from __future__ import annotations

from pathlib import Path

from tests.ui.conftest import Built


def test_default_collection_is_the_latest_analysed(
    built: Built, analysed: Built, session_on, tmp_path: Path
) -> None:
    from embedscope.store.edge import EdgeStore

    for b, expected in ((built, "aaa"), (analysed, "fashion")):
        copy = b.copy(tmp_path / f"data-{expected}")
        with EdgeStore(copy.qdrant_dir) as store:
            store.ensure_collection("aaa", store.get_meta("fashion"))  # first by name, no analysis
        s = session_on(copy)
        names = s.collections()
        assert names == ["aaa", "fashion"]
        assert s.default_collection(names) == expected
    assert session_on(copy, collection="aaa").default_collection(names) == "aaa"
