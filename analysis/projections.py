"""2-D maps of the vectors: UMAP (cosine), t-SNE (cosine) and PCA, each seeded and registered.

The functions take plain arguments (the benchmarks call them directly); the registrations at the
end adapt them to ``run(X, settings, analysis)`` and carry each method's minimum-size check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.device import cuml_umap
from embedscope.analysis.errors import TooFewPointsError
from embedscope.analysis.registry import register_projection
from embedscope.analysis.result import Analysis, PCAResult
from embedscope.scratch import row_blocks, take

#: Above this many points PCA is fitted on a seeded sample of this many (scikit-learn centres a
#: copy of what it fits) and every point is then projected, a block at a time.
PCA_FIT_POINTS = 200_000
#: Components whose scores a sample-fitted PCA keeps for every point: the map (2), the strip
#: plot (5) and HDBSCAN's space (--hdbscan-dims, 10 by default).
PCA_KEPT = 10


def pca(X: np.ndarray, n_components: int, seed: int, fit_points: int = PCA_FIT_POINTS,
        keep: int = PCA_KEPT) -> PCAResult:
    """``PCA(n_components=min(n_components, n, d), random_state=seed).fit_transform(X)``.

    The 2-D PCA map is the first two columns of the scores. Above ``fit_points`` points
    (0: never) the components are fitted on a seeded sample of that many rows and every row
    is projected in blocks (the scores then keep the first ``keep`` components, float32, and
    ``PCAResult.fitted_on`` says so).
    """
    from sklearn.decomposition import PCA

    if len(X) < 2:
        raise TooFewPointsError("PCA needs at least 2 points; ingest more images first")
    comps = max(2, min(n_components, X.shape[0], X.shape[1]))
    model = PCA(n_components=comps, random_state=seed)
    if not fit_points or len(X) <= fit_points:
        scores = model.fit_transform(X).astype(np.float64)
        fitted_on = None
    else:
        fit = np.sort(np.random.default_rng(seed).choice(len(X), size=fit_points, replace=False))
        model.fit(take(X, fit))
        cols = min(comps, max(2, keep))
        scores = np.empty((len(X), cols), dtype=np.float32)
        for start, part in row_blocks(X):
            scores[start:start + len(part)] = model.transform(part)[:, :cols]
        fitted_on = int(fit_points)
    ratio = model.explained_variance_ratio_.astype(np.float64)
    return PCAResult(scores, ratio, model, fitted_on)


#: Below this many points umap-learn computes an exact k-NN graph itself (and our graph would
#: only repeat it), so the shared graph is passed from this size on.
UMAP_OWN_EXACT = 4096


def umap_map(
    X: np.ndarray, n_neighbors: int, min_dist: float, seed: int,
    knn: tuple[np.ndarray, np.ndarray] | None = None, device: str = "cpu",
) -> np.ndarray:
    """``umap.UMAP(n_neighbors, min_dist, metric='cosine', random_state=seed).fit_transform(X)``.

    A fixed random_state makes umap-learn's optimisation single-threaded and reproducible (the
    trade-off we keep: the same seed gives the same map). ``knn`` (indices, cosine distances
    with at least n_neighbors columns, e.g. the shared exact graph) is passed as
    ``precomputed_knn`` so UMAP skips its own approximate NN-descent. On CUDA with cuML
    installed, cuML's UMAP runs instead (seeded, but not bit-identical to umap-learn).
    """
    if len(X) <= n_neighbors:
        raise TooFewPointsError(
            f"UMAP needs more points than --umap-neighbors ({n_neighbors}); the data has "
            f"{len(X)}. Lower --umap-neighbors or leave umap out of --projections."
        )
    if device == "cuda" and (gpu_umap := cuml_umap()) is not None:
        model = gpu_umap(n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine",
                         random_state=seed, n_components=2)
        return np.asarray(model.fit_transform(np.asarray(X, dtype=np.float32)), dtype=np.float64)
    return np.asarray(_umap_model(X, n_neighbors, min_dist, seed, knn).embedding_,
                      dtype=np.float64)


def _umap_model(
    X: np.ndarray, n_neighbors: int, min_dist: float, seed: int,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """A fitted, seeded umap-learn UMAP (cosine), with the precomputed graph when given."""
    import warnings

    import umap

    extra: dict[str, Any] = {}
    if knn is not None and len(X) >= UMAP_OWN_EXACT:
        extra["precomputed_knn"] = (knn[0].copy(), knn[1].copy())
    model = umap.UMAP(
        n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=seed,
        n_components=2, **extra,
    )
    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": intended
        warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*knn_search_index.*", category=UserWarning)
        model.fit(X)
    return model


def umap_fit_transform(
    X: np.ndarray, n_neighbors: int, min_dist: float, seed: int, max_points: int,
    chunk: int = 50_000,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """UMAP fitted on a seeded sample of ``max_points`` rows; every other row placed by transform.

    Returns the (n, 2) map, the sorted indices of the fitted rows and the fitted model. Rows
    are transformed ``chunk`` at a time, so memory stays bounded.
    """
    import warnings

    fit = np.sort(np.random.default_rng(seed).choice(len(X), size=max_points, replace=False))
    model = _umap_model(take(X, fit), n_neighbors, min_dist, seed)
    Y = np.zeros((len(X), 2), dtype=np.float64)
    Y[fit] = model.embedding_
    rest = np.setdiff1d(np.arange(len(X)), fit)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        for start in range(0, len(rest), chunk):
            part = rest[start:start + chunk]
            Y[part] = model.transform(take(X, part))
    return Y, fit, model


def umap_place(model: Any, X: np.ndarray) -> np.ndarray:
    """``model.transform(X)`` (float32 in, float64 out): new points on a fitted UMAP's map."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        return np.asarray(model.transform(np.asarray(X, dtype=np.float32)), dtype=np.float64)


