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


def register(sub: Any) -> None:
    """Add the `ui` subcommand."""
    p = sub.add_parser(
        "ui", help="serve the web interface (search by image, k-NN, map, report)",
        description="Serve the Gradio page on 127.0.0.1:7860: search a collection by image, "
        "classify with k-NN, explore the embedding map and read the latest analysis report. "
        "An embedded collection is held only while a request uses it, so jobs can take it.",
    )
    add_arguments(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Serve the page until interrupted."""
    from embedscope.flags import settings_from_args
    from embedscope.settings import store_settings
    from embedscope.ui.app import launch
    from embedscope.ui.config import UISettings
    from embedscope.ui.service import Session

    settings = settings_from_args(UISettings, args)
    settings.credentials()  # fail before starting the server
    session = Session(settings, qdrant=store_settings(args))
    print(f"embedscope ui on http://{settings.host}:{settings.port}", flush=True)
    launch(settings, session)
    return 0
