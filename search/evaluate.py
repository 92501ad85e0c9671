"""k-NN evaluation of a collection: batched Qdrant queries, accuracy, macro-F1, confusion."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import EmptyCollectionError, MissingLabelsError, UsageError
from embedscope.search.neighbors import label_name, vote_arrays
from embedscope.store import Store, Where

#: Split names tried, in order, as the query side when none is given.
QUERY_SPLITS = ("test", "validation", "val", "valid")
#: Queries re-run exactly to measure HNSW recall in approximate mode.
RECALL_SAMPLE = 256


@dataclass
class KResult:
    """Metrics for one k."""

    k: int
    accuracy: float
    macro_f1: float
    weighted_accuracy: float
    weighted_macro_f1: float
    #: One dict per class: label, name, precision, recall, f1, support.
    per_class: list[dict[str, Any]]
    #: Rows: true class, columns: predicted class, both in ``Evaluation.classes`` order.
    confusion: list[list[int]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "k": self.k, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
            "weighted_vote": {
                "accuracy": self.weighted_accuracy, "macro_f1": self.weighted_macro_f1,
            },
            "per_class": self.per_class, "confusion_matrix": self.confusion,
        }


@dataclass
class Evaluation:
    """The outcome of `evaluate`: one KResult per k, and how it was measured."""

    collection: str
    mode: str  # "split" | "leave-one-out"
    query_split: str | None
    reference_split: str | None
    n_query: int
    n_reference: int
    exact: bool
    classes: list[int]
    class_names: list[str]
    results: dict[int, KResult] = field(default_factory=dict)
    #: Mean recall@max(k) of HNSW against exact search (approximate mode only).
    hnsw_recall: float | None = None
    recall_queries: int = 0
    seconds: float = 0.0
    #: --exclude-leaks: the threshold, the leaked query points' ids, and the figures without them.
    leak_threshold: float | None = None
    leaked_ids: list[str] = field(default_factory=list)
    results_without_leaks: dict[int, KResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``by_k["5"]["accuracy"]`` is the 5-NN accuracy."""
        return {
            "collection": self.collection, "mode": self.mode,
            "query_split": self.query_split, "reference_split": self.reference_split,
            "n_query": self.n_query, "n_reference": self.n_reference,
            "search": "exact" if self.exact else "hnsw",
            "hnsw_recall": None if self.exact else {
                "k": max(self.results), "recall": self.hnsw_recall, "queries": self.recall_queries,
            },
            "classes": self.class_names,
            "accuracy": {str(k): r.accuracy for k, r in self.results.items()},
            "by_k": {str(k): r.to_json() for k, r in self.results.items()},
            "seconds": round(self.seconds, 3),
            **({} if self.leak_threshold is None else {"leaks": {
                "threshold": self.leak_threshold, "leaked": len(self.leaked_ids),
                "n_query_without_leaks": self.n_query - len(self.leaked_ids),
                "leaked_ids": self.leaked_ids,
                "accuracy_without_leaks": {
                    str(k): r.accuracy for k, r in self.results_without_leaks.items()},
                "by_k_without_leaks": {
                    str(k): r.to_json() for k, r in self.results_without_leaks.items()},
            }}),
        }


