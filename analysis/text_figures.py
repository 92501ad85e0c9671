"""Figures that need a text space: zero-shot accuracy and cluster captions (registered metric stages).

The text space is the analysed collection when its model embeds text, else a linked collection
of the same dataset that does (``--text-space`` names one). Without one the stages add a note
saying how to get them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedscope.analysis.registry import register_metric
from embedscope.analysis.result import Analysis, Stages
from embedscope.errors import UsageError
from embedscope.store import Store

#: The note a report carries when no space of the dataset embeds text.
NO_TEXT_NOTE = ("no zero-shot accuracy or cluster captions: neither this collection nor a linked "
                "one of the same dataset embeds text. Ingest the dataset with an image–text model "
                "too (e.g. --model google/siglip-base-patch16-224), then analyse again.")


def find_text_space(a: Analysis, store: Store) -> str | None:
    """The text space of the analysis: ``--text-space``, the collection itself, or a linked one."""
    from embedscope.search.spaces import text_space, text_spaces

    collection = str(a.settings.collection)
    if a.settings.text_space:
        return text_space(store, collection, a.settings.text_space)
    spaces = text_spaces(store, collection)
    return spaces[0] if spaces else None


def _space(a: Analysis, store: Store) -> str | None:
    """The text space, looked up once per run (None: a note says how to get one)."""
    if "text_space" not in a.text:
        a.text["text_space"] = find_text_space(a, store)
        if a.text["text_space"] is None:
            a.notes.append(NO_TEXT_NOTE)
    return a.text["text_space"]


@register_metric("zero_shot")
def zero_shot_figures(a: Analysis, store: Store, stages: Stages) -> None:
    """Zero-shot accuracy (search.zeroshot) in the text space, when there is one and labels."""
    if a.data.labels is None or not a.data.label_names:
        return
    space = _space(a, store)
    if space is None:
        return
    from embedscope.search.zeroshot import zero_shot

    with stages.stage("zero-shot accuracy"):
        zs = zero_shot(store, space, a.settings.zero_shot_prompts)
        a.zero_shot = {"space": space, "accuracy": zs.accuracy, "macro_f1": zs.macro_f1,
                       "query_split": zs.query_split, "points": zs.n_query, "prompts": zs.prompts}


def vocabulary(a: Analysis) -> tuple[list[str], list[str]]:
    """The caption phrases and the templates they go into.

    ``--vocabulary FILE``: its non-empty lines, as written (template ``{}``); else the class
    names put into the zero-shot prompts.

    Raises:
        UsageError: the file cannot be read or holds fewer than two phrases.
    """
    if a.settings.vocabulary:
        path = Path(a.settings.vocabulary).expanduser()
        try:
            phrases = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--vocabulary {path}: cannot read it ({exc}); give a text file "
                                "with one phrase a line") from exc
        phrases = list(dict.fromkeys(p for p in phrases if p))
        if len(phrases) < 2:
            raise UsageError(f"--vocabulary {path}: {len(phrases)} phrase(s); a caption picks "
                                "the best of at least two (one phrase a line)")
        return phrases, ["{}"]
    return list(a.data.label_names), list(a.settings.zero_shot_prompts)


def caption_clusters(X: np.ndarray, clusters: np.ndarray, phrase_vectors: np.ndarray,
                     phrases: list[str]) -> list[dict[str, Any]]:
    """Each cluster's best phrase: cosine of its unit vector to its points' normalised mean vector.

    Args:
        X: The points' unit vectors in the text space (n × d).
        clusters: Cluster id per point (−1, HDBSCAN noise, gets no caption).
        phrase_vectors: One unit vector per phrase (p × d), p ≥ 2.
        phrases: The phrases.

    Returns:
        One dict per cluster, by id: cluster, size, caption, score, runner_up, runner_up_score.
    """
    out = []
    for c in np.unique(clusters):
        if c < 0:
            continue
        mean = X[clusters == c].astype(np.float64).mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        cos = phrase_vectors.astype(np.float64) @ mean
        first, second = np.argsort(-cos, kind="stable")[:2]
        out.append({"cluster": int(c), "size": int(np.sum(clusters == c)),
                    "caption": phrases[first], "score": float(cos[first]),
                    "runner_up": phrases[second], "runner_up_score": float(cos[second])})
    return out


def _text_space_vectors(a: Analysis, store: Store, space: str) -> tuple[np.ndarray, np.ndarray]:
    """The analysed points' vectors in ``space`` and the mask of those it holds (by id)."""
    if space == a.settings.collection:
        return a.data.X, np.ones(a.data.n, bool)
    records: dict[str, Any] = {}
    for start in range(0, a.data.n, 4096):  # bounded requests, whatever the sample size
        records.update((r.id, r.vector) for r in store.retrieve(space, a.data.ids[start:start + 4096],
                                                                False, True))
    dim = store.get_meta(space).dimension
    have = np.array([records.get(i) is not None for i in a.data.ids], bool)
    X = np.zeros((a.data.n, dim), np.float32)
    for row, pid in enumerate(a.data.ids):
        vec = records.get(pid)
        if vec is not None:
            X[row] = vec
    return X, have


@register_metric("captions")
def cluster_captions(a: Analysis, store: Store, stages: Stages) -> None:
    """A caption per cluster of every clustering, from the vocabulary, in the text space."""
    if not a.clusterings:
        return
    space = _space(a, store)
    if space is None:
        return
    phrases, templates = vocabulary(a)
    if len(phrases) < 2:
        return  # unlabelled and no vocabulary: nothing to caption with
    from embedscope.search.zeroshot import class_vectors

    with stages.stage("cluster captions"):
        P = class_vectors(store, space, phrases, templates)
        X, have = _text_space_vectors(a, store, space)
        if not have.all():
            a.notes.append(f"cluster captions: {int((~have).sum())} analysed points are not in "
                           f"{space}; they are left out of the cluster means.")
        a.captions = {
            "space": space, "vocabulary": a.settings.vocabulary or "class names",
            "templates": templates,
            "clusterings": {name: caption_clusters(X[have], c.labels[have], P, phrases)
                            for name, c in a.clusterings.items()},
        }
