"""A GIF of k-means and k-medoids iterations on a 2-D map: k-means++ vs random initialisation."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np


def _lloyd(Y: np.ndarray, centers: np.ndarray, steps: int) -> list[dict[str, Any]]:
    """Lloyd iterations from ``centers``: assignment, cost and centres after each step."""
    frames = []
    for _ in range(steps + 1):
        d = ((Y[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        frames.append({"labels": labels, "centers": centers.copy(),
                       "cost": float(d[np.arange(len(Y)), labels].sum())})
        new = np.array([Y[labels == c].mean(axis=0) if (labels == c).any() else centers[c]
                        for c in range(len(centers))])
        centers = new
    return frames


def _pam(Y: np.ndarray, init: np.ndarray, steps: int) -> list[dict[str, Any]]:
    """FasterPAM from the ``init`` medoids, stopped after 0, 1, … ``steps`` swap passes."""
    import kmedoids as km
    from sklearn.metrics import pairwise_distances

    diss = pairwise_distances(Y)
    frames = []
    for t in range(steps + 1):
        res = km.fasterpam(diss, init.copy(), max_iter=t, n_cpu=1)
        medoids = np.asarray(res.medoids, dtype=np.int64)
        frames.append({"labels": np.asarray(res.labels), "centers": Y[medoids],
                       "cost": float(res.loss)})
    return frames


def iterations(
    Y: np.ndarray, k: int, seed: int, steps: int
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Frames for (method, init) in {k-means, k-medoids} × {k-means++, random}."""
    from sklearn.cluster import kmeans_plusplus

    _, pp_idx = kmeans_plusplus(Y, k, random_state=seed)
    rnd_idx = np.random.default_rng(seed).choice(len(Y), size=k, replace=False)
    out = {}
    for init_name, idx in (("k-means++", np.asarray(pp_idx)), ("random", rnd_idx)):
        out[("k-means", init_name)] = _lloyd(Y, Y[idx].astype(np.float64), steps)
        out[("k-medoids", init_name)] = _pam(Y, idx.astype(np.uint64), steps)
    return out


def write_gif(
    Y: np.ndarray, k: int, seed: int, path: Path, max_points: int = 1500, steps: int = 12,
    map_name: str = "map",
) -> dict[str, Any]:
    """Render the iterations to ``path`` (GIF); returns the final cost of each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    rng = np.random.default_rng(seed)
    if len(Y) > max_points:
        Y = Y[np.sort(rng.choice(len(Y), size=max_points, replace=False))]
    Y = np.asarray(Y, dtype=np.float64)
    k = min(k, len(Y) - 1)
    runs = iterations(Y, k, seed, steps)
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    images = []
    for t in range(steps + 1):
        fig, axes = plt.subplots(2, 2, figsize=(9, 8.5))
        for ax, ((method, init), frames) in zip(axes.ravel(), runs.items(), strict=True):
            fr = frames[t]
            ax.scatter(Y[:, 0], Y[:, 1], c=[cmap(int(c) % cmap.N) for c in fr["labels"]],
                       s=3, linewidths=0)
            ax.scatter(fr["centers"][:, 0], fr["centers"][:, 1], c="black", marker="X", s=60)
            ax.set_title(f"{method}, {init} init: step {t}, cost {fr['cost']:.4g}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"k={k} on the {map_name} map ({len(Y)} points)")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=70)
        plt.close(fig)
        buf.seek(0)
        images.append(Image.open(buf).convert("P", palette=Image.Palette.ADAPTIVE))
    images[0].save(path, save_all=True, append_images=images[1:], duration=700, loop=0)
    return {
        f"{method} ({init})": {"final_cost": frames[-1]["cost"], "initial_cost": frames[0]["cost"]}
        for (method, init), frames in runs.items()
    }
