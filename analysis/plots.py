"""PNG figures (matplotlib Agg): maps, silhouettes, contingency, thumbnails, PCA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """RGBA per point; -1 (noise) is light grey."""
    plt = _plt()
    values = np.asarray(values)
    uniq = np.unique(values[values >= 0])
    cmap = plt.get_cmap("tab10" if len(uniq) <= 10 else "tab20" if len(uniq) <= 20 else "turbo")
    n_col = 10 if len(uniq) <= 10 else 20 if len(uniq) <= 20 else max(len(uniq), 1)
    palette = np.array([cmap(i % n_col if n_col <= 20 else i / n_col) for i in range(len(uniq))]
                       + [(0.8, 0.8, 0.8, 0.5)]).reshape(-1, 4)
    codes = np.where(values >= 0, np.searchsorted(uniq, values), len(uniq))
    return palette[codes], [(int(v), tuple(palette[i])) for i, v in enumerate(uniq)]


#: Above this many points a map panel is drawn as an image (``raster_image``) instead of one
#: marker per point: the same picture, milliseconds instead of ~3 s a panel per 300k points.
RASTER_POINTS = 50_000
#: Pixels of a raster panel, each way (the panel is drawn ~400 pixels wide).
RASTER_PIXELS = 400


def raster_image(Y: np.ndarray, rgba: np.ndarray, pixels: int = RASTER_PIXELS) -> np.ndarray:
    """A pixels × pixels RGBA image of the points (row 0 at the top): each pixel takes the
    colour of the last point that falls in it (as markers drawn in order would) and an opacity
    that grows with the number of points there (log scale, from 0.35 for one point to 1 for the
    densest pixel), so dense regions read as dense; empty pixels are transparent."""
    Y = np.asarray(Y, dtype=np.float64)
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    cell = np.minimum(((Y - lo) / span * pixels).astype(np.int64), pixels - 1)
    pixel = (pixels - 1 - cell[:, 1]) * pixels + cell[:, 0]
    last = np.full(pixels * pixels, -1, dtype=np.int64)
    np.maximum.at(last, pixel, np.arange(len(Y)))
    counts = np.bincount(pixel, minlength=pixels * pixels)
    image = np.zeros((pixels * pixels, 4))
    filled = last >= 0
    image[filled] = rgba[last[filled]]
    density = np.log1p(counts[filled]) / np.log1p(max(int(counts.max()), 1))
    image[filled, 3] = 0.35 + 0.65 * density
    return image.reshape(pixels, pixels, 4)


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return path


def map_panels(
    Y: np.ndarray, colourings: dict[str, tuple[np.ndarray, list[str] | None]], title: str,
    path: Path,
) -> Path:
    """One 2-D map drawn once per colouring (by label, by each clustering), side by side."""
    plt = _plt()
    cols = len(colourings)
    fig, axes = plt.subplots(1, cols, figsize=(5.2 * cols, 5), squeeze=False)
    size = max(0.5, min(12.0, 3000.0 / max(len(Y), 1)))
    for ax, (name, (values, names)) in zip(axes[0], colourings.items(), strict=True):
        rgba, legend = _colors(values)
        if len(Y) > RASTER_POINTS:
            ax.imshow(raster_image(Y, rgba), interpolation="nearest", aspect="auto",
                      extent=(Y[:, 0].min(), Y[:, 0].max(), Y[:, 1].min(), Y[:, 1].max()))
        else:
            ax.scatter(Y[:, 0], Y[:, 1], c=rgba, s=size, linewidths=0, rasterized=True)
        ax.set_title(f"{title}: {name}")
        ax.set_xticks([])
        ax.set_yticks([])
        if len(legend) <= 20:
            handles = [
                plt.Line2D([], [], marker="o", ls="", color=c,
                           label=(names[v] if names and v < len(names) else str(v)))
                for v, c in legend
            ]
            ax.legend(handles=handles, fontsize=6, loc="best" if len(Y) <= RASTER_POINTS else
                      "upper right", markerscale=0.8, framealpha=0.6)
    return _save(fig, path)


def per_class_silhouette(rows: list[dict[str, Any]], path: Path) -> Path:
    """Horizontal bars of the mean cosine silhouette of each class."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(rows) + 1.2))
    vals = [r["silhouette"] for r in rows]
    ax.barh([r["name"] for r in rows], vals, color=["tab:green" if v >= 0 else "tab:red"
                                                    for v in vals])
    ax.axvline(0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("mean silhouette (cosine, embedding space)")
    return _save(fig, path)


def contingency(
    table: list[list[int]], label_names: list[str], cluster_values: list[int], title: str,
    path: Path,
) -> Path:
    """Heatmap of the cluster-vs-label contingency table with the counts written in."""
    plt = _plt()
    mat = np.asarray(table)
    fig, ax = plt.subplots(figsize=(0.5 * mat.shape[1] + 3, 0.4 * mat.shape[0] + 2))
    ax.imshow(mat, cmap="Blues", aspect="auto")
    ax.set_yticks(range(mat.shape[0]), label_names, fontsize=7)
    ax.set_xticks(range(mat.shape[1]), [str(c) for c in cluster_values], fontsize=7)
    ax.set_xlabel("cluster")
    ax.set_title(title)
    if mat.size <= 900:
        high = mat.max() / 2 if mat.size else 0
        for (i, j), v in np.ndenumerate(mat):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6,
                    color="white" if v > high else "black")
    return _save(fig, path)


