"""`embedscope ui`: flags in, the Gradio page served on host:port."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every UISettings field as a flag (also read from EMBEDSCOPE_UI_<NAME>), then the store's."""
    from embedscope.flags import add_settings_flags
    from embedscope.settings import add_store_flags
    from embedscope.ui.config import UISettings

    add_settings_flags(p, UISettings)
    add_store_flags(p)  # interactive: a page action waits --qdrant-interactive-seconds


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Every ServeSettings field as a flag (EMBEDSCOPE_SERVE_<NAME>), then the store's."""
    from embedscope.flags import add_settings_flags
    from embedscope.settings import add_store_flags
    from embedscope.ui.config import ServeSettings

    add_settings_flags(p, ServeSettings)
    add_store_flags(p)


def register(sub: Any) -> None:
    """Add the `ui` and `serve` subcommands."""
    p = sub.add_parser(
        "ui", help="serve the web interface (search by image, k-NN, map, report)",
        description="Serve the Gradio page on 127.0.0.1:7860: search a collection by image, "
        "classify with k-NN, explore the embedding map and read the latest analysis report. "
        "The JSON API (/api/v1, docs at /api/v1/docs) is served beside it. An embedded "
        "collection is held only while a request uses it, so jobs can take it.",
    )
    add_arguments(p)
    p.set_defaults(handler=handle)
    s = sub.add_parser(
        "serve", help="serve the JSON API alone (embed, search, classify)",
        description="Serve the JSON API on 127.0.0.1:7870: /api/v1/collections, /embed, /search, "
        "/classify; OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs. Off loopback a "
        "bearer token (--api-key) is required.",
    )
    add_serve_arguments(s)
    s.set_defaults(handler=handle_serve)


def handle(args: argparse.Namespace) -> int:
    """Serve the page until interrupted."""
    from embedscope.flags import settings_from_args
    from embedscope.settings import store_settings
    from embedscope.ui.config import UISettings
    from embedscope.ui.server import build_server, run_server
    from embedscope.ui.service import Session

    settings = settings_from_args(UISettings, args)
    session = Session(settings, qdrant=store_settings(args))
    app = build_server(settings, session, page=True)  # fails before serving on bad settings
    print(f"embedscope ui on http://{settings.host}:{settings.port} "
          f"(API: http://{settings.host}:{settings.port}/api/v1/docs)", flush=True)
    run_server(app, settings, session)
    return 0


def handle_serve(args: argparse.Namespace) -> int:
    """Serve the API until interrupted."""
    from embedscope.flags import settings_from_args
    from embedscope.settings import store_settings
    from embedscope.ui.config import ServeSettings
    from embedscope.ui.server import build_server, run_server
    from embedscope.ui.service import Session

    settings = settings_from_args(ServeSettings, args)
    session = Session(settings, qdrant=store_settings(args))
    app = build_server(settings, session, page=False)
    print(f"embedscope serve on http://{settings.host}:{settings.port}/api/v1 "
          f"(docs: /api/v1/docs)", flush=True)
    run_server(app, settings, session)
    return 0
