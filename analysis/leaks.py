"""Leaks between splits as a metric stage: the search (exact, or through the collection's index
where the shared graph went through it), its counts, the `leak` payload.

The search itself is embedscope.search.leaks (``evaluate --exclude-leaks`` shares its rule);
this stage runs it on the analysed vectors, counts the leaked points per split and per class and
sets the ``leak`` payload ({partner, similarity}) of every query point (None where it does not
leak, so a later run clears an old mark).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embedscope.analysis.registry import register_metric, register_score
from embedscope.analysis.result import Analysis, Stages
from embedscope.contract import Payload
from embedscope.search.leaks import Leaks, find_leaks, leaks_by_index
from embedscope.store import Store


@register_metric("leaks")
def leak_stage(a: Analysis, store: Store, stages: Stages) -> None:
    """Every query-split point whose nearest reference-split point is at cosine ≥ the threshold."""
    s, data = a.settings, a.data
    if not data.splits or s.leak_reference_split not in data.splits:
        return
    with stages.stage("leaks between splits"):
        if a.graph_method == "index":  # too large to compare every pair: through the index
            leaks = leaks_by_index(store, str(s.collection), data.X, data.ids, data.splits,
                                   s.effective_leak_threshold(), s.leak_reference_split,
                                   s.leak_query_list(), progress=s.progress, seed=s.seed + 4)
        else:
            leaks = find_leaks(data.X, data.splits, s.effective_leak_threshold(),
                               s.leak_reference_split, s.leak_query_list(), block=s.chunk_size)
    if not leaks.query_splits:
        return
    a.leaks = leaks
    if leaks.recall is not None:
        a.estimates["leaks_recall"] = leaks.recall
        a.notes.append(
            f"leaks: each of the {len(leaks.query_rows)} query points' nearest "
            f"{s.leak_reference_split} point came from the collection's index, which found the "
            f"exact nearest for {leaks.recall['recall']:.1%} of a seeded sample of "
            f"{leaks.recall['sample']} (a leak is missed only where it did not).")
    a.row_payloads[Payload.LEAK] = marks_of(leaks, data.ids)
    a.leak_summary = summarise(a)
    if s.sample:
        a.notes.append("leaks between splits are searched among the analysed sample only; run "
                       "without --sample for every leak.")


def marks_of(leaks: Leaks, ids: Sequence[str]) -> dict[int, Any]:
    """The ``leak`` payload of every query row: {partner id, similarity} where it leaks, else
    None (so that a later run clears an old mark)."""
    partner = dict(zip(leaks.rows.tolist(), zip(leaks.partners.tolist(),
                                                leaks.similarities.tolist(), strict=True),
                       strict=True))
    marks: dict[int, Any] = {}
    for row in leaks.query_rows.tolist():
        hit = partner.get(row)
        marks[row] = None if hit is None else {
            "partner": ids[hit[0]], "similarity": round(float(hit[1]), 6)}
    return marks


def summarise(a: Analysis) -> dict[str, Any]:
    """Counts and shares per query split and per class (rows, not ids: outputs name them)."""
    leaks, data = a.leaks, a.data
    splits = data.splits or []
    leaked = np.zeros(data.n, dtype=bool)
    leaked[leaks.rows] = True
    per_split = {}
    for name in leaks.query_splits:
        rows = [r for r in leaks.query_rows.tolist() if splits[r] == name]
        n_leaked = int(leaked[rows].sum())
        per_split[name] = {"query": len(rows), "leaked": n_leaked,
                           "share": n_leaked / len(rows) if rows else 0.0}
    per_class = []
    if data.labels is not None:
        q_labels = data.labels[leaks.query_rows]
        for label in np.unique(q_labels).tolist():
            members = leaks.query_rows[q_labels == label]
            n_leaked = int(leaked[members].sum())
            per_class.append({"label": int(label), "name": data.class_name(int(label)),
                              "query": int(len(members)), "leaked": n_leaked,
                              "share": n_leaked / len(members)})
    order = np.lexsort((leaks.rows, -leaks.similarities))[:a.settings.max_list]
    return {
        "threshold": leaks.threshold, "reference_split": leaks.reference_split,
        "query_splits": leaks.query_splits, "query_points": int(len(leaks.query_rows)),
        "leaked": int(len(leaks.rows)), "share": leaks.share,
        "per_split": per_split, "per_class": per_class,
        "pairs": [{"row": int(leaks.rows[o]), "partner_row": int(leaks.partners[o]),
                   "similarity": float(leaks.similarities[o])} for o in order],
    }


@register_score("leaked", title="leaked into the reference split", kind="binary",
                labels=("not leaked", "leaked"), warning=1,
                description="1 for a query-split point (test, validation) whose nearest "
                "reference-split point (train) is at cosine ≥ the leak threshold, else 0")
def leaked(a: Analysis) -> np.ndarray | None:
    """1 where the point leaks (its `leak` payload names the partner)."""
    if a.leaks is None:
        return None
    flags = np.zeros(a.data.n, dtype=np.int64)
    flags[a.leaks.rows] = 1
    return flags if a.graph_rows is None else flags[a.graph_rows]
