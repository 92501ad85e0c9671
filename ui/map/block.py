"""The WebGL map block: the gr.HTML element, its CSS and the script that loads the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedscope.errors import UsageError
from embedscope.ui.map.published import PublishedMaps, file_url

#: The bundle built from ui/frontend (regl-scatterplot + src/map.js), shipped in the wheel.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
BUNDLE = STATIC_DIR / "embedscope-map.js"
#: Height of the plot in pixels.
HEIGHT = 620

CSS = """
.es-root { font-size: 13px; }
.es-toolbar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 6px; }
.es-group { display: inline-flex; border: 1px solid #ccc; border-radius: 6px; overflow: hidden; }
.es-toolbar button { padding: 3px 10px; background: #f6f6f6; border: 0; cursor: pointer; }
.es-group button + button { border-left: 1px solid #ccc; }
.es-toolbar > button { border: 1px solid #ccc; border-radius: 6px; }
.es-toolbar button.es-on { background: #2563eb; color: white; }
.es-count { margin-left: auto; font-weight: 600; }
.es-body { display: flex; gap: 10px; }
.es-plot { position: relative; flex: 1; height: @H@px; border: 1px solid #ddd;
  border-radius: 6px; overflow: hidden; background: white; }
.es-plot canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.es-empty { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; color: #666; padding: 2em; text-align: center; }
.es-empty[hidden] { display: none; }
.es-tooltip { position: absolute; pointer-events: none; background: white; border: 1px solid #999;
  border-radius: 6px; padding: 4px; box-shadow: 0 2px 8px rgba(0,0,0,.2); max-width: 170px; z-index: 5; }
.es-tooltip img { display: block; width: 128px; height: 128px; object-fit: contain;
  image-rendering: pixelated; }
.es-caption { font-size: 12px; margin-top: 2px; }
.es-legend { width: 190px; max-height: @H@px; overflow-y: auto; font-size: 12px; }
.es-legend-title { font-weight: 600; margin-bottom: 4px; }
.es-item { display: flex; align-items: center; gap: 6px; white-space: nowrap; }
.es-swatch { width: 11px; height: 11px; border-radius: 50%; flex: none; }
.es-ring { width: 9px; height: 9px; border-radius: 50%; border: 2px solid; flex: none; }
.es-rings-title { margin-top: 6px; }
.es-n { color: #777; margin-left: auto; }
.es-ramp { height: 12px; border-radius: 3px; }
.es-labels { position: absolute; inset: 0; pointer-events: none; overflow: hidden; }
.es-label { position: absolute; transform: translate(-50%, -50%); background: rgba(255,255,255,.85);
  border: 1px solid #999; border-radius: 4px; padding: 0 4px; font-size: 11px; font-weight: 600;
  white-space: nowrap; pointer-events: auto; cursor: default; }
.es-label[hidden] { display: none; }
.es-note { margin-top: 8px; color: #666; font-size: 11px; white-space: normal; }
.es-ramp-ends { display: flex; justify-content: space-between; }
""".replace("@H@", str(HEIGHT))

JS_ON_LOAD = """
// Events this block triggers (Gradio wires a listener per quoted name): 'selection'
const root = element.querySelector('.es-root');
window.EmbedscopeMap.mount(root, {trigger, server, props, watch});
"""


def script_tag() -> str:
    """The <script> that loads the bundle from this server (no CDN)."""
    version = int(BUNDLE.stat().st_mtime) if BUNDLE.exists() else 0
    return f'<script src="{file_url(BUNDLE)}?v={version}"></script>'


def block(server_functions: list[Any], elem_id: str = "webmap") -> Any:
    """The gr.HTML block of the map (call inside a gr.Blocks).

    Args:
        server_functions: Python functions the map calls: ``point_info(token, row)``.
        elem_id: The block's DOM id.

    Raises:
        UsageError: the bundle is missing (build it: ``cd ui/frontend && npm ci && npm run build``).
    """
    import gradio as gr

    if not BUNDLE.exists():
        raise UsageError(f"the map's JavaScript bundle {BUNDLE} is missing: reinstall embedscope, "
                         "or build it with `cd ui/frontend && npm ci && npm run build`.")
    gr.set_static_paths([STATIC_DIR])
    return gr.HTML(
        value=json.dumps({"token": None, "message": "Loading the map…"}),
        html_template='<div class="es-root"></div>', css_template=CSS, js_on_load=JS_ON_LOAD,
        head=script_tag(), server_functions=server_functions, elem_id=elem_id,
        apply_default_css=False, min_height=HEIGHT + 40,
    )


def serve_folder(published: PublishedMaps) -> None:
    """Let the page fetch the published maps' binary files."""
    import gradio as gr

    gr.set_static_paths([published.folder])
