"""The Gradio page: header, collection row, the registered tabs and the wiring between them."""

# Handlers are plain top-level functions (here, in ui/search_handlers.py, ui/map/handlers.py);
# ui/binding.py ``bind`` turns each into a Gradio event handler. `gr` is imported inside the builders.

from __future__ import annotations

import functools
from typing import Any

from embedscope.errors import CollectionBusyError
from embedscope.ui.binding import bind, guarded, refused, update
from embedscope.ui.config import UISettings
from embedscope.ui.service import Session
from embedscope.ui.tabs import CollectionSync, TabContext, TabHandles, page_tabs

CSS = """
#status p { color: #b42318; font-weight: 600; }
#prediction h3 { margin: 0.2em 0; }
#stale-note p { color: #b54708; font-weight: 600; }
.es-hidden { display: none !important; }
/* gallery captions wrap instead of being cut with an ellipsis (every gallery of the page) */
.caption-label { white-space: normal !important; max-width: calc(100% - 8px) !important;
                 overflow-wrap: anywhere; text-overflow: clip !important; }
.caption { white-space: normal !important; text-overflow: clip !important; }
/* galleries keep their columns however few items they hold (Gradio narrows the grid to the
   item count: one 28 px thumbnail filled the whole gallery); the counts are the galleries'
   `columns` in search_tab.py, map/tab.py and report_tab.py */
#neighbours .grid-container { grid-template-columns: repeat(5, minmax(0, 1fr)) !important; }
#map-selection .grid-container, #label-errors .grid-container, #duplicates .grid-container,
#leaks .grid-container { grid-template-columns: repeat(8, minmax(0, 1fr)) !important; }
/* the Report tab's figures: full width, their own shape, captioned */
#report-plots .es-figure { margin: 0 0 1.2em 0; }
#report-plots .es-figure img { display: block; width: 100%; max-width: 1100px; height: auto; }
#report-plots figcaption { font-size: 0.9em; color: #555; margin-top: 0.3em; }
/* findings' captions: one short line on the image (ui/report.py keeps them short) */
#label-errors .caption-label, #duplicates .caption-label, #leaks .caption-label {
    font-size: 11px !important; padding: 1px 4px !important; line-height: 1.25 !important; }
"""

#: Reports files the browser refuses before upload (over the size limit; empty in the image box;
#: not an image in the image box) to the Search tab's hidden #upload-refused box, so the page's
#: banner and one toast say so in the page's words (ui/images.py ``refusal``). The refused file
#: never reaches Gradio: its own checks would add a toast of their own ("File(s) exceed the
#: maximum allowed size …"), an "Error" in the box and, for an empty image, the server's warning
#: again. %(limit)d: the limit in bytes.
UPLOAD_JS = """
<script>
(() => {
  const LIMIT = %(limit)d;
  function check(files, box) {
    for (const f of files || []) {
      let reason = null;
      if (f.size > LIMIT) reason = 'size';
      // an empty file in the file box is uploaded, and the server's check answers it (once)
      else if (f.size === 0 && box.id !== 'query-file') reason = 'empty';
      else if (box.id === 'query-image' && !(f.type || '').startsWith('image/')) reason = 'type';
      if (!reason) continue;
      const input = document.querySelector('#upload-refused textarea, #upload-refused input');
      if (!input) return false;
      input.value = JSON.stringify({name: f.name, size: f.size, type: f.type, reason: reason,
                                    nonce: Date.now()});
      input.dispatchEvent(new Event('input', {bubbles: true}));
      return true;
    }
    return false;
  }
  function box(target) {
    return target instanceof Element ? target.closest('#query-file, #query-image') : null;
  }
  document.addEventListener('change', (e) => {
    const b = box(e.target);
    if (b && e.target.type === 'file' && check(e.target.files, b)) {
      e.stopImmediatePropagation();
      e.target.value = '';  // the same file chosen again is an event again
    }
  }, true);
  document.addEventListener('drop', (e) => {
    const b = box(e.target);
    if (b && e.dataTransfer && check(e.dataTransfer.files, b)) {
      e.stopImmediatePropagation();
      e.preventDefault();
    }
  }, true);
})();
</script>
"""