def thumbnail_grid(rows: list[tuple[str, list[Any]]], title: str, path: Path) -> Path:
    """One row of sample thumbnails per cluster (PIL images)."""
    plt = _plt()
    cols = max((len(imgs) for _, imgs in rows), default=1) or 1
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.1 * cols + 1, 1.1 * len(rows) + 0.5),
                             squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(imgs):
                ax.imshow(np.asarray(imgs[c]))
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def pca_variance(ratio: np.ndarray, path: Path) -> Path:
    """Explained variance per principal component and its cumulative sum."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = np.arange(1, len(ratio) + 1)
    ax.bar(xs, ratio, color="tab:blue", label="per component")
    ax2 = ax.twinx()
    ax2.plot(xs, np.cumsum(ratio), color="tab:orange", marker=".", label="cumulative")
    ax2.set_ylim(0, 1.02)
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax2.set_ylabel("cumulative")
    ax.set_title("PCA explained variance")
    return _save(fig, path)


def pca_strip(
    scores: np.ndarray, labels: np.ndarray | None, names: list[str], path: Path,
    components: int = 5, seed: int = 0, max_points: int = 5000,
) -> Path:
    """Strip plot of the first principal components, one column each, coloured by label."""
    plt = _plt()
    rng = np.random.default_rng(seed)
    n = len(scores)
    pick = np.arange(n)
    if n > max_points:
        pick = np.sort(rng.choice(n, size=max_points, replace=False))
    comps = min(components, scores.shape[1])
    values = labels[pick] if labels is not None else np.zeros(len(pick), dtype=np.int64)
    rgba, legend = _colors(values)
    fig, ax = plt.subplots(figsize=(1.6 * comps + 2, 4.5))
    for c in range(comps):
        jitter = rng.uniform(-0.3, 0.3, len(pick))
        ax.scatter(c + jitter, scores[pick, c], c=rgba, s=2, linewidths=0, rasterized=True)
    ax.set_xticks(range(comps), [f"PC{c + 1}" for c in range(comps)])
    ax.set_ylabel("score")
    ax.set_title("first principal components" + (" by label" if labels is not None else ""))
    if labels is not None and len(legend) <= 20:
        handles = [plt.Line2D([], [], marker="o", ls="", color=col,
                              label=names[v] if v < len(names) else str(v)) for v, col in legend]
        ax.legend(handles=handles, fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, path)


def k_curve(curve: list[dict[str, float]], chosen: int, path: Path) -> Path:
    """Cosine silhouette of k-means against k (the --clusters auto search)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([c["k"] for c in curve], [c["silhouette"] for c in curve], marker="o")
    ax.axvline(chosen, color="tab:red", ls="--", label=f"chosen k={chosen}")
    ax.set_xlabel("k")
    ax.set_ylabel("silhouette (cosine)")
    ax.legend()
    return _save(fig, path)


def grouped_bars(
    table: dict[str, dict[str, float | None]], title: str, path: Path
) -> Path:
    """Bars of several figures (rows of ``table``: metric → {collection: value})."""
    plt = _plt()
    metrics = list(table)
    series = sorted({c for row in table.values() for c in row})
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(metrics) * max(1, len(series)) / 2), 4.5))
    width = 0.8 / max(1, len(series))
    for s, name in enumerate(series):
        vals = [table[m].get(name) for m in metrics]
        ax.bar(np.arange(len(metrics)) + s * width, [v if v is not None else 0 for v in vals],
               width, label=name)
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics, rotation=45, ha="right",
                  fontsize=7)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, path)
