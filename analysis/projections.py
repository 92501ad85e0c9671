"""2-D maps of the vectors: UMAP (cosine), t-SNE (cosine) and PCA, each seeded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import TooFewPointsError


@dataclass
class PCAResult:
    """Principal components of the vectors: scores and explained-variance ratios."""

    scores: np.ndarray
    explained_variance_ratio: np.ndarray


def pca(X: np.ndarray, n_components: int, seed: int) -> PCAResult:
    """``PCA(n_components=min(n_components, n, d), random_state=seed).fit_transform(X)``.

    The 2-D PCA map is the first two columns of the scores.
    """
    from sklearn.decomposition import PCA

    if len(X) < 2:
        raise TooFewPointsError("PCA needs at least 2 points; ingest more images first")
    comps = max(2, min(n_components, X.shape[0], X.shape[1]))
    model = PCA(n_components=comps, random_state=seed)
    scores = model.fit_transform(X)
    return PCAResult(scores.astype(np.float64), model.explained_variance_ratio_.astype(np.float64))


def umap_map(X: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """``umap.UMAP(n_neighbors, min_dist, metric='cosine', random_state=seed).fit_transform(X)``.

    A fixed random_state makes UMAP single-threaded and reproducible.
    """
    import warnings

    import umap

    if len(X) <= n_neighbors:
        raise TooFewPointsError(
            f"UMAP needs more points than --umap-neighbors ({n_neighbors}); the data has "
            f"{len(X)}. Lower --umap-neighbors or leave umap out of --projections."
        )
    model = umap.UMAP(
        n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=seed,
        n_components=2,
    )
    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": intended
        warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
        return np.asarray(model.fit_transform(X), dtype=np.float64)


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
