"""What a full analysis fitted, kept beside its report so that `analyze --update` can place new points.

``fitted.joblib`` in the report directory holds the run id, the settings of the run, the number
of points it fitted and ``Analysis.fitted``: the PCA, the UMAP model (able to ``transform``), the
k-means centres (the scikit-learn model), the k-medoids medoids and HDBSCAN's fitted points in
its space with their cluster ids. It is a pickle (joblib): load only files this program wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedscope.errors import UsageError

#: The file beside report.json.
FITTED_FILE = "fitted.joblib"
#: Bumped when the layout of the file changes (an older file asks for --refit).
VERSION = 1


class ExactIndex:
    """An exact cosine search over a UMAP's training vectors, for ``UMAP.transform``.

    umap-learn keeps no search index when it is given ``precomputed_knn`` (our shared exact
    graph) and then refuses ``transform``. This object answers the one call ``transform`` makes
    of an index, ``query(X, k, epsilon) -> (indices, distances)``, exactly (blocked matrix
    products), so the model places new points against every fitted point.
    """

    #: Read by ``UMAP.transform`` to choose an epsilon (which an exact search ignores).
    _angular_trees = True

    def __init__(self, model: Any) -> None:
        """Search the training vectors of ``model`` (its ``_raw_data``: the index holds the model,
        not a second reference to the array, so the pickle stores the vectors once)."""
        self.model = model

    def query(self, X: np.ndarray, k: int, epsilon: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest training rows of each row of ``X``: (int32 indices, cosine distances)."""
        from embedscope.analysis.graph import knn_to

        idx, sim = knn_to(np.asarray(X, dtype=np.float32), self.model._raw_data, k)
        return idx.astype(np.int32), np.clip(1.0 - sim, 0.0, 2.0).astype(np.float32)


def save(a: Any, out: Path) -> Path:
    """Write ``a.fitted`` with what an update needs of the run to ``out/fitted.joblib``."""
    import joblib

    state = {
        "version": VERSION, "run_id": a.run_id, "created_at": a.created_at,
        "collection": a.settings.collection, "settings": a.settings.model_dump(mode="json"),
        "points": int(a.data.n), "k": int(a.k), "projections": list(a.maps),
        "clusterers": list(a.clusterings), "fitted": a.fitted,
    }
    path = out / FITTED_FILE
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump(state, tmp)
    tmp.replace(path)
    return path


def locate(record: dict[str, Any], others: list[Path]) -> Path:
    """The folder holding the fitted models of the collection's latest full run.

    The run records where it kept them (``fitted`` in the collection's analysis metadata); a
    run of an older version recorded only its report. ``others`` (--out, the default report
    folder) are looked at next, for a report folder moved since the run.

    Raises:
        UsageError: No folder holds ``fitted.joblib``; the message names every folder tried.
    """
    tried: list[Path] = []
    if record.get("fitted"):
        tried.append(Path(record["fitted"]).parent)
    if record.get("report"):
        tried.append(Path(record["report"]).parent)
    tried += [Path(p) for p in others]
    tried = list(dict.fromkeys(tried))
    for folder in tried:
        if (folder / FITTED_FILE).is_file():
            return folder
    where = ", ".join(str(p) for p in tried)
    raise UsageError(
        f"no fitted models of the analysis run {record.get('run_id')} (looked for {FITTED_FILE} "
        f"in {where}): the full run keeps them unless --no-keep-fitted; if the report folder "
        "moved, pass --out with its new place; else run `embedscope analyze --refit` once, "
        "then --update")


def load(out: Path, run_id: str | None) -> dict[str, Any]:
    """The fitted state of the run ``run_id`` kept in ``out``.

    Raises:
        UsageError: No state there, an older layout, or a state of another run.
    """
    import joblib

    path = out / FITTED_FILE
    if not path.is_file():
        raise UsageError(
            f"no fitted models in {out} (--update needs {FITTED_FILE}, kept by a full run with "
            "--keep-fitted): run `embedscope analyze --refit` once, then --update")
    state = joblib.load(path)
    if state.get("version") != VERSION:
        raise UsageError(f"{path} was written by another version of embedscope: run "
                         "`embedscope analyze --refit`")
    if run_id is not None and state.get("run_id") != run_id:
        raise UsageError(
            f"{path} belongs to the analysis run {state.get('run_id')}, but the collection's "
            f"latest analysis is {run_id}: run `embedscope analyze --refit`")
    return dict(state)
