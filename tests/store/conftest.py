"""Fixtures of the congruence tests: each pair of store backends, loaded the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store.congruence import (
    NAME,
    PAIRS,
    Pair,
    load,
    module_pair,
    noop,
    open_pair,
    per_test_pair,
    reset_small,
)


@pytest.fixture(params=PAIRS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Two empty backends, each with its own directory, for tests that write."""
    yield from open_pair(request, request.param, tmp_path)


@pytest.fixture
def fresh_loaded(pair: Pair) -> Pair:
    """Both backends holding the dataset, for tests that change it."""
    pair.both(load)
    return pair


@pytest.fixture(scope="module", params=PAIRS)
def loaded_shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    for shared in module_pair(request, tmp_path_factory, load):
        yield shared
        if isinstance(shared, Pair):
            shared.same(lambda s: (s.list_collections(), s.count(NAME)), "read-only tests left the data alone")


@pytest.fixture
def loaded(loaded_shared: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Both backends holding the dataset, with the overwrite applied; tests must not write."""
    yield from per_test_pair(loaded_shared, request, tmp_path, load, again=False)


@pytest.fixture(scope="module", params=PAIRS)
def small_shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from module_pair(request, tmp_path_factory, noop)


@pytest.fixture
def small(small_shared: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Both backends holding five points (reset before each bad call)."""
    yield from per_test_pair(small_shared, request, tmp_path, reset_small, again=True)
