"""The query batcher: concurrent images share a model call, and a failed call fails only its batch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embedscope.ui.batching import Batcher

#: Generous: a hung request fails the test here instead of hanging the run.
TIMEOUT = 30


class _Flaky:
    """A model call that fails as told, else gives each image's value as a 2-d vector."""

    def __init__(self) -> None:
        self.fail: BaseException | None = None
        self.short = False  # answer one vector too few
        self.started = threading.Event()
        self.go = threading.Event()
        self.go.set()

    def __call__(self, images: list[float]) -> np.ndarray:
        self.started.set()
        self.go.wait(TIMEOUT)
        if self.fail is not None:
            raise self.fail
        out = np.asarray([[x, 1.0] for x in images], np.float32)
        return out[:-1] if self.short else out


def _waiting(batcher: Batcher, model: _Flaky, n: int) -> list:
    """``n`` requests queued while the model runs another call (so that they form one batch)."""
    model.go.clear()
    model.started.clear()
    first = batcher.submit(0.0)
    assert model.started.wait(TIMEOUT)
    futures = [batcher.submit(float(i)) for i in range(1, n + 1)]
    return [first, *futures]


def test_a_failed_model_call_fails_each_waiting_request_and_later_ones_are_answered() -> None:
    model = _Flaky()
    batcher = Batcher(model, window=0.05, max_batch=8)
    futures = _waiting(batcher, model, 5)
    model.fail = RuntimeError("CUDA out of memory")
    model.go.set()
    for fut in futures:
        with pytest.raises(RuntimeError, match="CUDA out of memory"):
            fut.result(TIMEOUT)
    model.fail = None
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(lambda x: batcher.submit(x).result(TIMEOUT), [7.0, 8.0, 9.0]))
    assert [float(v[0]) for v in vectors] == [7.0, 8.0, 9.0]


def test_a_model_answer_of_the_wrong_size_fails_its_batch_and_the_next_is_answered() -> None:
    model = _Flaky()
    batcher = Batcher(model, window=0.05, max_batch=8)
    futures = _waiting(batcher, model, 4)
    model.short = True
    model.go.set()
    for fut in futures:
        with pytest.raises(Exception, match="vectors for"):
            fut.result(TIMEOUT)
    model.short = False
    assert float(batcher.submit(3.0).result(TIMEOUT)[0]) == 3.0


def test_a_model_that_stops_the_thread_still_answers_and_the_batcher_goes_on() -> None:
    model = _Flaky()
    batcher = Batcher(model, window=0.01, max_batch=8)
    model.fail = SystemExit(3)  # what a library might raise; it must not end the worker
    with pytest.raises(SystemExit):
        batcher.submit(1.0).result(TIMEOUT)
    model.fail = None
    assert float(batcher.embed(2.0)[0]) == 2.0
