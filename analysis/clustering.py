"""Clusterings: k-means, k-medoids (FasterPAM, cosine) and HDBSCAN, registered; k by silhouette.

The functions take plain arguments (the benchmarks call them directly); the registrations at the
end adapt them to ``run(X, settings, analysis)`` and carry each method's minimum-size check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.data import normalize
from embedscope.analysis.errors import TooFewPointsError
from embedscope.analysis.metrics import cosine_silhouette_samples, mean_or_none
from embedscope.analysis.projections import pca
from embedscope.analysis.registry import register_clusterer
from embedscope.analysis.result import Analysis, Clustering
from embedscope.scratch import block_rows, row_blocks, take


def _need(n: int, k: int, method: str) -> None:
    if n < k:
        raise TooFewPointsError(
            f"{method} with k={k} needs at least {k} points; the data has {n}. "
            "Pass a smaller --clusters or analyse a larger collection."
        )


def kmeans(X: np.ndarray, k: int, seed: int, n_init: int = 3, max_points: int = 0) -> Clustering:
    """``KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(X)`` (k-means++ init).

    scikit-learn centres a copy of the data (as large as ``X``): above ``max_points`` (0 =
    never) the centres are fitted on a seeded sample of that many rows and every row gets its
    nearest centre (``predict``, in chunks); the inertia is then over all rows.
    """
    from sklearn.cluster import KMeans

    _need(len(X), k, "k-means")
    n = len(X)
    params: dict[str, Any] = {"k": k, "n_init": n_init, "init": "k-means++", "seed": seed}
    if not max_points or n <= max_points:
        model = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(X)
        return Clustering("kmeans", model.labels_.astype(np.int64), params,
                          {"inertia": float(model.inertia_), "n_iter": int(model.n_iter_)},
                          model)
    fit = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    model = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(take(X, fit))
    labels = np.empty(n, dtype=np.int64)
    inertia = 0.0
    for start, part in row_blocks(X):
        dist = model.transform(part)  # to every centre
        labels[start:start + len(part)] = dist.argmin(axis=1)  # = predict (ties: first centre)
        inertia += float((dist.min(axis=1).astype(np.float64) ** 2).sum())
    params.update(fitted_on=int(max_points))
    return Clustering("kmeans", labels, params,
                      {"inertia": inertia, "n_iter": int(model.n_iter_)}, model)


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
    result = fasterpam(cosine_dissimilarity(take(X, sub)), k, seed)
    medoids = sub[np.asarray(result.medoids, dtype=np.int64)]
    if n <= max_points:
        labels = np.asarray(result.labels, dtype=np.int64)
    else:
        M = normalize(take(X, medoids))
        labels = np.concatenate(
            [np.argmax(normalize(part) @ M.T, axis=1) for _, part in row_blocks(X, 8192)]
        ).astype(np.int64)
    return Clustering(
        "kmedoids", labels,
        {"k": k, "init": "random", "seed": seed, "metric": "cosine",
         "fitted_on": int(len(sub))},
        {"loss": float(result.loss), "medoids": medoids.tolist(), "n_iter": int(result.n_iter)},
        normalize(take(X, medoids)),
    )


def hdbscan(
    Z: np.ndarray, min_cluster_size: int, space: str, max_points: int = 0, seed: int = 0
) -> Clustering:
    """``HDBSCAN(min_cluster_size, copy=True).fit_predict(Z)`` on the chosen space.

    scikit-learn's HDBSCAN is quadratic: above ``max_points`` (0 = never) it runs on a seeded
    sample of that many rows and every other row joins the cluster (or the noise) of its
    nearest sampled row in the same space.
    """
    from sklearn.cluster import HDBSCAN

    if len(Z) < min_cluster_size:
        raise TooFewPointsError(
            f"HDBSCAN with --hdbscan-min-cluster-size {min_cluster_size} needs at least that "
            f"many points; the data has {len(Z)}. Lower it or leave hdbscan out of --clusterers."
        )
    n = len(Z)
    params: dict[str, Any] = {"min_cluster_size": min_cluster_size, "space": space}
    if max_points and n > max_points:
        from sklearn.neighbors import NearestNeighbors

        fit = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
        Z_fit = take(Z, fit)
        fitted = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(Z_fit)
        rest = np.setdiff1d(np.arange(n), fit)
        nn = NearestNeighbors(n_neighbors=1).fit(Z_fit)
        labels = np.empty(n, dtype=np.int64)
        labels[fit] = fitted
        step = block_rows(Z)  # a block at a time: Z may be every vector, streamed
        for start in range(0, len(rest), step):
            part = rest[start:start + step]
            labels[part] = fitted[nn.kneighbors(take(Z, part), return_distance=False)[:, 0]]
        params.update(fitted_on=int(max_points), seed=seed)
        kept = {"Z": Z_fit, "labels": fitted.astype(np.int64)}
    else:
        labels = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(Z)
        labels = labels.astype(np.int64)
        kept = {"Z": np.asarray(Z), "labels": labels}
    found = int(len(np.unique(labels[labels >= 0])))
    return Clustering("hdbscan", labels, params,
                      {"clusters": found, "noise": int((labels < 0).sum())}, kept)


def nearest_fitted(kept: dict[str, np.ndarray], Z: np.ndarray) -> np.ndarray:
    """The cluster (or noise, -1) of each row's nearest fitted point in HDBSCAN's space.

    scikit-learn's HDBSCAN has no ``approximate_predict``; this is how the sampled run above
    places the rows it did not fit, so new points join clusters by the same rule.
    """
    from sklearn.neighbors import NearestNeighbors

    near = NearestNeighbors(n_neighbors=1).fit(kept["Z"]).kneighbors(
        Z, return_distance=False)[:, 0]
    return np.asarray(kept["labels"][near], dtype=np.int64)


def choose_k(
    X: np.ndarray, k_min: int, k_max: int, seed: int, n_init: int = 3, chunk: int = 1024,
    max_points: int = 0,
) -> tuple[int, list[dict[str, float]]]:
    """The k in [k_min, k_max] whose k-means clustering has the best cosine silhouette
    (each k-means fitted on at most ``max_points`` points, as :func:`kmeans`).

    Returns the k and the curve [{k, silhouette}, ...].
    """
    hi = min(k_max, len(X) - 1)
    if hi < k_min:
        raise TooFewPointsError(
            f"--clusters auto tries k from {k_min}; the data has only {len(X)} points. "
            "Pass an explicit --clusters or analyse a larger collection."
        )
    curve = []
    for k in range(k_min, hi + 1):
        labels = kmeans(X, k, seed, n_init, max_points).labels
        score = mean_or_none(cosine_silhouette_samples(X, labels, chunk))
        curve.append({"k": k, "silhouette": float(score) if score is not None else float("nan")})
    best = max(curve, key=lambda c: (np.nan_to_num(c["silhouette"], nan=-2.0), -c["k"]))
    return int(best["k"]), curve


# Registrations, in the order the names are listed (--clusterers kmeans,kmedoids,hdbscan).


def _needs_k_points(name: str) -> Callable[[int, int, AnalysisSettings], str | None]:
    """The size check of a method that makes k clusters (k = 0: --clusters auto, not chosen yet)."""

    def check(n: int, k: int, s: AnalysisSettings) -> str | None:
        if k and n < k:
            return (f"{name} with k={k} needs at least {k} points; there are {n}. "
                    "Pass a smaller --clusters.")
        return None

    return check


def _kmeans_place(model: Any, X: np.ndarray, update: Any) -> np.ndarray:
    """scikit-learn's ``predict`` (the nearest centre); torch k-means keeps its centres."""
    if hasattr(model, "predict"):
        return np.asarray(model.predict(np.asarray(X, dtype=model.cluster_centers_.dtype)),
                          dtype=np.int64)
    C = np.asarray(model, dtype=np.float64)
    Xd = np.asarray(X, dtype=np.float64)
    dist = (Xd**2).sum(axis=1)[:, None] - 2 * Xd @ C.T + (C**2).sum(axis=1)[None, :]
    return dist.argmin(axis=1).astype(np.int64)


