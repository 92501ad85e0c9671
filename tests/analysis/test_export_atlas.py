"""Embedding Atlas opens an export without recomputing: its own CLI, given the command `embedscope
export` prints, writes a standalone application whose data keeps our coordinates and neighbours
(no UMAP, no model, no network)."""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.export import export
from embedscope.analysis.export_card import atlas_command
from embedscope.analysis.export_config import ExportSettings

pytest.importorskip("embedding_atlas", reason="Embedding Atlas is not installed "
                    "(pip install 'embedscope[interop]')")

POINTS = 300
pytestmark = pytest.mark.slow  # Embedding Atlas's CLI: about 40 s on 2 busy cores


def _atlas() -> str:
    found = shutil.which("embedding-atlas", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("no embedding-atlas command beside this Python")
    return found


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from benchmarks.bench_map import build_collection
    from embedscope.store.edge import EdgeStore

    tmp = tmp_path_factory.mktemp("atlas")
    with EdgeStore(tmp / "qdrant") as store:
        build_collection(store, "atlas", POINTS)
        done = export(store, ExportSettings(collection="atlas", out=tmp / "out", neighbors=6,
                                            rows_per_file=120, batch_size=100, progress=False))
    return tmp, done


def test_embedding_atlas_keeps_our_coordinates_and_neighbours(exported: Any) -> None:
    import pandas as pd

    tmp, done = exported
    words = shlex.split(atlas_command(done))
    assert words[0] == "embedding-atlas" and words[1].endswith("/*.parquet")
    files = sorted(glob.glob(words[1]))  # as the shell expands it: name order
    assert len(files) == 3  # test: 60 rows in 1 file; train: 240 rows in 2 of 120
    app = tmp / "app"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp / "cache"),
           "NO_PROXY": "*", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run([_atlas(), *files, *words[2:], "--export-application", str(app)],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    ours = pd.read_parquet(done.folder / "data")
    theirs = pd.read_parquet(app / "data" / "dataset.parquet")
    assert len(theirs) == len(ours) == POINTS
    assert "projection_x" not in theirs.columns  # no UMAP of its own
    np.testing.assert_array_equal(theirs["umap_x"].to_numpy(), ours["umap_x"].to_numpy())
    np.testing.assert_array_equal(theirs["umap_y"].to_numpy(), ours["umap_y"].to_numpy())
    assert theirs["id"].tolist() == ours["id"].tolist()
    # its row numbers are ours, so each neighbour list names the same points
    assert theirs["__row_index__"].tolist() == ours["row"].tolist()
    for a, b in zip(theirs["neighbors"], ours["neighbors"], strict=True):
        assert list(a["ids"]) == list(b["ids"])
        np.testing.assert_allclose(a["distances"], b["distances"])
    props = json.loads((app / "data" / "metadata.json").read_text())["props"]
    text = json.dumps(props)
    for column in ("umap_x", "umap_y", "neighbors", "thumbnail"):
        assert f'"{column}"' in text, column
