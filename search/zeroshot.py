"""Zero-shot classification: class names into prompts, embedded by the text tower, argmax of cosine.

The figures take the k-NN evaluation's shape (accuracy, macro-F1, per-class precision / recall /
F1 / support, confusion matrix over the classes seen in truth or prediction), so the two print
and read side by side.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import MissingLabelsError, UsageError
from embedscope.search.evaluate import QUERY_SPLITS, _labelled_splits, _metrics
from embedscope.search.neighbors import label_name
from embedscope.search.spaces import text_space
from embedscope.search.text import text_vectors
from embedscope.store import Store, Where

#: The prompt used when none is given (CLIP's own default template).
DEFAULT_PROMPTS = ("a photo of a {}.",)


@dataclass
class ZeroShot:
    """Zero-shot figures of one split of a collection, in a text space."""

    collection: str
    space: str
    query_split: str | None
    n_query: int
    prompts: list[str]
    classes: list[int]
    class_names: list[str]
    accuracy: float
    macro_f1: float
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the k-NN evaluation's field names for the same figures."""
        return {
            "collection": self.collection, "mode": "zero-shot", "space": self.space,
            "query_split": self.query_split, "n_query": self.n_query, "prompts": self.prompts,
            "classes": self.class_names, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
            "per_class": self.per_class, "confusion_matrix": self.confusion,
            "seconds": round(self.seconds, 3),
        }


def check_prompts(prompts: Sequence[str] | None) -> list[str]:
    """The prompt templates, each with one ``{}`` for the class name (default: `DEFAULT_PROMPTS`).

    Raises:
        UsageError: a template without exactly one ``{}``.
    """
    out = list(prompts or DEFAULT_PROMPTS)
    for p in out:
        if p.count("{}") != 1:
            raise UsageError(f"--prompt {p!r}: a template holds exactly one {{}} where the class "
                             "name goes, e.g. --prompt 'a photo of a {}.'")
    return out


def class_vectors(store: Store, space: str, names: Sequence[str], prompts: Sequence[str],
                  device: str = "auto") -> np.ndarray:
    """One unit vector per class: the mean of its prompts' unit text vectors, renormalised.

    CLIP's prompt ensembling: every template filled with the class name, embedded, averaged.
    """
    texts = [p.format(n) for n in names for p in prompts]
    vectors = text_vectors(store, space, texts, device).reshape(len(names), len(prompts), -1)
    mean = vectors.mean(axis=1)
    return (mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def zero_shot(store: Store, collection: str, prompts: Sequence[str] | None = None,
              query_split: str | None = None, via: str | None = None,
              device: str = "auto") -> ZeroShot:
    """Classify every labelled point of a split by its nearest class prompt.

    Args:
        store: An open store.
        collection: The collection evaluated.
        prompts: Templates with one ``{}`` (several are averaged per class).
        query_split: The split classified (default: test, else validation, else every
            labelled point).
        via: The text space (a linked collection) when ``collection`` cannot embed text; the
            images are then read from it (the same points, by id).
        device: Where the text tower runs.

    Raises:
        UsageError: no text space (naming the linked ones that can), bad prompts, unknown split.
        MissingLabelsError: no labelled points or no class names.
    """
    started = time.perf_counter()
    templates = check_prompts(prompts)
    space = text_space(store, collection, via)
    meta = store.get_meta(space)
    if not meta.labels:
        raise MissingLabelsError(f"collection {space!r} has no class names to put into prompts: "
                                 "ingest a labelled dataset")
    splits = _labelled_splits(store, space)
    if not splits:
        raise MissingLabelsError(f"collection {space!r} has no labelled points to classify")
    if query_split is not None and query_split not in splits:
        raise UsageError(f"split {query_split!r} has no labelled points; labelled splits: "
                         f"{', '.join(sorted(str(s) for s in splits))}.")
    if query_split is None:
        query_split = next((s for s in QUERY_SPLITS if s in splits), None)
    _, X, payloads = store.fetch_all(space, Where(split=query_split, has_label=True), (Payload.LABEL,))
    y_true = np.array([int(p[Payload.LABEL]) for p in payloads], np.int64)
    W = class_vectors(store, space, meta.labels, templates, device)
    y_pred = np.argmax(X @ W.T, axis=1).astype(np.int64)
    classes = np.unique(np.concatenate([y_true, y_pred]))
    accuracy, macro, per_class, cm = _metrics(y_true, y_pred, classes)
    names = [label_name(meta.labels, int(c)) for c in classes]
    for entry, label, name in zip(per_class, classes, names, strict=True):
        entry.update(label=int(label), name=name)
    return ZeroShot(collection, space, query_split, len(y_true), templates,
                    [int(c) for c in classes], names, accuracy, macro, per_class, cm.tolist(),
                    time.perf_counter() - started)
