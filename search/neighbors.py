"""Cosine nearest neighbours and k-NN votes: the API behind `embedscope search` / `classify`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from embedscope.contract import CollectionMeta, Payload
from embedscope.errors import EmptyCollectionError, MissingLabelsError, UsageError
from embedscope.store import Hit, Store, Where, as_matrix

#: Payload fields a hit carries for display (the thumbnail is included for the UI).
HIT_FIELDS = (Payload.LABEL, Payload.LABEL_NAME, Payload.SPLIT, Payload.INDEX, Payload.SOURCE,
              Payload.DATASET, Payload.THUMBNAIL)


def describe_where(where: Where | None) -> str:
    """A short human phrase for a filter, for messages ("" when it matches everything)."""
    if where is None:
        return ""
    parts = []
    if where.split is not None:
        parts.append(f"split={where.split!r}")
    if where.label is not None:
        parts.append(f"label={where.label}")
    if where.tag is not None:
        parts.append(f"tag={where.tag!r}")
    if where.has_label:
        parts.append("labelled")
    return " matching " + ", ".join(parts) if parts else ""


def resolve_label(meta: CollectionMeta, value: str | int) -> int:
    """Turn a class given as an id ("3") or a name ("Dress", any case) into its label id.

    Raises:
        UsageError: the value names no class of the collection.
    """
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        label = int(text)
        if label < 0 or (meta.labels and label >= len(meta.labels)):
            raise UsageError(
                f"label {label} is out of range: the collection has {len(meta.labels)} classes "
                f"(0..{len(meta.labels) - 1}). Use `embedscope collections` to see them."
            )
        return label
    lowered = [name.lower() for name in meta.labels]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    known = ", ".join(f"{i}={n}" for i, n in enumerate(meta.labels)) or "none (unlabelled)"
    raise UsageError(f"unknown label {text!r}; expected a class id or name: {known}.")


def check_split(store: Store, collection: str, where: Where | None) -> None:
    """Raise UsageError listing the splits present when ``where`` names a split with no points."""
    if where is None or where.split is None or store.count(collection, Where(split=where.split)):
        return
    present = store.facet(collection, Payload.SPLIT).counts  # the payload index: no pass over N
    known = ", ".join(f"{s} ({n})" for s, n in sorted(present, key=lambda x: str(x[0]))) or "none"
    raise UsageError(f"no split {where.split!r} in collection {collection!r}; splits present: {known}.")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UsageError(f"k must be a positive integer, got {k!r}; e.g. -k 10.")
    return int(k)


def _point_vector(store: Store, collection: str, point_id: str) -> np.ndarray:
    try:
        uuid.UUID(str(point_id))
    except ValueError:
        raise UsageError(
            f"point id {point_id!r} is not a UUID; point ids look like "
            "'1b4e28ba-2fa1-11d2-883f-0016d3cca427' (see `embedscope search --json`)."
        ) from None
    found = store.retrieve(collection, [str(point_id)], with_payload=False, with_vectors=True)
    if not found or found[0].vector is None:
        raise UsageError(
            f"no point with id {point_id!r} in collection {collection!r}; "
            "take an id from `embedscope search --json` output."
        )
    return found[0].vector


def neighbours(
    store: Store, collection: str, vector: np.ndarray | Sequence[float] | None = None,
    point_id: str | None = None, k: int = 10, where: Where | None = None, exact: bool = False,
) -> list[Hit]:
    """The top-k cosine neighbours of a vector or of a stored point.

    Args:
        store: An open store.
        collection: Collection name.
        vector: Query vector (the collection's dimension; normalised by the cosine metric).
        point_id: Query by the stored vector of this point instead; the point itself is left
            out of its own neighbours.
        k: Number of neighbours.
        where: Filter on split / label (the candidates, not the query).
        exact: Brute-force search instead of HNSW.

    Returns:
        Up to k hits (fewer when fewer points match), best first; ``score`` is the cosine similarity, ``payload`` holds
        label, label_name, split, index, source, dataset and thumbnail.

    Raises:
        UsageError: neither or both of vector/point_id, bad k, unknown point, wrong dimension.

    Nothing is counted: when fewer than k points match, fewer hits come back (see
    `shortfall`); a search costs the same in a collection of 10k points as of 10M.
        CollectionNotFoundError: the collection does not exist.
        EmptyCollectionError: no point matches (the collection or the filter is empty).
    """
    k = _check_k(k)
    if (vector is None) == (point_id is None):
        raise UsageError("give exactly one of a query vector (or image) and a point id.")
    meta = store.get_meta(collection)
    if point_id is not None:
        query = _point_vector(store, collection, point_id)
        candidates = replace(where or Where(), exclude_ids=(*(where or Where()).exclude_ids,
                                                             str(point_id)))
    else:
        query = as_matrix(np.asarray(vector, dtype=np.float32).reshape(1, -1), meta.dimension)[0]
        if not np.any(query):
            raise UsageError("the query vector is all zeros; cosine similarity is undefined.")
        candidates = where or Where()
    hits = store.query_batch(
        collection, query[None, :], k, None if candidates.is_empty() else candidates, exact,
        list(HIT_FIELDS), False, [str(point_id)] if point_id is not None else None,
    )[0]
    if not hits:  # only now, on the way to an error, is anything counted
        check_split(store, collection, where)
        raise EmptyCollectionError(
            f"collection {collection!r} has no points{describe_where(where)}"
            f"{' other than the query point' if point_id is not None else ''}: "
            "ingest data with `embedscope ingest`, or loosen --split/--label."
        )
    return hits


def shortfall(hits: Sequence[Any], k: int, collection: str, where: Where | None = None) -> str | None:
    """A sentence when a search returned fewer than the k hits asked for (None otherwise).

    Read from the result, not from a count: fewer hits than k means that fewer points match.
    """
    if len(hits) >= k:
        return None
    return (f"only {len(hits)} of the k={k} neighbours asked for: {collection!r} holds no more "
            f"points{describe_where(where)} (other than the query point, when querying by id).")


def vote_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Votes per query and class: the one k-NN count every vote in embedscope uses.

    ``labels`` is n × k label ids (-1 for an unlabelled or missing neighbour).

    Returns:
        ``(classes, index, counts)``: the sorted label ids present, each vote's column in
        ``counts`` (``len(classes)`` for the unlabelled), and the votes (n × C).
    """
    classes = np.unique(labels[labels >= 0])
    n, c = len(labels), len(classes)
    index = np.where(labels >= 0, np.searchsorted(classes, labels), c)
    flat = (np.arange(n)[:, None] * (c + 1) + index).ravel()
    counts = np.bincount(flat, minlength=n * (c + 1)).reshape(n, c + 1)[:, :c]
    return classes, index, counts


def majority_vote(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The majority label of each row of ``labels`` (n × k; ties: the smallest label id, as
    scikit-learn's KNeighborsClassifier) and its vote count; -1 and 0 for a row with no vote."""
    classes, _, counts = vote_counts(labels)
    if not len(classes):
        return np.full(len(labels), -1, np.int64), np.zeros(len(labels), np.int64)
    best = np.argmax(counts, axis=1)
    votes = counts[np.arange(len(counts)), best]
    return np.where(votes > 0, classes[best], -1), votes


def vote_arrays(
    labels: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Majority and similarity-weighted k-NN votes for many queries at once.

    ``labels`` (n × K, K ≥ k, label ids, -1 for an unlabelled or missing neighbour) and
    ``scores`` (n × K cosine similarities) are ranked best first; only the first k count.
    A majority tie goes to the smallest label id, as in scikit-learn's KNeighborsClassifier;
    weights are similarities clipped at 0, and a row with no positive weight falls back to
    its majority prediction.

    Returns:
        ``(classes, counts, weights, majority, weighted)``: the sorted label ids present,
        votes and summed weights per query and class (n × C), and the two predictions
        (label ids, -1 where a query had no labelled neighbour).
    """
    top, sims = labels[:, :k], scores[:, :k]
    classes, index, counts = vote_counts(top)
    n, c = len(top), len(classes)
    flat = (np.arange(n)[:, None] * (c + 1) + index).ravel()
    weights = np.bincount(flat, weights=np.clip(sims, 0.0, None).ravel().astype(np.float64),
                          minlength=n * (c + 1)).reshape(n, c + 1)[:, :c]
    if c == 0:
        none = np.full(n, -1, np.int64)
        return classes, counts, weights, none, none.copy()
    majority = np.where(counts.sum(1) > 0, classes[np.argmax(counts, axis=1)], -1)
    weighted = np.where(weights.sum(1) > 0, classes[np.argmax(weights, axis=1)], majority)
    return classes, counts, weights, majority, weighted


def label_name(labels: Sequence[str], label: int) -> str:
    """The class name of a label id (the id itself when the collection has no name for it)."""
    if label < 0:
        return "(none)"
    return labels[label] if label < len(labels) else str(label)


@dataclass
class Vote:
    """A k-NN classification: the predicted class, each class's share of the vote, the voters."""

    label: int
    label_name: str
    weighted_label: int
    weighted_label_name: str
    #: Class name → share of the k votes (sorted, largest first).
    majority: dict[str, float]
    #: Class name → share of the summed similarity (sorted, largest first).
    weighted: dict[str, float]
    #: Class name → number of votes.
    counts: dict[str, int]
    hits: list[Hit] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (hits without thumbnails)."""
        return {
            "label": self.label, "label_name": self.label_name,
            "weighted_label": self.weighted_label,
            "weighted_label_name": self.weighted_label_name,
            "majority": self.majority, "weighted": self.weighted, "counts": self.counts,
            "neighbours": [hit_json(h) for h in self.hits],
        }


def hit_json(hit: Hit) -> dict[str, Any]:
    """A hit as a JSON-ready dict: id, score and the payload fields other than the thumbnail."""
    out: dict[str, Any] = {"id": hit.id, "score": round(hit.score, 6)}
    out.update({k: v for k, v in hit.payload.items() if k != Payload.THUMBNAIL})
    return out


def vote(hits: Sequence[Hit], labels: Sequence[str]) -> Vote:
    """Classify from ranked hits: majority vote (ties → smallest label id) and weighted vote.

    Args:
        hits: Neighbours, best first, with ``label`` in their payload; unlabelled ones
            do not vote.
        labels: The collection's class names (index = label id).

    Raises:
        MissingLabelsError: none of the hits has a label.
    """
    ids = np.array([[h.payload.get("label", -1) if h.payload.get("label") is not None else -1
                     for h in hits]], dtype=np.int64).reshape(1, -1)
    sims = np.array([[h.score for h in hits]], dtype=np.float64).reshape(1, -1)
    classes, counts, weights, majority, weighted = vote_arrays(ids, sims, ids.shape[1])
    if len(classes) == 0:
        raise MissingLabelsError(
            "none of the neighbours has a label, so there is nothing to vote with: "
            "ingest a labelled dataset, or use `embedscope search` for plain neighbours."
        )
    total, wtotal = counts[0].sum(), weights[0].sum()
    order = sorted(range(len(classes)), key=lambda i: (-counts[0, i], -weights[0, i], classes[i]))
    names = [label_name(labels, int(classes[i])) for i in order]
    return Vote(
        label=int(majority[0]), label_name=label_name(labels, int(majority[0])),
        weighted_label=int(weighted[0]), weighted_label_name=label_name(labels, int(weighted[0])),
        majority={n: float(counts[0, i] / total) for n, i in zip(names, order, strict=True)},
        weighted={
            n: float(weights[0, i] / wtotal) if wtotal > 0 else float(counts[0, i] / total)
            for n, i in zip(names, order, strict=True)
        },
        counts={n: int(counts[0, i]) for n, i in zip(names, order, strict=True)},
        hits=list(hits),
    )


def classify(
    store: Store, collection: str, vector: np.ndarray | Sequence[float] | None = None,
    point_id: str | None = None, k: int = 10, where: Where | None = None, exact: bool = False,
) -> Vote:
    """k-NN classification of a vector or a stored point against the labelled points.

    Args:
        store: An open store.
        collection: Collection name.
        vector: Query vector.
        point_id: Classify this stored point instead (it does not vote for itself).
        k: Number of voting neighbours.
        where: Restrict the voters (e.g. ``Where(split="train")``).
        exact: Brute-force search instead of HNSW.

    Raises:
        MissingLabelsError: the collection (or the filtered part) has no labelled points.
        UsageError, CollectionNotFoundError, EmptyCollectionError: as for `neighbours`.
    """
    meta = store.get_meta(collection)
    labelled = replace(where or Where(), has_label=True)
    try:
        hits = neighbours(store, collection, vector, point_id, k, labelled, exact)
    except EmptyCollectionError:  # no labelled candidate: say why (counts on the error path only)
        check_split(store, collection, where)
        if store.points(collection) == 0:
            raise
        raise MissingLabelsError(
            f"collection {collection!r} has no labelled points{describe_where(where)}, so k-NN "
            "cannot vote: ingest a dataset with a label column (or class folders), or use "
            "`embedscope search` for plain neighbours."
        ) from None
    return vote(hits, meta.labels)
