"""Quality figures in bounded memory: chunked silhouettes, trustworthiness, ARI/NMI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from embedscope.analysis.data import normalize
from embedscope.scratch import release

#: Largest temporary block (elements) one chunk may allocate.
_BLOCK = 1 << 25


def _rows_per_chunk(n: int, per_row: int, chunk: int) -> int:
    return int(max(1, min(chunk, _BLOCK // max(1, n * per_row))))


def _codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..K-1 for labels ≥ 0 (-1 = left out) and the K cluster sizes (float64)."""
    values = np.unique(labels[labels >= 0])
    codes = np.full(len(labels), -1, dtype=np.int64)
    keep = labels >= 0
    codes[keep] = np.searchsorted(values, labels[keep])
    return codes, np.bincount(codes[keep], minlength=len(values)).astype(np.float64)


def _samples_from_sums(sums: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Silhouette values from per-cluster distance sums, exactly as sklearn's silhouette_samples."""
    rows = np.arange(len(codes))
    own = counts[codes] - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = sums[rows, codes] / own
        mean_other = sums / counts[None, :]
    mean_other[rows, codes] = np.inf
    inter = mean_other.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sil = (inter - intra) / np.maximum(intra, inter)
    sil[own == 0] = 0.0  # a singleton cluster scores 0, as in sklearn
    return np.nan_to_num(sil)


def _check_labels(codes: np.ndarray, counts: np.ndarray) -> bool:
    """sklearn's rule: 2 ≤ number of clusters ≤ n - 1."""
    n = int((codes >= 0).sum())
    return 2 <= len(counts) <= n - 1


def cosine_silhouette_samples(
    X: np.ndarray, labels: np.ndarray, chunk: int = 1024, progress: bool = False
) -> np.ndarray | None:
    """Per-point cosine silhouette, equal to sklearn's silhouette_samples(metric='cosine').

    Uses sum_j∈c (1 - x̂·ŷ_j) = |c| - x̂·Σ_j∈c ŷ_j, so memory is O(n·K + K·d) and the work is
    O(n·d·K) instead of an n × n matrix. Points labelled -1 are left out (their value is NaN).
    Returns None when there are fewer than 2 or more than n - 1 clusters.
    """
    from tqdm import tqdm

    labels = np.asarray(labels)
    codes, counts = _codes(labels)
    if not _check_labels(codes, counts):
        return None
    Xn = normalize(X)
    keep = np.flatnonzero(codes >= 0)
    sums_vec = np.zeros((len(counts), Xn.shape[1]), dtype=np.float64)
    for start in range(0, len(keep), chunk):
        part = keep[start:start + chunk]
        np.add.at(sums_vec, codes[part], Xn[part].astype(np.float64))
        release(Xn, int(part[0]), int(part[-1]) + 1)  # streamed vectors: a block held at a time
    out = np.full(len(labels), np.nan)
    bar = tqdm(total=len(keep), desc="silhouette (cosine)", disable=not progress, leave=False)
    for start in range(0, len(keep), chunk):
        part = keep[start:start + chunk]
        dists = counts[None, :] - Xn[part].astype(np.float64) @ sums_vec.T
        release(Xn, int(part[0]), int(part[-1]) + 1)
        out[part] = _samples_from_sums(dists, codes[part], counts)
        bar.update(len(part))
    bar.close()
    return out


def map_silhouette_samples(
    Y: np.ndarray, labelings: Mapping[str, np.ndarray], chunk: int = 1024, progress: bool = False,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray | None]:
    """Euclidean silhouette of several labelings of one 2-D map, in one chunked pass.

    Equal to sklearn's silhouette_samples(Y, labels) for each labeling; -1 entries are left
    out (NaN). The n × n distances exist one row chunk at a time. With ``rows``, only those
    points get a value (each against all points; the others are NaN): the mean over a seeded
    sample of rows estimates the silhouette score at a fraction of the quadratic cost.
    """
    from tqdm import tqdm

    from embedscope.analysis.kernels import distance_sums

    Y = np.asarray(Y, dtype=np.float64)
    n = len(Y)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    parts: dict[str, tuple[np.ndarray, np.ndarray, slice]] = {}
    columns: list[np.ndarray] = []
    col = 0
    for name, labels in labelings.items():
        codes, counts = _codes(np.asarray(labels))
        if not _check_labels(codes, counts):
            continue
        parts[name] = (codes, counts, slice(col, col + len(counts)))
        columns.append(np.where(codes >= 0, codes + col, -1))
        col += len(counts)
    result: dict[str, np.ndarray | None] = {name: None for name in labelings}
    if not parts:
        return result
    codes_of = np.stack(columns, axis=1)  # n × labelings: each point's column in each
    sums = np.empty((len(rows), col))
    step = max(1, min(chunk, len(rows)))
    bar = tqdm(total=len(rows), desc="silhouette (2-D map)", disable=not progress, leave=False)
    for start in range(0, len(rows), step):
        sums[start:start + step] = distance_sums(Y, rows[start:start + step], codes_of, col)
        bar.update(len(rows[start:start + step]))
    bar.close()
    for name, (codes, counts, cols) in parts.items():
        out = np.full(n, np.nan)
        keep = codes[rows] >= 0
        out[rows[keep]] = _samples_from_sums(sums[keep][:, cols], codes[rows][keep], counts)
        result[name] = out
    return result


def trustworthiness(
    X: np.ndarray, Y: np.ndarray, n_neighbors: int = 5, chunk: int = 1024, progress: bool = False,
    rows: np.ndarray | None = None, graph_index: np.ndarray | None = None, device: str = "cpu",
) -> float | None:
    """sklearn.manifold.trustworthiness(X, Y, n_neighbors, metric='cosine') in row blocks.

    The rank of each 2-D neighbour in the original space is counted per block instead of
    argsorting an n × n matrix. With ``graph_index`` (the shared k-NN graph over the same points,
    at least n_neighbors columns), a row whose map neighbours are all among its nearest
    n_neighbors contributes nothing and needs no similarities. With ``rows`` (a seeded sample),
    the penalty is summed over those rows and scaled by n / len(rows): an unbiased estimate.
    None when n_neighbors ≥ n / 2 (sklearn's limit).
    """
    return maps_trustworthiness(X, {"map": Y}, n_neighbors, chunk, progress, rows, graph_index,
                                device)["map"]


def maps_trustworthiness(
    X: np.ndarray, maps: Mapping[str, np.ndarray], n_neighbors: int = 5, chunk: int = 1024,
    progress: bool = False, rows: np.ndarray | None = None,
    graph_index: np.ndarray | None = None, device: str = "cpu",
) -> dict[str, float | None]:
    """:func:`trustworthiness` of each 2-D map of the same points, by name: one pass of the
    rows' similarities to every point serves every map (at a million points that pass is most of
    a map's cost)."""
    from tqdm import tqdm

    from embedscope.analysis.graph import rows_similarities
    from embedscope.analysis.kernels import rank_penalty

    n = len(X)
    k = n_neighbors
    if not maps or k >= n / 2:
        return dict.fromkeys(maps)
    every = rows is None
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    emb = {name: _map_neighbours(Y, rows, k, every) for name, Y in maps.items()}
    need = {name: np.ones(len(rows), dtype=bool) for name in maps}
    if graph_index is not None and graph_index.shape[1] >= k:
        near = graph_index[rows, :k]
        for name, found in emb.items():
            need[name] = ~(found[:, :, None] == near[:, None, :]).any(axis=2).all(axis=1)
    any_need = np.logical_or.reduce(list(need.values()))
    todo = rows[any_need]
    mine = {name: wanted[any_need] for name, wanted in need.items()}
    theirs = {name: found[any_need] for name, found in emb.items()}
    total = dict.fromkeys(maps, 0)
    block = _rows_per_chunk(n, 2, chunk)
    bar = tqdm(total=len(todo), desc="trustworthiness", disable=not progress, leave=False)
    at = 0
    for part, sim in rows_similarities(X, todo, device, block):
        S = sim.cpu().numpy()
        for name in maps:
            use = mine[name][at:at + len(part)]
            if use.all():
                total[name] += int(rank_penalty(S, part, theirs[name][at:at + len(part)]).sum())
            elif use.any():
                total[name] += int(rank_penalty(S[use], part[use],
                                                theirs[name][at:at + len(part)][use]).sum())
        at += len(part)
        bar.update(len(part))
    bar.close()
    scale = n / len(rows)
    return {name: float(1.0 - value * scale * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))
            for name, value in total.items()}


