"""`embedscope analyze --first-map`: a map to look at within a minute of the vectors being stored.

Before the HNSW index is built and the full report has run (each takes many minutes at a
million points), the page can already draw the collection: PCA of every point, and a UMAP
fitted on a seeded sample of ``--first-map-points`` with every other point at the
similarity-weighted mean of its 10 nearest fitted points (exact search against the sample,
bounded blocks; no index needed). Only the map payloads (``umap``, ``pca``) and the map files
are written, and the collection's analysis record says it is a first map, so the next full
`embedscope analyze` replaces it and `--update` asks for that full run first.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import fetch, stratified_indices
from embedscope.analysis.device import resolve_device
from embedscope.analysis.errors import TooFewPointsError
from embedscope.analysis.outputs import payload_updates, write_maps
from embedscope.analysis.projections import pca, place, umap_map
from embedscope.analysis.result import Analysis, Stages
from embedscope.contract import Payload, now_iso
from embedscope.errors import UsageError
from embedscope.scratch import take
from embedscope.store import Store

#: The maps a first map draws (others need the full run).
FIRST_MAPS = ("umap", "pca")


def first_map(store: Store, s: AnalysisSettings, data_dir: Path | None = None,
              stages: Stages | None = None) -> dict[str, Any]:
    """Draw a first map of ``s.collection``: the map payloads, the analysis record and the map
    files (no report).

    Returns:
        What was drawn: run id, points, maps, the UMAP's fitted sample, timings and peak RSS.

    Raises:
        UsageError: the collection already has a full analysis (its maps exist).
        TooFewPointsError: fewer than 3 points.
    """
    s.check()
    collection = str(s.collection)
    stages = stages or Stages(s.progress)
    record = store.get_meta(collection).analysis
    if record.get("run_id") and not record.get("first_map"):
        raise UsageError(
            f"collection {collection!r} already has a full analysis (run {record['run_id']}) and "
            "its maps: --first-map draws a collection before its first full run. Run "
            "`embedscope analyze --update` for new points, or a full `embedscope analyze`.")
    with stages.stage("fetch vectors"):
        data = fetch(store, collection, 0, s.seed, s.progress, stream_from=s.stream_from,
                     scratch_dir=s.scratch_dir)
    if data.n < 3:
        raise TooFewPointsError(f"a map needs at least 3 points; {collection!r} has {data.n}")
    a = Analysis(s, data, uuid.uuid4().hex[:12], now_iso(), 0, "first map")
    a.device = resolve_device(s.device)
    chosen = [p for p in s.projection_list() if p in FIRST_MAPS] or ["pca"]
    fitted_on = None
    if "umap" in chosen and data.n > s.umap_neighbors + 1:
        with stages.stage("projection umap (sample, placed)"):
            fit = stratified_indices(data.n, min(data.n, s.first_map_points), s.seed,
                                     data.labels)
            fitted_on = len(fit)
            Y_fit = umap_map(take(data.X, fit), s.umap_neighbors, s.umap_min_dist, s.seed,
                             device=a.device)
            a.maps["umap"] = place(data.X, fit, Y_fit, 10, a.device)
    if "pca" in chosen:
        with stages.stage("pca"):
            a.maps["pca"] = pca(data.X, 2, s.seed).scores[:, :2].copy()
    fields = [Payload.projection(p) for p in a.maps]
    with stages.stage("write back payloads"):
        for updates in payload_updates(a):
            store.set_payloads(collection, updates)
    store.update_meta(collection, analysis={
        "run_id": a.run_id, "created_at": a.created_at, "fields": fields, "points": data.n,
        "first_map": True,
        "parameters": {"umap_fitted_on": fitted_on, "seed": s.seed,
                       "umap_neighbors": s.umap_neighbors, "umap_min_dist": s.umap_min_dist},
    })
    with stages.stage("map files"):
        write_maps(store, collection, data_dir)
    return {"run_id": a.run_id, "points": data.n, "maps": list(a.maps), "umap_fitted_on": fitted_on,
            "timings": stages.timings, "peak_rss_gb": max(stages.peak_rss_gb.values(), default=0.0),
            "placed": "similarity-weighted mean of the 10 nearest fitted points"
                      if fitted_on and fitted_on < data.n else None}
