"""One FastAPI app for the page and the API (`embedscope ui`), or the API alone (`serve`)."""

from __future__ import annotations

from typing import Any

from embedscope.ui.config import ServingSettings, UISettings
from embedscope.ui.service import Session


def build_server(settings: ServingSettings, session: Session, page: bool = True) -> Any:
    """The ASGI app: the JSON API under /api/v1 and, with ``page``, the Gradio page at /.

    Raises:
        UsageError: a non-loopback host with no API key and no login, without --insecure; a
            malformed --auth.
    """
    from embedscope.ui.api import build_api

    login = settings.credentials() if isinstance(settings, UISettings) and page else None
    settings.check_exposure(login=login is not None)
    app = build_api(session, settings)
    if page and isinstance(settings, UISettings):
        import gradio as gr

        from embedscope.ui.app import CSS, UPLOAD_JS, build_app
        from embedscope.ui.images import MB

        demo = build_app(session, settings)
        demo.queue(default_concurrency_limit=4)
        limit = int(settings.max_upload_mb * MB)
        app = gr.mount_gradio_app(app, demo, path="", auth=login, max_file_size=limit,
                                  show_error=True, css=CSS, head=UPLOAD_JS % {"limit": limit})
    return app


def run_server(app: Any, settings: ServingSettings, session: Session) -> None:
    """Serve ``app`` until interrupted, then let go of the store."""
    import uvicorn

    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        session.shutdown()
