"""Cluster captions on the map: the latest report's captions, each placed at its cluster's centre."""

from __future__ import annotations

from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.store import Store
from embedscope.ui.map.points import MapData, normalised

#: What the page says when a clustering has no captions.
NO_CAPTIONS = ("No cluster captions: they need a space that embeds text (CLIP, SigLIP). Ingest the "
               "dataset with such a model too, then run `embedscope analyze` again.")


def report_captions(store: Store, collection: str) -> dict[str, list[dict[str, Any]]]:
    """Captions by cluster payload field (``cluster_kmeans`` → its clusters' captions), from the
    latest analysis report; {} when there is none or it has no captions."""
    from embedscope.analysis.report_model import Report
    from embedscope.errors import UsageError
    from embedscope.ui.report import report_path

    try:
        report = Report.read(report_path(store, collection))
    except (UsageError, OSError, ValueError):
        return {}
    found = (report.captions or {}).get("clusterings") or {}
    return {Payload.cluster(name): list(rows) for name, rows in found.items()}


def place(data: MapData, field: str, captions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where each caption goes: the cluster's point nearest to its centre on this map.

    Args:
        data: The map.
        field: The cluster payload field (``cluster_kmeans``).
        captions: The report's captions of that clustering (``cluster``, ``caption``, ``score``).

    Returns:
        ``{"row", "x", "y", "text", "score", "cluster"}`` per captioned cluster on the map, x and
        y the centre in the map's [-1, 1] coordinates.
    """
    clusters = data.clusters.get(field)
    if clusters is None or not captions:
        return []
    xy = normalised(data.xy)
    out = []
    for c in captions:
        rows = np.flatnonzero(clusters == int(c["cluster"]))
        if not len(rows):
            continue
        centre = xy[rows].mean(axis=0)
        anchor = rows[int(np.argmin(((xy[rows] - centre) ** 2).sum(axis=1)))]
        out.append({"row": int(anchor), "x": float(centre[0]), "y": float(centre[1]),
                    "text": str(c["caption"]), "score": round(float(c["score"]), 4),
                    "cluster": int(c["cluster"])})
    return out
