"""`embedscope ui`: flags in, the Gradio page served on host:port."""

from __future__ import annotations

import argparse
from pathlib import Path
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
    e = sub.add_parser(
        "export-map", help="write a collection's map as a folder that opens without a server",
        description="Write the WebGL map of a collection (zoom, pan, hover thumbnails, colour by "
        "every stored field, lasso and box selection with its gallery and CSV export) into a "
        "folder: index.html opens from disk (file://) or any static host, with no server and no "
        "store. Thumbnails are packed into JPEG atlas images.",
    )
    from embedscope.flags import add_settings_flags
    from embedscope.settings import add_store_flags
    from embedscope.ui.config import ExportMapSettings

    add_settings_flags(e, ExportMapSettings)
    add_store_flags(e, batch=True)
    e.set_defaults(handler=export_map)
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


def export_map(args: argparse.Namespace) -> int:
    """Write the folder and say what it holds."""
    from embedscope.flags import settings_from_args
    from embedscope.settings import store_settings
    from embedscope.store import open_store
    from embedscope.ui.config import ExportMapSettings
    from embedscope.ui.map.export import export_map as write

    s = settings_from_args(ExportMapSettings, args)
    s.check()
    with open_store(store_settings(args), batch=True) as store:
        done = write(store, str(s.collection), Path(str(s.out)), s.projection, s.thumbnail_size,
                     s.atlas_columns, s.atlas_quality, s.progress, s.max_points, s.density_from)
    if done.map_points > done.points:
        print(f"the map has {done.map_points:,} points: exported a seeded sample of "
              f"{done.points:,} (--max-points); its density overview counts every point")
    print(f"exported the {done.projection} map of {s.collection}: {done.points} points, "
          f"{done.thumbnails} thumbnails in {done.atlases} atlas images, "
          f"{done.bytes / 1e6:.1f} MB, {done.seconds:.1f} s")
    print(f"open: {(done.folder / 'index.html').resolve().as_uri()}")
    return 0