def _kmedoids_place(medoids: np.ndarray, X: np.ndarray, update: Any) -> np.ndarray:
    """The most similar medoid (cosine), as points beyond --kmedoids-max-points join one."""
    return np.argmax(normalize(X) @ medoids.T, axis=1).astype(np.int64)


def _hdbscan_place(kept: dict[str, Any], X: np.ndarray, update: Any) -> np.ndarray:
    """The cluster of the nearest fitted point in HDBSCAN's space (PCA, vectors or UMAP)."""
    space = kept["space"]
    if space == "vectors":
        Z = normalize(X)
    elif space == "umap":
        if "umap" not in update.maps:
            raise ValueError("HDBSCAN ran on the UMAP map, which cannot place new points")
        Z = update.maps["umap"]
    else:
        Z = update.fitted["pca"].transform(X)[:, :kept["Z"].shape[1]]
    return nearest_fitted(kept, np.asarray(Z))


@register_clusterer("kmeans", title="k-means", check=_needs_k_points("kmeans"), uses_k=True,
                    place=_kmeans_place)
def _kmeans(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> Clustering:
    """k-means with the run's k, seed and --kmeans-n-init (torch on CUDA, else scikit-learn)."""
    if a.device == "cuda":
        from embedscope.analysis.torch_kmeans import kmeans_torch

        c = kmeans_torch(X, a.k, s.seed, s.kmeans_n_init, a.device)
        a.fitted["cluster/kmeans"] = c.model
        return c
    c = kmeans(X, a.k, s.seed, s.kmeans_n_init, s.kmeans_max_points)
    a.fitted["cluster/kmeans"] = c.model
    if "fitted_on" in c.params:
        a.notes.append(f"k-means centres were fitted on a seeded sample of "
                       f"{c.params['fitted_on']} of {len(X)} points; every point has its nearest "
                       "centre (--kmeans-max-points).")
    return c


@register_clusterer("kmedoids", title="k-medoids", check=_needs_k_points("kmedoids"), uses_k=True,
                    place=_kmedoids_place)
def _kmedoids(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> Clustering:
    """k-medoids with the run's k, seed and --kmedoids-max-points."""
    c = kmedoids(X, a.k, s.seed, s.kmedoids_max_points)
    a.fitted["cluster/kmedoids"] = c.model
    return c


def _hdbscan_too_small(n: int, k: int, s: AnalysisSettings) -> str | None:
    if n >= s.hdbscan_min_cluster_size:
        return None
    return (f"HDBSCAN needs at least --hdbscan-min-cluster-size ({s.hdbscan_min_cluster_size}) "
            f"points; there are {n}. Lower it or drop hdbscan from --clusterers.")


@register_clusterer(
    "hdbscan", title="HDBSCAN", check=_hdbscan_too_small,
    note="HDBSCAN noise points (-1) are left out of its silhouette; ARI/NMI count noise as one "
    "more cluster.",
    place=_hdbscan_place,
)
def _hdbscan(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> Clustering:
    """HDBSCAN with --hdbscan-min-cluster-size in the space --hdbscan-space names."""
    Z, space = _hdbscan_input(a)
    c = hdbscan(Z, s.hdbscan_min_cluster_size, space, s.hdbscan_max_points, s.seed)
    a.fitted["cluster/hdbscan"] = {**c.model, "space": "pca" if space.startswith("pca") else space}
    if "fitted_on" in c.params:
        a.notes.append(f"HDBSCAN ran on a seeded sample of {c.params['fitted_on']} of {len(Z)} "
                       "points; the others joined the cluster (or noise) of their nearest sampled "
                       "point (--hdbscan-max-points).")
    return c


def _hdbscan_input(a: Analysis) -> tuple[np.ndarray, str]:
    s = a.settings
    if s.hdbscan_space == "umap" and "umap" in a.maps:
        return a.maps["umap"], "umap"
    if s.hdbscan_space == "vectors":
        return normalize(a.data.X), "vectors"
    if s.hdbscan_space == "umap":
        a.notes.append("--hdbscan-space umap without a UMAP map: HDBSCAN ran on PCA instead.")
    if a.pca is None:
        a.pca = pca(a.data.X, s.pca_components, s.seed)
    dims = min(s.hdbscan_dims, a.pca.scores.shape[1])
    return a.pca.scores[:, :dims], f"pca{dims}"