def parse_ks(value: str | Iterable[int]) -> tuple[int, ...]:
    """``"1,5,10"`` or ``[1, 5, 10]`` → sorted unique positive ints.

    Raises:
        UsageError: empty, non-integer or non-positive values.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        ks = sorted({int(str(x).strip()) for x in items if str(x).strip()})
    except ValueError:
        raise UsageError(f"k must be a comma-separated list of positive integers "
                         f"(e.g. 1,5,10,20), got {value!r}.") from None
    if not ks or ks[0] < 1:
        raise UsageError(f"k must be a list of positive integers (e.g. 1,5,10,20), got {value!r}.")
    return tuple(ks)


def choose_splits(
    splits: Counter[str | None], query_split: str | None, reference_split: str | None
) -> tuple[str, str | None, str | None]:
    """Decide what is queried against what, from the labelled points per split.

    Both given and different: split mode. Equal, or only one split exists: leave-one-out on
    it. Missing: the query side defaults to test/validation, the reference side to train.

    Returns:
        ``(mode, query_split, reference_split)``.

    Raises:
        UsageError: a split that holds no labelled point, or no way to choose.
    """
    known = ", ".join(f"{s} ({n})" for s, n in sorted(splits.items(), key=lambda x: str(x[0])))
    for name in (query_split, reference_split):
        if name is not None and name not in splits:
            raise UsageError(f"split {name!r} has no labelled points; labelled splits: {known}.")
    if query_split is None and reference_split is None and len(splits) == 1:
        only = next(iter(splits))
        return "leave-one-out", only, only
    if query_split is None:
        query_split = next((s for s in QUERY_SPLITS if s in splits and s != reference_split),
                           reference_split)
    if reference_split is None:
        reference_split = "train" if "train" in splits and query_split != "train" else query_split
    if query_split is None or reference_split is None:
        raise UsageError(f"cannot tell which split to evaluate; labelled splits: {known}. "
                         "Give --query-split and --reference-split.")
    mode = "leave-one-out" if query_split == reference_split else "split"
    return mode, query_split, reference_split


def _labelled_splits(store: Store, collection: str) -> Counter[str | None]:
    return Counter(
        rec.payload.get(Payload.SPLIT)
        for rec in store.scroll(collection, Where(has_label=True), [Payload.SPLIT], False, 4096)
    )


def _metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> tuple[
    float, float, list[dict[str, Any]], np.ndarray
]:
    """Accuracy, macro-F1 (over classes in truth or prediction, as scikit-learn), per class."""
    index = {int(c): i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(cm, ([index[int(t)] for t in y_true], [index[int(p)] for p in y_pred]), 1)
    tp = np.diag(cm).astype(np.float64)
    pred_n, true_n = cm.sum(0), cm.sum(1)
    precision = np.divide(tp, pred_n, out=np.zeros_like(tp), where=pred_n > 0)
    recall = np.divide(tp, true_n, out=np.zeros_like(tp), where=true_n > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (pred_n + true_n) > 0
    per_class: list[dict[str, Any]] = [
        {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for p, r, f, s in zip(precision, recall, f1, true_n, strict=True)
    ]
    accuracy = float(tp.sum() / max(len(y_true), 1))
    macro = float(f1[present].mean()) if present.any() else 0.0
    return accuracy, macro, per_class, cm


def _run_queries(
    store: Store, collection: str, vectors: np.ndarray, ids: Sequence[str] | None, k: int,
    reference: Where, exact: bool, batch_size: int, progress: bool, desc: str,
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Ranked neighbour labels, scores and ids for every query (ids excluded from their own)."""
    from tqdm.auto import tqdm

    n = len(vectors)
    labels = np.full((n, k), -1, np.int64)
    scores = np.zeros((n, k), np.float64)
    hit_ids: list[list[str]] = []
    with tqdm(total=n, desc=desc, unit="query", file=sys.stderr, disable=not progress) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            batch = store.query_batch(
                collection, vectors[start:stop], k, reference, exact, [Payload.LABEL], False,
                list(ids[start:stop]) if ids is not None else None,
            )
            for row, hits in enumerate(batch, start):
                for col, hit in enumerate(hits[:k]):
                    label = hit.payload.get(Payload.LABEL)
                    labels[row, col] = -1 if label is None else int(label)
                    scores[row, col] = hit.score
                hit_ids.append([h.id for h in hits])
            bar.update(stop - start)
    return labels, scores, hit_ids


def _k_result(ev: Evaluation, k: int, y_true: np.ndarray, majority: np.ndarray,
              weighted: np.ndarray, classes: np.ndarray) -> KResult:
    """The figures of one k over the given queries."""
    acc, f1, per_class, cm = _metrics(y_true, majority, classes)
    wacc, wf1, _, _ = _metrics(y_true, weighted, classes)
    names = zip(ev.classes, ev.class_names, strict=True)
    for entry, (label, name) in zip(per_class, names, strict=True):
        entry.update(label=label, name=name)
    return KResult(k, acc, f1, wacc, wf1, per_class, cm.tolist())


def _plan(store: Store, collection: str, kmax: int, query_split: str | None,
          reference_split: str | None, exact: bool,
          exclude_leaks: float | None) -> tuple[str, str | None, str | None, int]:
    """The mode, the query and reference splits and the reference count, once every check
    passed (a collection with labelled points, k within the reference points, leaks only in
    split mode with exact search)."""
    total = store.count(collection)
    if total == 0:
        raise EmptyCollectionError(
            f"collection {collection!r} is empty: ingest data into it with `embedscope ingest`."
        )
    splits = _labelled_splits(store, collection)
    if not splits:
        raise MissingLabelsError(
            f"collection {collection!r} has {total} points but none has a label, so k-NN "
            "accuracy cannot be measured: ingest a dataset with a label column or class folders."
        )
    mode, qsplit, rsplit = choose_splits(splits, query_split, reference_split)
    loo = mode == "leave-one-out"
    n_reference = splits[rsplit]
    available = n_reference - 1 if loo else n_reference
    if kmax > available:
        raise UsageError(
            f"k={kmax} is larger than the {available} reference points available "
            f"({'leave-one-out on' if loo else 'split'} {rsplit!r}); use -k values up to "
            f"{available}."
        )
    if exclude_leaks is not None and (loo or not exact):
        raise UsageError(
            "--exclude-leaks compares a query split with a reference split by exact search: "
            f"give two different splits (now {'leave-one-out on ' + str(rsplit) if loo else 'HNSW'})"
            " and leave out --approximate.")
    return mode, qsplit, rsplit, n_reference


