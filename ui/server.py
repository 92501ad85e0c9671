"""One FastAPI app for the page and the API (`embedscope ui`), or the API alone (`serve`), behind
the one door (ui/door.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

from embedscope.ui.config import ServingSettings, UISettings
from embedscope.ui.service import Session


def build_server(settings: ServingSettings, session: Session, page: bool = True) -> Any:
    """The ASGI app: the JSON API under /api/v1 and, with ``page``, the Gradio page at /, every
    route behind the door (credentials, Host / Origin checks, bounded bodies).

    Raises:
        UsageError: a non-loopback host with no API key and no login, without --insecure; an
            empty API key; a malformed --auth.
    """
    from embedscope.ui.api import build_api
    from embedscope.ui.door import Door

    login = settings.credentials() if isinstance(settings, UISettings) else None
    settings.check_exposure(login=login is not None)
    app = build_api(session, settings)
    if page and isinstance(settings, UISettings):
        import gradio as gr

        from embedscope.ui.app import CSS, UPLOAD_JS, build_app
        from embedscope.ui.images import MB

        _agg_plots()
        demo = build_app(session, settings)
        demo.queue(default_concurrency_limit=4)
        limit = int(settings.max_upload_mb * MB)
        app = gr.mount_gradio_app(app, demo, path="", max_file_size=limit,
                                  show_error=True, css=CSS, head=UPLOAD_JS % {"limit": limit})
    return Door(app, settings, login)


def _agg_plots() -> None:
    """Name matplotlib's backend (Agg: a server draws no window) before the page serves.

    Gradio asks matplotlib for its backend around every event; left to choose, matplotlib
    imports pyplot to find one, and the page's first event after a start waited ~1 s for it.
    """
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the analysis
        return
    matplotlib.use("agg")


def run_server(app: Any, settings: ServingSettings, session: Session) -> None:
    """Serve ``app`` until interrupted, then let go of the store."""
    import uvicorn

    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        session.shutdown()


#: How long a background server waits for open connections (a page's event stream stays open
#: while its tab is) before it closes them.
GRACE_SECONDS = 2


class Served:
    """A server running in a background thread (tests, benchmarks): ``url`` and ``close()``."""

    def __init__(self, server: Any, thread: threading.Thread, url: str) -> None:
        self.server, self.thread, self.url = server, thread, url

    def close(self) -> None:
        """Stop serving within a few seconds, open page connections or not (the session stays
        open: its owner closes it)."""
        self.server.should_exit = True
        self.thread.join(GRACE_SECONDS + 2)
        if self.thread.is_alive():  # a handler that ignores the cancellation
            self.server.force_exit = True
            self.thread.join(10)


def serve_in_background(settings: ServingSettings, session: Session, page: bool = True,
                        wait_seconds: float = 120) -> Served:
    """``build_server`` under uvicorn in a daemon thread, returned once it accepts requests.

    Raises:
        UsageError: as :func:`build_server`.
        RuntimeError: the server did not start within ``wait_seconds``.
    """
    import uvicorn

    app = build_server(settings, session, page=page)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                           log_level="warning",
                                           timeout_graceful_shutdown=GRACE_SECONDS))
    thread = threading.Thread(target=server.run, daemon=True, name="embedscope-server")
    thread.start()
    deadline = time.monotonic() + wait_seconds
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        raise RuntimeError(f"the server on {settings.host}:{settings.port} did not start")
    return Served(server, thread, f"http://127.0.0.1:{settings.port}/")


def launch(settings: UISettings | None = None, session: Session | None = None,
           block: bool = True) -> Any:
    """Serve the page and the API on settings.host:settings.port behind the door, as
    `embedscope ui` does; ``block=False`` returns a handle whose ``close()`` stops it."""
    settings = settings or UISettings()
    session = session or Session(settings)
    if not block:
        return serve_in_background(settings, session)
    run_server(build_server(settings, session), settings, session)
    return None
