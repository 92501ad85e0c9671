"""k-means in torch (k-means++ seeding, Lloyd iterations): the GPU path of the k-means stage.

On the CPU the stage keeps scikit-learn's KMeans (its results are what the tests compare with);
this module runs the same algorithm on any torch device, so the CPU tests exercise the very code
a GPU runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedscope.analysis.device import tensor
from embedscope.analysis.result import Clustering


def _sq_dists(X: Any, C: Any, x_sq: Any) -> Any:
    """Squared euclidean distances n × k, clamped at 0 (||x||² - 2x·c + ||c||²)."""
    return (x_sq[:, None] - 2.0 * (X @ C.T) + (C * C).sum(dim=1)[None, :]).clamp_(min=0.0)


def _plus_plus(X: Any, x_sq: Any, k: int, gen: Any) -> Any:
    """k-means++ seeding with 2 + log(k) local trials per centre, as scikit-learn does."""
    import torch

    n = len(X)
    trials = 2 + int(np.log(k))
    first = int(torch.randint(n, (1,), generator=gen, device="cpu"))
    centres = [X[first]]
    closest = _sq_dists(X, X[first:first + 1], x_sq)[:, 0]
    for _ in range(1, k):
        probs = (closest / closest.sum()).cpu()
        cand = torch.multinomial(probs, trials, replacement=True, generator=gen).to(X.device)
        d = torch.minimum(closest[:, None], _sq_dists(X, X[cand], x_sq))
        best = int(d.sum(dim=0).argmin())
        closest = d[:, best]
        centres.append(X[cand[best]])
    return torch.stack(centres)


def kmeans_torch(
    X: np.ndarray, k: int, seed: int, n_init: int = 3, device: str = "cpu",
    max_iter: int = 300, tol: float = 1e-4,
) -> Clustering:
    """k-means (k-means++ init, ``n_init`` restarts, the lowest inertia kept) with torch.

    Args:
        X: n × d vectors.
        k: Clusters.
        seed: Seed of the initialisations (a torch CPU generator, so every device draws alike).
        n_init: Restarts.
        device: torch device.
        max_iter: Lloyd iterations at most per restart.
        tol: Stop when the centres move less than ``tol`` × the mean variance of the data.

    Returns:
        The clustering (labels, inertia and iterations of the best restart).
    """
    import torch

    T = tensor(X, device)
    x_sq = (T * T).sum(dim=1)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    limit = tol * float(T.var(dim=0).mean())
    best: tuple[float, Any, int, Any] | None = None
    with torch.no_grad():
        for _ in range(n_init):
            C = _plus_plus(T, x_sq, k, gen)
            it = 0
            for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
                labels = _sq_dists(T, C, x_sq).argmin(dim=1)
                sums = torch.zeros_like(C).index_add_(0, labels, T)
                counts = torch.bincount(labels, minlength=k).to(T.dtype)
                new = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], C)
                shift = float(((new - C) ** 2).sum())
                C = new
                if shift <= limit:
                    break
            d = _sq_dists(T, C, x_sq)
            labels = d.argmin(dim=1)
            inertia = float(d.gather(1, labels[:, None]).sum())
            if best is None or inertia < best[0]:
                best = (inertia, labels, it, C)
    assert best is not None  # n_init ≥ 1
    return Clustering(
        "kmeans", best[1].cpu().numpy().astype(np.int64),
        {"k": k, "n_init": n_init, "init": "k-means++", "seed": seed, "backend": f"torch:{device}"},
        {"inertia": best[0], "n_iter": best[2]},
        best[3].cpu().numpy().astype(np.float64),  # the centres: --update's nearest centre
    )
