"""Clusterings: k-means, k-medoids (FasterPAM, cosine) and HDBSCAN; k chosen by silhouette."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.data import normalize
from analysis.errors import TooFewPointsError
from analysis.metrics import cosine_silhouette_samples, mean_or_none


@dataclass
class Clustering:
    """Cluster ids per point (-1 = HDBSCAN noise) and what produced them."""

    name: str
    labels: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _need(n: int, k: int, method: str) -> None:
    if n < k:
        raise TooFewPointsError(
            f"{method} with k={k} needs at least {k} points; the data has {n}. "
            "Pass a smaller --k or analyse a larger collection."
        )


def kmeans(X: np.ndarray, k: int, seed: int, n_init: int = 3) -> Clustering:
    """``KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(X)`` (k-means++ init)."""
    from sklearn.cluster import KMeans

    _need(len(X), k, "k-means")
    model = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(X)
    return Clustering(
        "kmeans", model.labels_.astype(np.int64),
        {"k": k, "n_init": n_init, "init": "k-means++", "seed": seed},
        {"inertia": float(model.inertia_), "n_iter": int(model.n_iter_)},
    )


def cosine_dissimilarity(X: np.ndarray) -> np.ndarray:
    """``sklearn.metrics.pairwise.cosine_distances(X)``: n × n, so only for small n."""
    from sklearn.metrics.pairwise import cosine_distances

    return cosine_distances(X)


def fasterpam(diss: np.ndarray, k: int, seed: int, max_iter: int = 100) -> Any:
    """``kmedoids.fasterpam(diss, k, max_iter, init='random', random_state=seed, n_cpu=1)``.

    One thread, so the result does not depend on scheduling.
    """
    import kmedoids as km

    return km.fasterpam(diss, k, max_iter=max_iter, init="random", random_state=seed, n_cpu=1)


def kmedoids(X: np.ndarray, k: int, seed: int, max_points: int = 10000) -> Clustering:
    """k-medoids with cosine dissimilarity (FasterPAM).

    Up to ``max_points`` points it runs on all of them; above, on a seeded sample of
    ``max_points`` (the n × n matrix would not fit), and every point joins its nearest medoid.
    """
    n = len(X)
    _need(n, k, "k-medoids")
    if n <= max_points:
        sub = np.arange(n)
    else:
        sub = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    result = fasterpam(cosine_dissimilarity(X[sub]), k, seed)
    medoids = sub[np.asarray(result.medoids, dtype=np.int64)]
    if n <= max_points:
        labels = np.asarray(result.labels, dtype=np.int64)
    else:
        Xn, M = normalize(X), normalize(X[medoids])
        labels = np.concatenate(
            [np.argmax(Xn[s:s + 8192] @ M.T, axis=1) for s in range(0, n, 8192)]
        ).astype(np.int64)
    return Clustering(
        "kmedoids", labels,
        {"k": k, "init": "random", "seed": seed, "metric": "cosine",
         "fitted_on": int(len(sub))},
        {"loss": float(result.loss), "medoids": medoids.tolist(), "n_iter": int(result.n_iter)},
    )


def hdbscan(Z: np.ndarray, min_cluster_size: int, space: str) -> Clustering:
    """``HDBSCAN(min_cluster_size, copy=True).fit_predict(Z)`` on the chosen space."""
    from sklearn.cluster import HDBSCAN

    if len(Z) < min_cluster_size:
        raise TooFewPointsError(
            f"HDBSCAN with --hdbscan-min-cluster-size {min_cluster_size} needs at least that "
            f"many points; the data has {len(Z)}. Lower it or leave hdbscan out of --clusterers."
        )
    labels = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(Z).astype(np.int64)
    found = int(len(np.unique(labels[labels >= 0])))
    return Clustering(
        "hdbscan", labels, {"min_cluster_size": min_cluster_size, "space": space},
        {"clusters": found, "noise": int((labels < 0).sum())},
    )


def choose_k(
    X: np.ndarray, k_min: int, k_max: int, seed: int, n_init: int = 3, chunk: int = 1024
) -> tuple[int, list[dict[str, float]]]:
    """The k in [k_min, k_max] whose k-means clustering has the best cosine silhouette.

    Returns the k and the curve [{k, silhouette}, ...].
    """
    hi = min(k_max, len(X) - 1)
    if hi < k_min:
        raise TooFewPointsError(
            f"--k auto tries k from {k_min}; the data has only {len(X)} points. "
            "Pass an explicit --k or analyse a larger collection."
        )
    curve = []
    for k in range(k_min, hi + 1):
        labels = kmeans(X, k, seed, n_init).labels
        score = mean_or_none(cosine_silhouette_samples(X, labels, chunk))
        curve.append({"k": k, "silhouette": float(score) if score is not None else float("nan")})
    best = max(curve, key=lambda c: (np.nan_to_num(c["silhouette"], nan=-2.0), -c["k"]))
    return int(best["k"]), curve