#: Rows :func:`place` searches at a time.
PLACE_ROWS = 65536


def place(
    X: np.ndarray, fit: np.ndarray, Y_fit: np.ndarray, k: int = 10, device: str = "cpu",
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """A full map from a map of the ``fit`` rows: every other row (or only ``rows``; the rest
    stay at 0) at the similarity-weighted mean of its ``k`` nearest fitted rows (cosine), as
    UMAP's transform initialises new points.
    """
    from embedscope.analysis.graph import knn_to

    Y = np.zeros((len(X), 2), dtype=np.float64)
    Y[fit] = Y_fit
    rest = np.setdiff1d(np.arange(len(X)), fit) if rows is None else rows
    if not len(rest):
        return Y
    fitted = take(X, fit)
    for start in range(0, len(rest), PLACE_ROWS):  # a block of rows at a time
        part = rest[start:start + PLACE_ROWS]
        idx, sim = knn_to(take(X, part), fitted, k, device)
        w = np.clip(sim.astype(np.float64), 1e-6, None)
        Y[part] = (w[:, :, None] * Y_fit[idx]).sum(axis=1) / w.sum(axis=1, keepdims=True)
    return Y


def place_by_graph(
    graph: Any, X: np.ndarray, fit: np.ndarray, Y_fit: np.ndarray, k: int = 10,
    device: str = "cpu", rounds: int = 30,
) -> np.ndarray:
    """A full map from a map of the ``fit`` rows, through the shared graph of every row: each
    other row at the similarity-weighted mean of its already placed graph neighbours, round by
    round outwards from the fitted rows (O(n·k) a round, no search). Rows no round reaches
    (no placed neighbour) fall back to :func:`place`."""
    index, sim = graph.index, graph.sim
    Y = np.zeros((len(X), 2), dtype=np.float64)
    Y[fit] = Y_fit
    placed = np.zeros(len(X), dtype=bool)
    placed[fit] = True
    for _ in range(rounds):
        todo = np.flatnonzero(~placed)
        if not len(todo):
            break
        near = index[todo]
        w = np.clip(sim[todo].astype(np.float64), 1e-6, None) * placed[near] * (near >= 0)
        total = w.sum(axis=1)
        ok = total > 0
        if not ok.any():
            break
        rows, w, near = todo[ok], w[ok], near[ok]
        Y[rows] = np.einsum("nk,nkd->nd", w, Y[near]) / total[ok, None]
        placed[rows] = True
    rest = np.flatnonzero(~placed)
    if len(rest):
        Y[rest] = place(X, fit, Y_fit, k, device, rows=rest)[rest]
    return Y


def placement_agreement(
    X: np.ndarray, Y: np.ndarray, fit: np.ndarray, n_neighbors: int, seed: int,
    sample: int = 1000, device: str = "cpu",
) -> dict[str, Any]:
    """How well the placed rows keep their neighbourhoods next to the fitted ones: the map's
    trustworthiness (cosine) over a seeded sample of each."""
    from embedscope.analysis.metrics import trustworthiness

    rng = np.random.default_rng(seed)
    others = np.setdiff1d(np.arange(len(X)), fit)
    out: dict[str, Any] = {"sample": int(min(sample, len(others), len(fit))), "seed": seed}
    for name, pool in (("fitted", fit), ("placed", others)):
        rows = np.sort(rng.choice(pool, size=out["sample"], replace=False))
        value = trustworthiness(X, Y, n_neighbors, rows=rows, device=device)
        out[f"trustworthiness_{name}"] = None if value is None else round(float(value), 4)
    return out


def tsne_map(X: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """``TSNE(perplexity, metric='cosine', init='pca', random_state=seed).fit_transform(X)``."""
    from sklearn.manifold import TSNE

    if len(X) <= perplexity:
        raise TooFewPointsError(
            f"t-SNE needs more points than --tsne-perplexity ({perplexity:g}); the data has "
            f"{len(X)}. Lower --tsne-perplexity or leave tsne out of --projections."
        )
    model = TSNE(
        n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed,
    )
    return np.asarray(model.fit_transform(X), dtype=np.float64)


# Registrations, in the order the names are listed (--projections umap,tsne,pca).

#: How the points beyond a map's fitted sample are placed when the shared graph covers them all.
GRAPH_PLACED = ("similarity-weighted mean of their placed neighbours in the shared k-NN graph "
                "(outwards from the fitted sample)")


def _graph_of_all(a: Analysis) -> bool:
    """The shared graph holds every analysed point's neighbours among every analysed point."""
    return a.graph is not None and a.graph_rows is None and not a.graph_to_all


def _umap_too_small(n: int, k: int, s: AnalysisSettings) -> str | None:
    if n > s.umap_neighbors:
        return None
    return (f"UMAP needs more than --umap-neighbors ({s.umap_neighbors}) points; there are {n}. "
            "Lower --umap-neighbors or drop umap from --projections.")


def _umap_place(model: Any, X: np.ndarray, update: Any) -> np.ndarray:
    return umap_place(model, X)


@register_projection("umap", check=_umap_too_small, place=_umap_place)
def _umap(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> np.ndarray:
    """UMAP with --umap-neighbors, --umap-min-dist and the seed, on the shared k-NN graph.

    Above --map-max-points it is fitted on a seeded sample and the rest placed by transform.
    The umap-learn model is kept in ``a.fitted["map/umap"]`` (cuML's is not: an update
    cannot place new points on a cuML map).
    """
    from embedscope.analysis.fitted import ExactIndex

    gpu = a.device == "cuda" and cuml_umap() is not None
    if len(X) > s.map_max_points and not gpu and _graph_of_all(a):
        fit = np.sort(np.random.default_rng(s.seed).choice(len(X), size=s.map_max_points,
                                                           replace=False))
        model = _umap_model(take(X, fit), s.umap_neighbors, s.umap_min_dist, s.seed)
        # An update places new points by an exact search of the fitted points: pickling
        # umap-learn's own NN-descent index compiles its search first (a minute at 20k points).
        model._knn_search_index = ExactIndex(model)
        a.fitted["map/umap"] = model
        Y = place_by_graph(a.graph, X, fit, np.asarray(model.embedding_, np.float64),
                           device=a.device)
        a.estimates["umap"] = {
            "fitted_on": len(fit), "of": len(X), "seed": s.seed, "others": GRAPH_PLACED,
            "agreement": placement_agreement(X, Y, fit, s.trust_neighbors, s.seed + 3,
                                             device=a.device)}
        a.notes.append(f"UMAP was fitted on a seeded sample of {len(fit)} of {len(X)} points; "
                       f"the others sit at the {GRAPH_PLACED} (--map-max-points).")
        return Y
    if len(X) > s.map_max_points and not gpu:
        Y, fit, model = umap_fit_transform(X, s.umap_neighbors, s.umap_min_dist, s.seed,
                                           s.map_max_points)
        a.fitted["map/umap"] = model
        a.estimates["umap"] = {"fitted_on": len(fit), "of": len(X), "seed": s.seed,
                               "others": "umap transform"}
        a.notes.append(f"UMAP was fitted on a seeded sample of {len(fit)} of {len(X)} points; "
                       "the others were placed with UMAP's transform (--map-max-points).")
        return Y
    knn = None
    if a.graph is not None and a.graph_rows is None and a.graph.index.shape[1] >= s.umap_neighbors:
        knn = a.graph.distances(s.umap_neighbors)
    if gpu:
        return umap_map(X, s.umap_neighbors, s.umap_min_dist, s.seed, knn=knn, device=a.device)
    model = _umap_model(X, s.umap_neighbors, s.umap_min_dist, s.seed, knn)
    if getattr(model, "_knn_search_index", False) is None:  # fitted on our precomputed graph
        model._knn_search_index = ExactIndex(model)
    a.fitted["map/umap"] = model
    return np.asarray(model.embedding_, dtype=np.float64)


def _tsne_too_small(n: int, k: int, s: AnalysisSettings) -> str | None:
    if n > s.tsne_perplexity:
        return None
    return (f"t-SNE needs more than --tsne-perplexity ({s.tsne_perplexity:g}) points; there are "
            f"{n}. Lower --tsne-perplexity or drop tsne from --projections.")


@register_projection("tsne", check=_tsne_too_small)
def _tsne(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> np.ndarray:
    """t-SNE with --tsne-perplexity and the seed (fitted on at most --tsne-max-points)."""
    if len(X) <= s.tsne_max_points:
        return tsne_map(X, s.tsne_perplexity, s.seed)
    fit = np.sort(np.random.default_rng(s.seed).choice(len(X), s.tsne_max_points, replace=False))
    others = (GRAPH_PLACED if _graph_of_all(a)
              else "similarity-weighted mean of their 10 nearest fitted points")
    a.estimates["tsne"] = {"fitted_on": len(fit), "of": len(X), "seed": s.seed, "others": others}
    a.notes.append(f"t-SNE was fitted on a seeded sample of {len(fit)} of {len(X)} points; the "
                   f"others sit at the {others} (--tsne-max-points).")
    Y_fit = tsne_map(take(X, fit), s.tsne_perplexity, s.seed)
    if _graph_of_all(a):
        return place_by_graph(a.graph, X, fit, Y_fit, device=a.device)
    return place(X, fit, Y_fit, 10, a.device)


def _pca_place(model: Any, X: np.ndarray, update: Any) -> np.ndarray:
    return np.asarray(model.transform(X)[:, :2], dtype=np.float64)


@register_projection("pca", place=_pca_place)
def _pca_map(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> np.ndarray:
    """The first two principal components (of the run's PCA stage)."""
    if a.pca is None:
        a.pca = pca(X, s.pca_components, s.seed)
    a.fitted["map/pca"] = a.pca.model
    return a.pca.scores[:, :2].copy()