NO_COLLECTION = "No collection yet: run `embedscope ingest --dataset …` first."


def build_app(session: Session | None = None, settings: UISettings | None = None) -> Any:
    """The page as a gr.Blocks (not launched): the header, the collection row, then every
    registered tab (see ui/tabs.py ``TABS``) in its place.

    Args:
        session: The store and model session to use (default: one from ``settings``).
        settings: UI settings (default: from EMBEDSCOPE_UI_* variables).
    """
    import gradio as gr

    settings = settings or (session.settings if session else UISettings())
    session = session or Session(settings)

    with gr.Blocks(title="embedscope", analytics_enabled=False) as demo:
        gr.Markdown("# embedscope\nSearch an image collection by image, classify with k-NN, "
                    "explore its embedding map and read its analysis report.")
        with gr.Row():
            collection = gr.Dropdown(label="Collection", choices=[], scale=3,
                                     elem_id="collection")
            reload = gr.Button("Reload collections", scale=1)
        info = gr.Markdown(elem_id="collection-info")
        status = gr.Markdown(elem_id="status")
        ctx = TabContext(session, settings, collection, status, guarded(status))
        ctx.shared["collection_info"] = info
        # Outside the tabs, so it is always in the page (a hidden tab's components may not be).
        ctx.shared["find_similar"] = gr.Textbox(elem_id="find-similar",
                                                elem_classes=["es-hidden"], show_label=False)

        with gr.Tabs(elem_id="tabs") as tab_set:
            ctx.shared["tabs"] = tab_set
            tabs = [tab.build(ctx) for tab in page_tabs()]
        sync = _collection_sync(ctx, info, tabs)
        components = {"collection": collection, "status": status}
        outputs = [collection, *sync.outputs]
        busy = [info]  # progress shows there: the status banner shows messages, not timers
        demo.load(bind(refresh, components, session, sync), None, outputs, show_progress_on=busy)
        reload.click(bind(refresh, components, session, sync), None, outputs, show_progress_on=busy)
        collection.input(bind(on_collection, components, sync), collection, sync.outputs,
                         show_progress_on=busy)
        for tab in tabs:
            if tab.wire is not None:
                tab.wire(sync)

    return demo


def refresh(session: Session, sync: CollectionSync) -> dict:
    """Page load and "Reload collections": the list of collections, and the chosen one shown."""
    names = session.collections()
    chosen = session.default_collection(names)
    return {**sync.values(chosen), "collection": update(choices=names, value=chosen)}


def on_collection(sync: CollectionSync, name: str | None) -> dict:
    """Another collection chosen: every tab shows it."""
    return sync.values(name)


def _collection_sync(ctx: TabContext, info: Any, tabs: list[TabHandles]) -> CollectionSync:
    """The page's answer to a collection change: the info line, then each tab's hook."""
    hooks = [tab.on_collection for tab in tabs if tab.on_collection is not None]
    outputs = [info, *(c for tab in tabs for c in tab.outputs), ctx.status]
    return CollectionSync(outputs, functools.partial(_collection_values, ctx.session, info,
                                                     ctx.status, hooks))


def _collection_values(session: Session, info: Any, status: Any, hooks: list[Any],
                       name: str | None) -> dict:
    """Each tab's part of a collection change, and the collection's line. While a job holds the
    collection, the line and the banner say so and the picker keeps it (a page loaded
    meanwhile is not left empty)."""
    out: dict = {}
    busy: CollectionBusyError | None = None
    for hook in hooks:
        try:
            out.update(hook(name))
        except CollectionBusyError as exc:
            busy = exc
    out[info] = session.describe(name) if name else NO_COLLECTION
    if busy is not None:
        out.update(refused(busy, status))
    return out

