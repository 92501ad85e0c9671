"""`analyze --update`: place the points ingested since the last full run with the models it kept.

A point is new when it has no coordinates of the run's first map (no cluster id of its first
clustering when the run drew no map) and no update of this run placed it yet (its ``placed_by``
payload holds the run id), so a point counts as new once even where no map could place it
(t-SNE). The fitted models are found where the full run recorded them (``fitted`` in the
collection's analysis metadata), whatever --out says now. The new points get what the
registrations' ``place`` functions compute from ``fitted.joblib`` (UMAP / PCA ``transform``, the
nearest k-means centre, k-medoids medoid, HDBSCAN's nearest fitted point), the per-point scores
from their k-NN among all points, and the leak check of the full run (embedscope.search.leaks):
each new query-split point against every reference-split point. Their payloads are written,
nothing else is. Old points keep every payload value, and the run's figures are not recomputed:
the report says which.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.analysis import fitted as kept
from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import fetch
from embedscope.analysis.device import resolve_device
from embedscope.analysis.graph import Neighbours, knn_to
from embedscope.analysis.index_graph import index_built, moved_out_of_index
from embedscope.analysis.job import default_out, graph_k
from embedscope.analysis.leaks import marks_of
from embedscope.analysis.outputs import write_maps
from embedscope.analysis.registry import CLUSTERERS, PROJECTIONS, SCORES
from embedscope.analysis.report import write_html, write_json
from embedscope.analysis.report_model import Report
from embedscope.analysis.result import Analysis, Clustering, Stages
from embedscope.contract import Payload, now_iso
from embedscope.errors import UsageError
from embedscope.scratch import take
from embedscope.search.leaks import find_leaks
from embedscope.store import Store

#: What an update leaves as the full run computed it (they describe the run's points).
NOT_RECOMPUTED = [
    "silhouettes (embedding, maps, per class)", "trustworthiness", "ARI/NMI and contingency tables",
    "k-NN accuracy", "label errors", "near-duplicates",
    "leaks of the older query points (a new reference point may be a near-duplicate of one)",
    "the k curve",
    "PCA explained variance", "plots and thumbnail grids",
    "the per-point scores of the older points (their neighbours may now include new points)",
]


@dataclass
class Update:
    """What the registered ``place`` functions get: the run's settings, every fitted object and
    the maps of the new points placed so far (projections are placed before clusterings)."""

    settings: AnalysisSettings
    fitted: dict[str, Any]
    maps: dict[str, np.ndarray] = field(default_factory=dict)


def neighbours_among_all(X: np.ndarray, rows: np.ndarray, k: int, device: str = "cpu") -> Neighbours:
    """The exact ``k`` nearest other points (cosine, among every row of ``X``) of ``rows``."""
    k = min(k, len(X) - 1)
    idx, sim = knn_to(take(X, rows), X, k + 1, device)
    keep = idx != rows[:, None]
    keep[keep.all(axis=1), -1] = False  # ties pushed the point itself out: drop the last
    m = len(rows)
    return Neighbours(idx[keep].reshape(m, k), sim[keep].reshape(m, k),
                      np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32), 0)


def _new_rows(data: Any, reference: str, run_id: str) -> np.ndarray:
    """The rows without coordinates of the run's first map (``reference``) that no update of
    this run has placed yet (``placed_by``)."""
    return np.flatnonzero(np.array(
        [v is None and by != run_id
         for v, by in zip(data.extra[reference], data.extra[Payload.PLACED_BY], strict=True)],
        dtype=bool))


def _report_dir(record: dict[str, Any], s: AnalysisSettings, data_dir: Path | None) -> Path:
    """Where the run kept its fitted models (and its report): as recorded, else --out or the
    default report folder."""
    others = [Path(s.out)] if s.out is not None else []
    return kept.locate(record, [*others, default_out(s.model_copy(update={"out": None}), data_dir)])


def run_update(
    store: Store, s: AnalysisSettings, data_dir: Path | None = None
) -> tuple[dict[str, Any], Path]:
    """Place the new points of ``s.collection`` and update its report.

    Args:
        store: The store holding the collection.
        s: The settings (``collection``, ``out``, ``progress``, ``update_refit_share``); the
            methods' parameters are those of the full run, read from its fitted state.
        data_dir: Where reports go without --out (None: QdrantSettings().data_dir).

    Returns:
        The update's entry of the report's ``updates`` (see ``Report.updates``) and the report
        directory.

    Raises:
        UsageError: No full run yet, no fitted state beside its report, or --no-write-back.
    """
    s.check()
    if not s.write_back:
        raise UsageError("--update writes the new points' payloads: drop --no-write-back")
    collection = str(s.collection)
    record = dict(store.get_meta(collection).analysis)
    if not record.get("run_id") or record.get("first_map"):
        what = "only a first map (--first-map)" if record.get("run_id") else "no analysis yet"
        raise UsageError(f"collection {collection!r} has {what}: run `embedscope analyze "
                         f"--collection {collection}` (a full run) before --update")
    out = _report_dir(record, s, data_dir)
    stages = Stages(s.progress)
    start = time.perf_counter()
    with stages.stage("load fitted models"):
        state = kept.load(out, record["run_id"])
    fs = AnalysisSettings(**{**state["settings"], "collection": collection,
                             "progress": s.progress, "out": str(out)})
    maps, clus = list(state["projections"]), list(state["clusterers"])
    if not maps and not clus:
        raise UsageError(f"the analysis {record['run_id']} drew no map and no clustering: "
                         "nothing to place; run `embedscope analyze --refit`")
    reference = Payload.projection(maps[0]) if maps else Payload.cluster(clus[0])
    with stages.stage("fetch vectors"):
        data = fetch(store, collection, 0, 0, s.progress,
                     fields=(reference, Payload.PLACED_BY, *(Payload.cluster(c) for c in clus)),
                     stream_from=s.stream_from, scratch_dir=s.scratch_dir)
    run_id = str(record["run_id"])
    new = _new_rows(data, reference, run_id)
    before = int(record.get("updated_points", 0))
    share = (before + len(new)) / max(int(state["points"]), 1)
    entry: dict[str, Any] = {
        "update_id": uuid.uuid4().hex[:12], "created_at": now_iso(), "new_points": int(len(new)),
        "fitted_points": int(state["points"]), "placed_since_fit": before + int(len(new)),
        "share_of_fitted": round(share, 4), "refit_share": s.update_refit_share,
        "suggest_refit": share > s.update_refit_share, "placed": {}, "unplaced": [],
        "not_recomputed": NOT_RECOMPUTED,
    }
    if len(new) == 0:
        entry["seconds"] = round(time.perf_counter() - start, 3)
        return entry, out
    u = Update(fs, state["fitted"])
    clusters = _place_all(maps, clus, state["fitted"], take(data.X, new), u, stages, entry)
    a = _scores_of_new(fs, data, new, record, state, clusters, stages, entry)
    was_built = index_built(store, collection, data.total)
    with stages.stage("write back payloads"):
        _write_back(store, collection, data.ids, new, u.maps, clusters, a.point_fields,
                    {**a.row_payloads, Payload.PLACED_BY: dict.fromkeys(new.tolist(), run_id)})
    _reindex(store, collection, s.reindex and was_built, len(new), stages)
    entry["seconds"] = round(time.perf_counter() - start, 3)
    entry["timings"] = stages.timings
    with stages.stage("report"):
        _update_report(out, data.total, len(new), entry)
    fields = list(dict.fromkeys([*record.get("fields", []), *entry["placed"]]))
    store.update_meta(collection, analysis={
        **record, "fields": fields, "points": int(record.get("points", 0)) + int(len(new)),
        "updated_points": before + int(len(new)), "updated_at": entry["created_at"],
        "update_id": entry["update_id"],
    })
    with stages.stage("map files"):
        write_maps(store, collection, data_dir)
    return entry, out


def _place_all(maps: list[str], clus: list[str], fitted: dict[str, Any], X_new: np.ndarray,
               u: Update, stages: Stages, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """Place the new points with each fitted map (into ``u.maps``) and clustering (returned);
    ``entry`` records what placed them and what could not be placed."""
    clusters: dict[str, np.ndarray] = {}
    for kind, names, registry in (("map", maps, PROJECTIONS), ("cluster", clus, CLUSTERERS)):
        for name in names:
            place = _place_of(registry, name)
            fit = fitted.get(f"{kind}/{name}")
            if place is None or fit is None:
                entry["unplaced"].append(name)
                continue
            with stages.stage(f"place {name}"):
                if kind == "map":
                    u.maps[name] = np.asarray(place(fit, X_new, u), dtype=np.float64)
                else:
                    try:
                        clusters[name] = np.asarray(place(fit, X_new, u), dtype=np.int64)
                    except ValueError:  # e.g. HDBSCAN on a UMAP map that could not be placed
                        entry["unplaced"].append(name)
                        continue
            field = Payload.projection(name) if kind == "map" else Payload.cluster(name)
            entry["placed"][field] = int(len(X_new))
    return clusters


def _scores_of_new(fs: AnalysisSettings, data: Any, new: np.ndarray, record: dict[str, Any],
                   state: dict[str, Any], clusters: dict[str, np.ndarray], stages: Stages,
                   entry: dict[str, Any]) -> Analysis:
    """Every registered per-point score of the new points, from their exact k-NN among all."""
    a = Analysis(fs, data, str(record["run_id"]), str(record.get("created_at", "")),
                 int(state["k"]), "fitted")
    a.device = resolve_device(fs.device)
    with stages.stage("k-NN of the new points among all"):
        a.graph = neighbours_among_all(data.X, new, graph_k(a), a.device)
        a.graph_rows, a.graph_to_all = new, True
    if "kmeans" in clusters:  # representativeness of unlabelled points groups by k-means
        full = np.array([-1 if v is None else int(v)
                         for v in data.extra[Payload.cluster("kmeans")]], dtype=np.int64)
        full[new] = clusters["kmeans"]
        a.clusterings["kmeans"] = Clustering("kmeans", full)
    _leaks_of_new(a, new, stages, entry)
    with stages.stage("per-point scores"):
        for score in SCORES.values():
            values = score.run(a)
            if values is not None:
                a.point_fields[score.name] = np.asarray(values)
                entry["placed"][score.name] = int(len(new))
    return a


def _reindex(store: Store, collection: str, was_built: bool, written: int,
             stages: Stages) -> None:
    """The index built again when the write-back moved enough points out of it (--reindex;
    index_graph.moved_out_of_index)."""
    if moved_out_of_index(was_built, written):
        with stages.stage("re-index after write-back"):
            store.optimize(collection)


def _leaks_of_new(a: Analysis, new: np.ndarray, stages: Stages, entry: dict[str, Any]) -> None:
    """The full run's leak search for the new query-split points only (every reference-split
    point, old and new, is a candidate partner): sets ``a.leaks`` (the ``leaked`` score), the
    ``leak`` payloads of the new query points and ``entry["leaks"]``."""
    s, data = a.settings, a.data
    if not data.splits or s.leak_reference_split not in data.splits:
        return
    is_new = np.zeros(data.n, dtype=bool)
    is_new[new] = True
    splits = [v if v == s.leak_reference_split or is_new[i] else None
              for i, v in enumerate(data.splits)]
    with stages.stage("leaks of the new points"):
        leaks = find_leaks(data.X, splits, s.effective_leak_threshold(), s.leak_reference_split,
                           s.leak_query_list(), block=s.chunk_size)
    if not leaks.query_splits:
        return
    a.leaks = leaks
    a.row_payloads[Payload.LEAK] = marks_of(leaks, data.ids)
    order = np.lexsort((leaks.rows, -leaks.similarities))[:s.max_list]
    entry["leaks"] = {
        "threshold": leaks.threshold, "reference_split": leaks.reference_split,
        "query_splits": leaks.query_splits, "new_query_points": int(len(leaks.query_rows)),
        "leaked": int(len(leaks.rows)),
        "pairs": [{"id": data.ids[int(leaks.rows[o])], "partner": data.ids[int(leaks.partners[o])],
                   "similarity": round(float(leaks.similarities[o]), 6)} for o in order],
    }


def _place_of(registry: Any, name: str) -> Any:
    """The registered ``place`` of a method (None: not registered any more, or cannot place)."""
    if name not in registry:
        return None
    return registry[name].place


def _write_back(
    store: Store, collection: str, ids: Sequence[str], rows: np.ndarray,
    maps: dict[str, np.ndarray], clusters: dict[str, np.ndarray], scores: dict[str, np.ndarray],
    row_payloads: dict[str, dict[int, Any]], chunk: int = 20_000,
) -> None:
    """The payloads of the new rows only (in chunks); ``row_payloads`` maps a field to its value
    per row of the collection (rows it does not name keep theirs)."""
    for start in range(0, len(rows), chunk):
        updates: dict[str, dict[str, Any]] = {}
        for j in range(start, min(len(rows), start + chunk)):
            item: dict[str, Any] = {
                Payload.projection(m): [float(Y[j, 0]), float(Y[j, 1])] for m, Y in maps.items()}
            item.update({Payload.cluster(c): int(v[j]) for c, v in clusters.items()})
            item.update({name: v[j].item() for name, v in scores.items()})
            row = int(rows[j])
            item.update({name: v[row] for name, v in row_payloads.items() if row in v})
            updates[ids[row]] = item
        store.set_payloads(collection, updates)


def _update_report(out: Path, total: int, placed: int, entry: dict[str, Any]) -> None:
    """report.json / report.html: the counts and one more entry of ``updates``."""
    path = out / "report.json"
    if not path.is_file():
        return
    report = Report.read(path)
    report.data.points_total = total
    report.data.points_analysed += placed
    report.updates.append(entry)
    write_json(report.model_dump(), path)
    write_html(report, out, out / "report.html")
