"""Fixtures of the map tests: a synthetic labelled collection with a stored 'umap' map."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from benchmarks.bench_map import build_collection

NAME = "synthetic__fake"


def rows_event(rows: list[int], token: str | None = None) -> dict:
    """What the map's 'selection' event carries: base64 little-endian uint32 rows."""
    raw = np.asarray(rows, "<u4").tobytes()
    return {"token": token, "rows": base64.b64encode(raw).decode(), "count": len(rows)}


@pytest.fixture
def synthetic(store):
    """A 300-point labelled collection with a stored 'umap' map, on every backend."""
    xy = build_collection(store, NAME, 300)
    return store, xy


def session_of(store):
    """A page session on ``store``."""
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    return Session(UISettings(), store)
