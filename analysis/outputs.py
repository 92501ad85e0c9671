"""Where an analysis goes: plots, report.json/html, payload write-back and collection metadata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.analysis import plots
from embedscope.analysis.data import thumbnails
from embedscope.analysis.index_graph import index_built, moved_out_of_index
from embedscope.analysis.registry import CLUSTERERS, PROJECTIONS, SCORES
from embedscope.analysis.report import versions, write_html, write_json
from embedscope.analysis.report_model import Report, ScoreInfo
from embedscope.analysis.result import Analysis, Stages
from embedscope.contract import Payload
from embedscope.store import Store


def _title(name: str) -> str:
    """A clustering's name in plot titles and notes, as registered."""
    return CLUSTERERS[name].title if name in CLUSTERERS else name


def _map_title(name: str) -> str:
    """A 2-D map's plot title, as registered."""
    return PROJECTIONS[name].title if name in PROJECTIONS else name.upper()


#: Points per payload write-back request: the updates of a million points as Python objects
#: would take about a gigabyte at once.
WRITE_BACK_CHUNK = 20_000


def payload_updates(
    a: Analysis, chunk: int = WRITE_BACK_CHUNK
) -> Iterator[dict[str, dict[str, Any]]]:
    """{point id: {umap: [x, y], …, cluster_kmeans: c, …}} for every analysed point, ``chunk``
    points at a time (in row order)."""
    graph_row = None
    if a.point_fields and a.graph_rows is not None:
        graph_row = np.full(a.data.n, -1, dtype=np.int64)
        graph_row[a.graph_rows] = np.arange(len(a.graph_rows))
    for start in range(0, a.data.n, chunk):
        updates: dict[str, dict[str, Any]] = {}
        ids = a.data.ids[start:start + chunk]  # a slice: PointIds turns them into strings at once
        for row in range(start, min(a.data.n, start + chunk)):
            item: dict[str, Any] = {
                Payload.projection(proj): [float(Y[row, 0]), float(Y[row, 1])]
                for proj, Y in a.maps.items()
            }
            for name, c in a.clusterings.items():
                item[Payload.cluster(name)] = int(c.labels[row])
            for name, marks in a.row_payloads.items():
                if row in marks:
                    item[name] = marks[row]
            g = row if graph_row is None else int(graph_row[row])
            if g >= 0:
                for name, values in a.point_fields.items():
                    item[name] = values[g].item()
            updates[ids[row - start]] = item
        yield updates


def _rows_to_points(store: Store, a: Analysis, rows: list[int]) -> dict[int, dict[str, Any]]:
    """Id, split, index and label name of the given rows (for the lists in the report)."""
    ids = [a.data.ids[r] for r in rows]
    found = {
        rec.id: rec.payload
        for start in range(0, len(ids), 256)
        for rec in store.retrieve(
            str(a.settings.collection), ids[start:start + 256], [Payload.SPLIT, Payload.INDEX, Payload.LABEL_NAME]
        )
    }
    out = {}
    for r, pid in zip(rows, ids, strict=True):
        p = found.get(pid, {})
        out[r] = {"id": pid, "split": p.get(Payload.SPLIT), "index": p.get(Payload.INDEX)}
    return out


def _lists(store: Store, a: Analysis
           ) -> tuple[list[dict[str, Any]] | None, dict[str, Any], dict[str, Any] | None]:
    leak_pairs = (a.leak_summary or {}).get("pairs", [])
    rows = sorted({e["row"] for e in a.label_errors or []}
                  | {p[k] for p in a.duplicates.get("pairs", []) for k in ("row_a", "row_b")}
                  | {p[k] for p in leak_pairs for k in ("row", "partner_row")})
    where = _rows_to_points(store, a, rows)
    errors = None
    if a.label_errors is not None:
        errors = []
        for e in a.label_errors:
            point = where[int(e["row"])]
            errors.append({**point, "label": e["label"],
                           "label_name": a.data.class_name(e["label"]),
                           "suggested": e["suggested"],
                           "suggested_name": a.data.class_name(e["suggested"]),
                           "agreement": e["agreement"], "vote_share": e["vote_share"],
                           "mean_similarity": e["mean_similarity"]})
    pairs = []
    for p in a.duplicates.get("pairs", []):
        pa, pb = where[p["row_a"]], where[p["row_b"]]
        pairs.append({"id_a": pa["id"], "split_a": pa["split"], "index_a": pa["index"],
                      "id_b": pb["id"], "split_b": pb["split"], "index_b": pb["index"],
                      "similarity": p["similarity"]})
    return errors, {**a.duplicates, "pairs": pairs}, _leak_section(a, where)


