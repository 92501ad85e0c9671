"""What the page server settles before it serves, so that the first visitor does not wait."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
import matplotlib
from embedscope.store.edge import EdgeStore
from embedscope.ui.config import UISettings
from embedscope.ui.server import build_server
from embedscope.ui.service import Session

build_server(UISettings(port=0), Session(store=EdgeStore(sys.argv[1])))
before = 'matplotlib.pyplot' in sys.modules
matplotlib.get_backend()  # what Gradio asks around every event
print(before, 'matplotlib.pyplot' in sys.modules, matplotlib.get_backend().lower())
"""


def test_the_first_event_finds_the_plot_backend_named(tmp_path: Path) -> None:
    """Left to choose, matplotlib imports pyplot to find a backend the first time Gradio asks
    (around the page's first event, ~1 s); the server names Agg before it serves."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(GRADIO_ANALYTICS_ENABLED="False", EMBEDSCOPE_DATA_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "qdrant")], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    before, after, backend = out.stdout.split()[-3:]
    assert before == "False", "building the page imported pyplot"
    assert after == "False", "asking for the backend imported pyplot"
    assert backend == "agg"
