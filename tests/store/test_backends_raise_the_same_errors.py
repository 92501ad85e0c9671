"""Congruence of errors: the same bad call raises the same embedscope error on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from embedscope.errors import CollectionNotFoundError, EmbedscopeError, MixedSpaceError, UsageError
from embedscope.store import Store, Where
from tests.store.congruence import (
    DIM,
    IDS,
    META,
    MISSING_IDS,
    NAME,
    PAYLOADS,
    VECS,
    Pair,
    one,
)


# --- errors: the same bad call raises the same embedscope error everywhere --------------------
def _case(case_id: str, call: Callable[[Store], Any], expected: type[EmbedscopeError]) -> Any:
    """One bad call and the embedscope error every backend must raise for it."""
    return pytest.param(call, expected, id=case_id)


ERROR_CASES = [
    _case("unknown-require", lambda s: s.require("nope"), CollectionNotFoundError),
    _case("unknown-get_meta", lambda s: s.get_meta("nope"), CollectionNotFoundError),
    _case("unknown-count", lambda s: s.count("nope"), CollectionNotFoundError),
    _case("unknown-count-where", lambda s: s.count("nope", Where(split="train")), CollectionNotFoundError),
    _case("unknown-summary", lambda s: s.summary("nope"), CollectionNotFoundError),
    _case("unknown-update_meta", lambda s: s.update_meta("nope", labels=[]), CollectionNotFoundError),
    _case("unknown-fetch_all", lambda s: s.fetch_all("nope"), CollectionNotFoundError),
    *(
        _case(f"unknown-{op}", call, CollectionNotFoundError)
        for op, call in [
            ("retrieve", lambda s: s.retrieve("nope", IDS[:1])),
            ("existing_ids", lambda s: s.existing_ids("nope", IDS[:1])),
            ("query_batch", lambda s: s.query_batch("nope", VECS[:1], 3, exact=True)),
            ("scroll_page", lambda s: s.scroll_page("nope", None, 10)),
            ("upsert", lambda s: s.upsert("nope", IDS[:1], VECS[:1], PAYLOADS[:1])),
            ("set_payloads", lambda s: s.set_payloads("nope", {IDS[0]: {"a": 1}})),
        ]
    ),
    _case("unknown-optimize", lambda s: s.optimize("nope"), CollectionNotFoundError),
    _case("upsert-wrong-dimension", lambda s: s.upsert(NAME, IDS[:1], np.ones((1, DIM + 1)), [{}]), UsageError),
    _case("query-wrong-dimension", lambda s: s.query_batch(NAME, np.ones((1, DIM + 1)), 3, exact=True),
          UsageError),
    _case("upsert-nan", lambda s: s.upsert(NAME, IDS[:1], one(np.full(DIM, np.nan)), [{}]), UsageError),
    _case("upsert-inf", lambda s: s.upsert(NAME, IDS[:2], np.vstack([VECS[0], np.full(DIM, np.inf)]), [{}, {}]),
          UsageError),
    _case("upsert-1d", lambda s: s.upsert(NAME, IDS[:1], VECS[0], [{}]), UsageError),
    _case("query-nan", lambda s: s.query_batch(NAME, one(np.full(DIM, np.nan)), 3, exact=True), UsageError),
    _case("query-1d", lambda s: s.query_batch(NAME, VECS[0], 3, exact=True), UsageError),
    _case("query-k0", lambda s: s.query_batch(NAME, VECS[:1], 0, exact=True), UsageError),
    _case("query-k-negative", lambda s: s.query_batch(NAME, VECS[:1], -1, exact=True), UsageError),
    _case("upsert-non-uuid-id", lambda s: s.upsert(NAME, ["not-a-uuid"], VECS[:1], [{}]), UsageError),
    _case("set_payloads-missing-point", lambda s: s.set_payloads(NAME, {MISSING_IDS[0]: {"a": 1}}), UsageError),
    _case("ensure-other-space", lambda s: s.ensure_collection(NAME, META.model_copy(update={"dimension": 8})),
          MixedSpaceError),
    _case("ensure-other-labels", lambda s: s.ensure_collection(NAME, META.model_copy(update={"labels": ["x"]})),
          UsageError),
    _case("ensure-name-with-slash", lambda s: s.ensure_collection("a/b", META), UsageError),
    _case("ensure-dimension-0", lambda s: s.ensure_collection("zero", META.model_copy(update={"dimension": 0})),
          UsageError),
]


def _outcome(store: Store, call: Callable[[Store], Any]) -> BaseException | None:
    try:
        call(store)
    except Exception as exc:  # the point is to compare whatever each backend raises
        return exc
    return None


def _describe(exc: BaseException | None) -> str:
    return "returned normally" if exc is None else f"raised {type(exc).__module__}.{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(("call", "expected"), ERROR_CASES)
def test_same_error_on_every_backend(
    small: Pair, call: Callable[[Store], Any], expected: type[EmbedscopeError]
) -> None:
    pair = small
    a, b = pair.both(lambda s: _outcome(s, call))
    detail = f"\n  {pair.names[0]}: {_describe(a)}\n  {pair.names[1]}: {_describe(b)}"
    assert isinstance(a, expected) and isinstance(b, expected), pair.vs(f"expected {expected.__name__}") + detail
    assert type(a) is type(b), pair.vs("different error types") + detail
    # a refused call leaves both stores as they were
    pair.same(lambda s: (s.list_collections(), s.count(NAME), sorted(s.existing_ids(NAME, IDS[:6]))),
              "state after the refused call")