def _leak_section(a: Analysis, where: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """report.json's ``leaks``: the counts, and the listed pairs named by id, split and index."""
    if a.leak_summary is None:
        return None
    labels = a.data.labels

    def name(row: int) -> str | None:
        return None if labels is None else a.data.class_name(int(labels[row]))

    pairs = []
    for p in a.leak_summary["pairs"]:
        q, r = where[p["row"]], where[p["partner_row"]]
        pairs.append({"id": q["id"], "split": q["split"], "index": q["index"],
                      "label_name": name(p["row"]), "partner_id": r["id"],
                      "partner_split": r["split"], "partner_index": r["index"],
                      "partner_label_name": name(p["partner_row"]),
                      "similarity": p["similarity"]})
    return {**a.leak_summary, "pairs": pairs}


def _plots(store: Store, a: Analysis, out: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    d = a.data
    for proj, Y in a.maps.items():
        colourings: dict[str, tuple[np.ndarray, list[str] | None]] = {}
        if d.labels is not None:
            colourings["label"] = (d.labels, d.label_names)
        for name, c in a.clusterings.items():
            colourings[_title(name)] = (c.labels, None)
        if not colourings:
            colourings["points"] = (np.zeros(d.n, dtype=np.int64), None)
        files[f"map_{proj}"] = plots.map_panels(
            Y, colourings, _map_title(proj), out / f"map_{proj}.png").name
    if a.per_class:
        files["per_class_silhouette"] = plots.per_class_silhouette(
            a.per_class, out / "per_class_silhouette.png").name
    if a.k_curve:
        files["k_curve"] = plots.k_curve(a.k_curve, a.k, out / "k_curve.png").name
    for name, agr in a.agreement.items():
        names = [d.class_name(v) for v in agr["label_values"]]
        files[f"contingency_{name}"] = plots.contingency(
            agr["contingency"], names, agr["cluster_values"],
            f"{_title(name)} clusters vs labels", out / f"contingency_{name}.png").name
    files.update(_thumbnail_grids(store, a, out))
    if a.pca is not None:
        files["pca_variance"] = plots.pca_variance(
            a.pca.explained_variance_ratio, out / "pca_variance.png").name
        files["pca_strip"] = plots.pca_strip(
            a.pca.scores, d.labels, d.label_names, out / "pca_strip.png", seed=a.settings.seed).name
    return files


def _thumbnail_grids(store: Store, a: Analysis, out: Path) -> dict[str, str]:
    """A grid of sample thumbnails per cluster, for each clustering (seeded choice)."""
    per = a.settings.thumbnails_per_cluster
    rng = np.random.default_rng(a.settings.seed)
    picks: dict[str, list[tuple[str, list[str]]]] = {}
    for name, c in a.clusterings.items():
        rows = []
        for cl in [v for v in np.unique(c.labels) if v >= 0][:40]:
            members = np.flatnonzero(c.labels == cl)
            chosen = np.sort(rng.choice(members, size=min(per, len(members)), replace=False))
            rows.append((f"{cl} (n={len(members)})", [a.data.ids[i] for i in chosen]))
        if rows:  # a clustering with only noise (HDBSCAN) has no grid
            picks[name] = rows
        else:
            a.notes.append(f"{_title(name)} found no clusters (all noise): no thumbnail grid.")
    wanted = sorted({pid for rows in picks.values() for _, ids in rows for pid in ids})
    images = thumbnails(store, str(a.settings.collection), wanted)
    if not images:
        if picks:
            a.notes.append("no point has a `thumbnail` payload: thumbnail grids are omitted.")
        return {}
    files = {}
    for name, rows in picks.items():
        grid = [(label, [images[p] for p in ids if p in images]) for label, ids in rows]
        files[f"thumbnails_{name}"] = plots.thumbnail_grid(
            grid, f"{_title(name)}: sample thumbnails per cluster",
            out / f"thumbnails_{name}.png").name
    return files


def build_report(a: Analysis, out: Path, files: dict[str, str], lists: tuple[Any, Any, Any],
                 extra: dict[str, Any]) -> Report:
    """The report.json document, typed."""
    s, d = a.settings, a.data
    clusterings = {
        name: {"params": c.params, **c.info,
               "clusters": int(len(np.unique(c.labels[c.labels >= 0]))),
               **a.agreement.get(name, {})}
        for name, c in a.clusterings.items()
    }
    scores = {name: ScoreInfo(title=SCORES[name].title, description=SCORES[name].description,
                              kind=SCORES[name].kind)
              for name in a.point_fields if name in SCORES}
    return Report.model_validate({
        "run_id": a.run_id, "created_at": a.created_at, "collection": s.collection,
        "report_dir": str(out),
        "parameters": s.model_dump(mode="json"),
        "model": d.meta.model_dump(mode="json", exclude={"analysis"}),
        "versions": versions(),
        "data": {"points_total": d.total, "points_analysed": d.n, "dimension": int(d.X.shape[1]),
                 "labelled": d.labels is not None, "classes": d.label_names,
                 "streamed": a.streamed},
        "notes": a.notes,
        "k": {"mode": a.k_mode, "value": a.k, "curve": a.k_curve},
        "silhouette": {"metric_embedding": "cosine", "metric_maps": "euclidean",
                       "embedding": a.silhouette_embedding, "maps": a.silhouette_maps},
        "per_class_silhouette": a.per_class,
        "clusterings": clusterings,
        "trustworthiness": a.trust,
        "trustworthiness_neighbors": s.trust_neighbors,
        "estimates": a.estimates,
        "device": a.device,
        "knn_graph": _graph_info(a),
        "knn_accuracy": a.knn_accuracy,
        "zero_shot": a.zero_shot,
        "captions": a.captions,
        "pca": {"explained_variance_ratio": a.pca.explained_variance_ratio.tolist()
                if a.pca is not None else []},
        "label_errors": lists[0],
        "near_duplicates": lists[1],
        "leaks": lists[2],
        "point_scores": scores,
        "payload_fields": payload_fields(a) if s.write_back else [],
        "timings": a.timings,
        "peak_rss_gb": a.peak_rss_gb,
        "files": files,
        **extra,
    })


#: report.json's words for each way the shared graph is built (Analysis.graph_method).
GRAPH_METHODS = {
    "exact": "exact cosine, blocked float32 matrix products (torch)",
    "approximate": "approximate cosine, NN-descent (pynndescent, seeded)",
    "index": "approximate cosine, every point's neighbours through the collection's HNSW index "
             "(batched queries)",
}


def _graph_info(a: Analysis) -> dict[str, Any]:
    """How the shared k-NN graph was built and what used it."""
    if a.graph is None:
        return {}
    method = GRAPH_METHODS[a.graph_method]
    return {"method": method, "device": a.device if a.graph_exact else "cpu",
            "k": int(a.graph.index.shape[1]), "points": int(len(a.graph.index)),
            "used_by": ["umap", "k-NN accuracy", "label errors", "near-duplicates",
                        "trustworthiness", "k-NN payload fields"],
            "point_fields_k": a.settings.label_error_k if a.point_fields else None}


def payload_fields(a: Analysis) -> list[str]:
    """The payload fields the write-back sets."""
    return ([Payload.projection(p) for p in a.maps] + [Payload.cluster(n) for n in a.clusterings]
            + list(a.point_fields) + list(a.row_payloads))


def _reindex(store: Store, a: Analysis, was_built: bool, stages: Stages) -> None:
    """The index built again after the write-back (--reindex), with a note either way."""
    collection, n = str(a.settings.collection), a.data.n
    if not moved_out_of_index(was_built, n):
        return
    if not a.settings.reindex:
        a.notes.append(f"the write-back moved {n} points out of the collection's HNSW index and "
                       "--no-reindex left it so: searches scan them until an ingest with "
                       "--index wait (or an analysis with --reindex) builds it again.")
        return
    with stages.stage("re-index after write-back"):
        store.optimize(collection)
    a.notes.append(f"the write-back moved {n} points out of the collection's HNSW index (the "
                   "engine moves each point whose payload changes); it was built again in "
                   f"{stages.timings['re-index after write-back']:.0f} s (--no-reindex skips).")


def write_outputs(store: Store, a: Analysis, out: Path, stages: Stages) -> dict[str, Any]:
    """Plots, the optional GIF, payload write-back, metadata, report.json and report.html."""
    s = a.settings
    # Nothing reads the vectors from here on: let go of them (1.5 GB at 1M × 384) before the
    # plots open the store again and the write-back, where the engine copies every written
    # point (1.8 GB more at 1M).
    a.data.X = a.data.X[:0]
    out.mkdir(parents=True, exist_ok=True)
    with stages.stage("plots"):
        files = _plots(store, a, out)
        lists = _lists(store, a)
    extra: dict[str, Any] = {}
    if s.animate:
        with stages.stage("animation"):
            extra["animation"] = _animate(a, out, files)
    fields = payload_fields(a)
    if s.write_back and fields:
        was_built = index_built(store, str(s.collection), a.data.total)
        with stages.stage("write back payloads"):
            for updates in payload_updates(a):
                store.set_payloads(str(s.collection), updates)
        _reindex(store, a, was_built, stages)
    kept: Path | None = None
    if s.write_back and fields and s.keep_fitted:
        with stages.stage("keep fitted models"):
            from embedscope.analysis.fitted import FITTED_FILE, save

            kept = save(a, out)
            files["fitted"] = FITTED_FILE
    files["report_json"] = "report.json"
    files["report_html"] = "report.html"
    report = build_report(a, out, files, lists, extra)
    report.written_back = bool(s.write_back and fields)
    with stages.stage("report"):
        document = report.model_dump()
        write_json(document, out / "report.json")
        write_html(report, out, out / "report.html")
    if s.write_back and fields:
        store.update_meta(str(s.collection), analysis={
            "run_id": a.run_id, "created_at": a.created_at, "fields": fields,
            "points": a.data.n, "parameters": report.parameters,
            "report": str((out / "report.json").resolve()),
            **({"fitted": str(kept.resolve())} if kept is not None else {}),
        })
    return document


def write_maps(store: Store, collection: str, data_dir: Path | None = None) -> dict[str, Path]:
    """The map files of the collection's stored maps (embedscope.mapfiles), written after the
    payloads and the metadata, so that the page's first visit reads them instead of the store.

    Args:
        store: The store.
        collection: The collection.
        data_dir: The data directory; files go to ``<data_dir>/maps`` (None:
            QdrantSettings().data_dir, as the page reads them).
    """
    from embedscope.mapfiles import maps_dir, write_map_files

    folder = maps_dir() if data_dir is None else Path(data_dir) / "maps"
    return write_map_files(store, collection, [Payload.projection(p) for p in PROJECTIONS],
                           [Payload.cluster(c) for c in CLUSTERERS], list(SCORES), folder)


def _animate(a: Analysis, out: Path, files: dict[str, str]) -> dict[str, Any]:
    from embedscope.analysis.animate import write_gif

    s = a.settings
    map_name = next((m for m in PROJECTIONS if m in a.maps), None)
    if map_name is None:
        names = list(PROJECTIONS)
        choices = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)
        a.notes.append(f"--animate needs a 2-D map: add {choices} to --projections.")
        return {}
    info = write_gif(a.maps[map_name], a.k, s.seed, out / "animation.gif", s.animate_points,
                     s.animate_steps, map_name)
    files["animation"] = "animation.gif"
    return {"map": map_name, "k": a.k, "panels": info}
