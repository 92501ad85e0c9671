"""`embedscope ui`: flags in, the Gradio page served on host:port."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ui flags (each also read from EMBEDSCOPE_UI_<NAME>)."""
    p.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--auth", help="require a login: user:password")
    p.add_argument("--share", action="store_true", default=None,
                   help="also publish a public *.gradio.live link (off by default)")
    p.add_argument("--collection", help="collection selected when the page opens")
    p.add_argument("--max-upload-mb", type=float, help="largest query upload (default 10 MB)")
    p.add_argument("-k", type=int, dest="k", help="neighbours shown by default (default 10)")
    p.add_argument("--device", help="query model device: auto | cpu | cuda (default auto)")


def register(sub: Any) -> None:
    """Add the `ui` subcommand."""
    p = sub.add_parser(
        "ui", help="serve the web interface (search by image, k-NN, map, report)",
        description="Serve the Gradio page on 127.0.0.1:7860: search a collection by image, "
        "classify with k-NN, explore the embedding map and read the latest analysis report. "
        "The page keeps the collection open (embedded Qdrant: one process at a time).",
    )
    add_arguments(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Serve the page until interrupted."""
    from search.config import settings_from_args
    from ui.app import launch
    from ui.config import UISettings

    settings = settings_from_args(UISettings, args)
    settings.credentials()  # fail before starting the server
    print(f"embedscope ui on http://{settings.host}:{settings.port}", flush=True)
    launch(settings)
    return 0
