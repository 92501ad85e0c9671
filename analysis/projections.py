"""2-D maps of the vectors: UMAP (cosine), t-SNE (cosine) and PCA, each seeded and registered.

The functions take plain arguments (the benchmarks call them directly); the registrations at the
end adapt them to ``run(X, settings, analysis)`` and carry each method's minimum-size check.
"""

from __future__ import annotations

import numpy as np

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.errors import TooFewPointsError
from embedscope.analysis.registry import register_projection
from embedscope.analysis.result import Analysis, PCAResult


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


# Registrations, in the order the names are listed (--projections umap,tsne,pca).


def _umap_too_small(n: int, k: int, s: AnalysisSettings) -> str | None:
    if n > s.umap_neighbors:
        return None
    return (f"UMAP needs more than --umap-neighbors ({s.umap_neighbors}) points; there are {n}. "
            "Lower --umap-neighbors or drop umap from --projections.")


@register_projection("umap", check=_umap_too_small)
def _umap(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> np.ndarray:
    """UMAP with --umap-neighbors, --umap-min-dist and the seed."""
    return umap_map(X, s.umap_neighbors, s.umap_min_dist, s.seed)


def _tsne_too_small(n: int, k: int, s: AnalysisSettings) -> str | None:
    if n > s.tsne_perplexity:
        return None
    return (f"t-SNE needs more than --tsne-perplexity ({s.tsne_perplexity:g}) points; there are "
            f"{n}. Lower --tsne-perplexity or drop tsne from --projections.")


@register_projection("tsne", check=_tsne_too_small)
def _tsne(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> np.ndarray:
    """t-SNE with --tsne-perplexity and the seed."""
    return tsne_map(X, s.tsne_perplexity, s.seed)


@register_projection("pca")
def _pca_map(X: np.ndarray, s: AnalysisSettings, a: Analysis) -> np.ndarray:
    """The first two principal components (of the run's PCA stage)."""
    if a.pca is None:
        a.pca = pca(X, s.pca_components, s.seed)
    return a.pca.scores[:, :2].copy()