def _hnsw_recall(store: Store, collection: str, ids: list[str], vectors: np.ndarray,
                 hit_ids: Sequence[Sequence[str]], loo: bool, kmax: int, reference: Where,
                 batch_size: int, progress: bool, sample: int) -> tuple[float, int]:
    """HNSW's recall against exact search on a seeded sample of the queries, and its size."""
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ids), size=min(sample, len(ids)), replace=False))
    _, _, truth = _run_queries(
        store, collection, vectors[pick], [ids[i] for i in pick] if loo else None, kmax,
        reference, True, batch_size, progress, "exact (recall check)",
    )
    recall = float(np.mean([len(set(hit_ids[i]) & set(t)) / max(len(t), 1)
                            for i, t in zip(pick, truth, strict=True)]))
    return recall, len(pick)


def evaluate(
    store: Store, collection: str, ks: Sequence[int] | str = (1, 5, 10, 20),
    query_split: str | None = None, reference_split: str | None = None, exact: bool = True,
    batch_size: int = 256, progress: bool = True, recall_sample: int = RECALL_SAMPLE,
    exclude_leaks: float | None = None,
) -> Evaluation:
    """Classify every labelled query point by k-NN against the reference points, for each k.

    One batched top-max(k) query per point; smaller ks reuse the same ranked lists. With one
    split (or query = reference) each point is classified by all the others (leave-one-out).
    Exact search by default, so the figures equal scikit-learn's
    ``KNeighborsClassifier(metric="cosine")`` (majority ties → smallest label id).

    Args:
        store: An open store.
        collection: Collection name.
        ks: The k values, e.g. ``(1, 5, 10, 20)`` or ``"1,5,10,20"``.
        query_split: Split to classify (default: test / validation).
        reference_split: Split that votes (default: train).
        exact: Brute-force search; False uses HNSW and measures its recall against exact
            search on a sample of ``recall_sample`` queries.
        batch_size: Queries per Qdrant request.
        progress: Show a tqdm bar on stderr.
        recall_sample: Queries re-run exactly to measure HNSW recall.
        exclude_leaks: A cosine threshold: also measure every figure without the query points
            whose nearest reference point is at least this similar (leaks between splits, as
            embedscope.search.leaks finds them); split mode and exact search only.

    Raises:
        CollectionNotFoundError, EmptyCollectionError, MissingLabelsError, UsageError.
    """
    started = time.perf_counter()
    ks = parse_ks(ks)
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}.")
    meta = store.get_meta(collection)
    mode, qsplit, rsplit, n_reference = _plan(store, collection, ks[-1], query_split,
                                              reference_split, exact, exclude_leaks)
    loo = mode == "leave-one-out"
    query_where = Where(split=qsplit, has_label=True)
    reference = Where(split=rsplit, has_label=True)
    kmax = ks[-1]
    ids, vectors, payloads = store.fetch_all(collection, query_where, (Payload.LABEL,))
    y_true = np.array([int(p[Payload.LABEL]) for p in payloads], np.int64)
    labels, scores, hit_ids = _run_queries(
        store, collection, vectors, ids if loo else None, kmax, reference, exact, batch_size,
        progress, f"{'exact' if exact else 'hnsw'} {kmax}-NN",
    )
    recall, n_recall = (None, 0) if exact else _hnsw_recall(
        store, collection, ids, vectors, hit_ids, loo, kmax, reference, batch_size, progress,
        recall_sample)
    predictions = {k: vote_arrays(labels, scores, k)[3:] for k in ks}
    classes = np.unique(np.concatenate(
        [y_true] + [p for pair in predictions.values() for p in pair]
    ))
    result = Evaluation(
        collection=collection, mode=mode, query_split=qsplit, reference_split=rsplit,
        n_query=len(ids), n_reference=n_reference, exact=exact,
        classes=[int(c) for c in classes],
        class_names=[label_name(meta.labels, int(c)) for c in classes],
        hnsw_recall=recall, recall_queries=n_recall,
    )
    for k, (majority, weighted) in predictions.items():
        result.results[k] = _k_result(result, k, y_true, majority, weighted, classes)
    if exclude_leaks is not None:
        leaked = scores[:, 0] >= exclude_leaks  # the nearest reference point, exact search
        keep = ~leaked
        result.leak_threshold = exclude_leaks
        result.leaked_ids = [pid for pid, bad in zip(ids, leaked.tolist(), strict=True) if bad]
        for k, (majority, weighted) in predictions.items():
            result.results_without_leaks[k] = _k_result(
                result, k, y_true[keep], majority[keep], weighted[keep], classes)
    result.seconds = time.perf_counter() - started
    return result
