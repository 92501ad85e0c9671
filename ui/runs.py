"""The page's quick analysis, run off the request path: one background run per collection, its
progress line, and a store view that takes the session's store one call at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from embedscope.errors import EmbedscopeError, UsageError
from embedscope.store import Store
from embedscope.ui.binding import escape
from embedscope.ui.service import Session


class SharedStore:
    """The session's store, taken for each call (and each page of an iterator) only.

    A long job (the page's analysis) reads and writes through it while other requests get the
    store between its calls, instead of waiting for the whole job.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        with self._session.store() as s:
            attr = getattr(s, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._session.store() as s:
                out = getattr(s, name)(*args, **kwargs)
            if isinstance(out, Iterator):
                return self._each(out)
            return out

        return call

    def _each(self, it: Iterator[Any]) -> Iterator[Any]:
        while True:
            with self._session.store():
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item


#: ``analyse(store, collection, settings, stages) -> status line``: the page's quick analysis
#: (``stages``: its analysis.result.Stages, whose ``current`` stage the progress line shows).
Analyse = Callable[[Any, str, Any, Any], str]


@dataclass
class Run:
    """One background analysis of a collection."""

    collection: str
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: str | None = None  # the job's status line
    error: str | None = None
    stages: Any = None  # the job's analysis.result.Stages

    @property
    def running(self) -> bool:
        """Whether the job still runs."""
        return self.finished is None

    def line(self) -> str:
        """The progress line the page shows."""
        if self.running:
            stage = getattr(self.stages, "current", None)
            doing = f": {escape(stage)}" if stage else ""
            return (f"⏳ Analysis of **{escape(self.collection)}** running for "
                    f"{time.monotonic() - self.started:.0f} s{doing} (the page keeps serving "
                    "meanwhile) …")
        if self.error is not None:
            return f"⚠️ Analysis of **{escape(self.collection)}** failed: {escape(self.error)}"
        return f"✅ {escape(self.result)}"


class Runs:
    """The page's analyses in background threads, at most one per collection."""

    def __init__(self, session: Session, analyse: Analyse | None = None) -> None:
        self.session = session
        self._analyse = analyse
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def start(self, collection: str, settings: Any) -> Run:
        """Start the page's analysis of ``collection`` unless one runs already.

        Raises:
            UsageError: no collection given.
        """
        if not collection:
            raise UsageError("choose a collection first.")
        with self._lock:
            run = self._runs.get(collection)
            if run is not None and run.running:
                return run
            run = self._runs[collection] = Run(collection)
        threading.Thread(target=self._work, args=(run, settings), daemon=True,
                         name=f"embedscope-analysis-{collection}").start()
        return run

    def _work(self, run: Run, settings: Any) -> None:
        from embedscope.analysis.result import Stages
        from embedscope.ui.report import run_quick

        analyse = self._analyse or run_quick
        run.stages = Stages(progress=False)
        try:
            shared = cast(Store, SharedStore(self.session))  # the Store calls run_quick makes
            run.result = analyse(shared, run.collection, settings, run.stages)
        except EmbedscopeError as exc:
            run.error = str(exc)
        except Exception as exc:  # the page must say so, not hang on "running"
            run.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.session.forget(run.collection)
            run.finished = time.monotonic()

    def get(self, collection: str | None) -> Run | None:
        """The latest run of ``collection`` (running or not), if any."""
        return self._runs.get(collection or "")

    def wait(self, collection: str, timeout: float = 600.0) -> Run | None:
        """Block until the run of ``collection`` ends (tests, scripts)."""
        deadline = time.monotonic() + timeout
        run = self.get(collection)
        while run is not None and run.running and time.monotonic() < deadline:
            time.sleep(0.05)
        return run

