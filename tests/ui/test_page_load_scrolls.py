"""A page load and a random pick read no pass over the points: splits and tags come from the
engine's facets, random points from its random sampling.

The store is a real embedded Qdrant Edge store that counts the points its scrolls return; at
20,000 points, a scroll of every point (the split list, the tag list) would be visible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import CollectionMeta
from embedscope.store.edge import EdgeStore

N = 20_000


class CountingStore(EdgeStore):
    """The embedded store, counting what its scrolls return (every scroll goes through
    ``scroll_page``)."""

    scrolled = 0
    pages = 0

    def scroll_page(self, *args: Any, **kwargs: Any) -> Any:
        records, offset = super().scroll_page(*args, **kwargs)
        self.scrolled += len(records)
        self.pages += 1
        return records, offset


def _collection(root: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 8)).astype(np.float32)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(N)]
    payloads = [{"split": ("train", "test", "val")[i % 3], "label": i % 4, "index": i,
                 **({"tags": ["odd", f"t{i % 5}"]} if i % 2 else {})} for i in range(N)]
    with EdgeStore(root) as store:
        store.ensure_collection("big", CollectionMeta(model="synthetic", dimension=8,
                                                      labels=["a", "b", "c", "d"]))
        store.upsert("big", ids, X, payloads)


def _page_load(demo: Any) -> dict:
    """Run the page's load event as Gradio does on a first visit."""
    loads = [f for f in demo.fns.values() if any(t[1] == "load" for t in f.targets)]
    assert len(loads) == 1
    return loads[0].fn()


def test_a_page_load_scrolls_no_pass_over_the_points(tmp_path: Path) -> None:
    from embedscope.ui.app import build_app
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    _collection(tmp_path / "qdrant")
    store = CountingStore(tmp_path / "qdrant")
    session = Session(UISettings(), store)
    try:
        values = _page_load(build_app(session))
        # the filters are there: every split and tag, from the facets
        lists = [[x if isinstance(x, str) else x[0] for x in v["choices"][1:]]
                 for v in values.values() if isinstance(v, dict) and v.get("choices")]
        assert ["test", "train", "val"] in lists
        assert ["odd", "t0", "t1", "t2", "t3", "t4"] in lists
        assert store.scrolled < N // 10, f"a page load read {store.scrolled} of {N} points"
        assert session.splits("big") == ["test", "train", "val"]
        assert session.tags("big") == ["odd", "t0", "t1", "t2", "t3", "t4"]
        assert store.scrolled < N // 10
        # a random pick (the Search tab's "random" and "random of a class") reads no pass
        picks = {session.pick_point("big", "random") for _ in range(20)}
        picks |= {session.pick_point("big", "random of a class", "b") for _ in range(20)}
        assert len(picks) > 30 and store.scrolled < N // 10, store.scrolled
    finally:
        session.shutdown()
