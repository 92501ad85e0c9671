"""docs/interop.md's FiftyOne recipe, run as written on an export: a FiftyOne dataset with our
labels, splits, tags and scores, embedscope's map as its visualization, and (where a Qdrant server
runs) a Qdrant similarity index. Skipped with the reason where FiftyOne or its database is not
there (`pip install 'embedscope[interop]'`; its MongoDB cannot be installed offline)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.analysis.export import export
from embedscope.analysis.export_config import ExportSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "interop.md"
POINTS = 120
pytestmark = pytest.mark.slow

pytest.importorskip("fiftyone", reason="FiftyOne is not installed (pip install "
                    "'embedscope[interop]'); on the development machine its MongoDB cannot be "
                    "installed offline")


def _database_or_skip() -> None:
    """Skip unless FiftyOne's database answers (started by FiftyOne, or its database_uri)."""
    probe = "import fiftyone.core.odm as odm; odm.get_db_conn()"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=180, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("FiftyOne's database did not start within 180 s")
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"FiftyOne's database does not start here: {last}")


def recipe_blocks() -> list[str]:
    """The two python blocks of docs/interop.md's FiftyOne section: the dataset, the index."""
    section = DOC.read_text(encoding="utf-8").split("## FiftyOne", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_recipe_is_in_the_docs() -> None:
    blocks = recipe_blocks()
    assert len(blocks) == 2
    assert "compute_visualization(dataset, points=" in blocks[0]
    assert 'backend="qdrant"' in blocks[1]


def test_the_fiftyone_recipe_builds_the_dataset_with_our_map(tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    import pandas as pd

    from benchmarks.bench_map import build_collection
    from embedscope.store.edge import EdgeStore

    _database_or_skip()
    with EdgeStore(tmp_path / "qdrant") as store:
        build_collection(store, "fo", POINTS)
        store.set_payloads("fo", {next(iter(store.scroll("fo", with_payload=False))).id:
                                  {"tags": ["odd one"]}})
        export(store, ExportSettings(collection="fo", out=tmp_path / "out", progress=False))
    first, second = recipe_blocks()
    code = first.replace('Path("fmnist-export")', f"Path({str(tmp_path / 'out')!r})")
    code = code.replace('"fmnist-embedscope"', '"embedscope-test-export"')
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), scope)  # noqa: S102 - the documented recipe, as written
    dataset = scope["dataset"]
    ours = pd.read_parquet(tmp_path / "out" / "data")
    try:
        assert len(dataset) == POINTS
        got = {s["embedscope_id"]: s for s in dataset}
        for r in ours.itertuples(index=False):
            s = got[r.id]
            assert s["ground_truth"].label == r.label_name and r.split in s.tags
            assert Path(s.filepath).read_bytes() == r.thumbnail["bytes"]
        assert sum("odd one" in s.tags for s in dataset) == 1
        points = dataset.load_brain_results("umap").points
        np.testing.assert_allclose(points, ours[["umap_x", "umap_y"]].to_numpy(), rtol=1e-6)
        try:
            url = request.getfixturevalue("qdrant_server_url")
        except pytest.skip.Exception:
            return  # no Qdrant server (Docker): the dataset part ran
        index = second.replace("http://localhost:6333", url)
        index = index.replace("session = fo.launch_app(dataset)", "")
        exec(compile(index, str(DOC), "exec"), scope)  # noqa: S102
        assert len(scope["view"]) == 10
    finally:
        dataset.delete()