def _map_neighbours(Y: np.ndarray, rows: np.ndarray, k: int, every: bool) -> np.ndarray:
    """The k nearest map neighbours (Euclidean, 2-D) of each of ``rows``, the row itself left
    out (``every``: the rows are all points)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k).fit(Y)
    if every:
        return np.asarray(nn.kneighbors(return_distance=False))
    return _without_self(nn.kneighbors(Y[rows], n_neighbors=k + 1, return_distance=False),
                         rows, k)


def _without_self(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """k neighbours per row from k + 1 found: the row itself removed (else the farthest)."""
    out = np.empty((len(rows), k), dtype=np.int64)
    for i, (r, cand) in enumerate(zip(rows, found, strict=True)):
        kept = cand[cand != r]
        out[i] = kept[:k]
    return out


def mean_or_none(values: np.ndarray | None) -> float | None:
    """Mean over the defined entries (silhouette score), None when undefined."""
    if values is None:
        return None
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None


def per_class(values: np.ndarray, labels: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Mean silhouette per true class."""
    out = []
    for label in np.unique(labels):
        mask = labels == label
        name = names[label] if 0 <= label < len(names) else str(label)
        out.append({"label": int(label), "name": name, "count": int(mask.sum()),
                    "silhouette": float(values[mask].mean())})
    return out


def agreement(labels: np.ndarray, clusters: np.ndarray) -> dict[str, Any]:
    """ARI, NMI and the cluster-vs-label contingency table (rows: labels, columns: clusters)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.metrics.cluster import contingency_matrix

    return {
        "ari": float(adjusted_rand_score(labels, clusters)),
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
        "label_values": [int(v) for v in np.unique(labels)],
        "cluster_values": [int(v) for v in np.unique(clusters)],
        "contingency": contingency_matrix(labels, clusters).tolist(),
    }
