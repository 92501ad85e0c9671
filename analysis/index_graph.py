"""The shared k-NN graph of every point through the collection's own index (HNSW).

Above ``--graph-max-points`` the exact graph (n²·d) is out of reach, so each point's neighbours
come from the store's batched search, as any query's do: the embedded store's HNSW index, the
server's on a server. The approximate pass's recall against exact search is measured on a
seeded sample (``graph.graph_recall``) and stated in report.json, and every point gets every
k-NN score. What the store cannot answer (a point missing from the results because it was
added or removed since the vectors were read) is filled by exact search against the read
vectors, so each row holds k true neighbours.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from embedscope.analysis.graph import Neighbours, knn_to, neighbours_with_pairs
from embedscope.scratch import row_blocks, take
from embedscope.store import Store
from embedscope.store.footprint import SCANNED_LIMIT
from embedscope.store.keys import HitKeys, IdRows

#: Queries per batched search: large enough to amortise a call, small enough for a progress bar.
QUERY_BATCH = 512
#: Rows of the graph ordered at a time (the order's int64 copy of a block: 11 MB at k = 21).
SORT_ROWS = 65_536
#: An embedded collection counts as indexed when at least this share of its vectors is.
INDEXED_SHARE = 0.99
#: Below this size a collection is searched by a full scan, which is exact and cheap.
FULL_SCAN_POINTS = 10_000


def index_built(store: Store, collection: str, n: int) -> bool:
    """Whether ``collection`` is an embedded collection of ``n`` points whose HNSW index has
    been built (False on a server, whose optimiser indexes by itself)."""
    indexed = store.indexed_vectors(collection)
    return indexed is not None and n > FULL_SCAN_POINTS and indexed >= INDEXED_SHARE * n


def moved_out_of_index(was_built: bool, written: int) -> bool:
    """Whether rewriting the payloads of ``written`` points of a collection whose HNSW index
    was built (``was_built``) calls for building it again: more than FULL_SCAN_POINTS points.

    The engine moves a point whose payload changes out of its indexed segment into the
    appendable one, which every search scans: after an analysis writes every point's map and
    scores, a million-point collection would answer each search by a full scan (28 batched
    queries/s at 1M × 384 instead of 3,000) until its index is built again (``optimize``).
    """
    return was_built and written > FULL_SCAN_POINTS


def index_outside(store: Store, collection: str, rebuild: bool) -> str | None:
    """A note when more than SCANNED_LIMIT vectors lie outside the collection's HNSW index
    (embedded; ``Store.scanned_vectors``), which every search of the graph would compare one by
    one: an earlier write-back by a version that did not rebuild the index left a whole
    collection so (1M points: hours of searching). With ``rebuild`` the index is built first."""
    scanned = store.scanned_vectors(collection)
    if scanned is None or scanned <= SCANNED_LIMIT:
        return None
    if not rebuild:
        return (f"about {scanned:,} vectors lie outside the collection's HNSW index, and every "
                "search of the k-NN graph compared each of them with its query (--no-reindex)")
    started = time.perf_counter()
    store.optimize(collection)
    return (f"about {scanned:,} vectors lay outside the collection's HNSW index (written, or "
            "their payload changed, since it was built: an earlier analysis's write-back moves "
            "every point out of it), and every search of the k-NN graph would have compared each "
            f"of them with its query: the index was built again first "
            f"({time.perf_counter() - started:.0f} s; --no-reindex skips it)")


def index_unusable(store: Store, collection: str, n: int) -> str | None:
    """Why the collection's index cannot serve an every-point graph of ``n`` points (None: it
    can). A server indexes in the background and a small collection is scanned, so only a large
    embedded collection whose HNSW index was never built is refused: every query would scan
    every vector."""
    indexed = store.indexed_vectors(collection)
    if indexed is None or n <= FULL_SCAN_POINTS or indexed >= INDEXED_SHARE * n:
        return None
    return (f"its HNSW index holds {indexed} of {n} vectors (ingested with --index skip, or "
            "interrupted while indexing); an ingest of the same dataset with --index wait "
            "builds it")


#: Beam widths --graph-ef 0 tries, narrowest first: the every-point graph's searches cost about
#: ef (at 1M × 384: 3,180 queries/s at 32 against 1,470 at the engine's default of 100).
EF_STEPS = (32, 64, 128, 256)
#: The share of the exact neighbours a beam must find on the pilot rows to be chosen.
EF_TARGET_RECALL = 0.99
#: Rows of the pilot that chooses the beam (each searched exactly: rows × n × d).
EF_PILOT_ROWS = 256


def choose_ef(
    store: Store, collection: str, ids: Sequence[str], X: np.ndarray, k: int, seed: int = 0,
    rows: int = EF_PILOT_ROWS,
) -> tuple[int, float]:
    """The narrowest beam of EF_STEPS whose searches find EF_TARGET_RECALL of the exact
    ``k`` + 1 nearest neighbours (the point itself among them) of a seeded pilot sample of
    ``rows`` rows, and the recall it found there; the widest when none does.

    ``ids`` and ``X`` are every point of the collection, as :func:`index_graph` takes them.
    """
    n = len(X)
    pilot = np.random.default_rng(seed).choice(n, size=min(rows, n), replace=False)
    queries = take(X, pilot)
    exact, _ = knn_to(queries, X, k + 1)
    wanted = [{ids[j] for j in row} for row in exact.tolist()]
    recall = 0.0
    for ef in EF_STEPS:
        hits = store.query_batch(collection, queries, k + 1, with_payload=False, ef=ef)
        recall = float(np.mean([len({h.id for h in row} & want) / len(want)
                                for row, want in zip(hits, wanted, strict=True)]))
        if recall >= EF_TARGET_RECALL:
            break
    return ef, recall


def index_graph(
    store: Store, collection: str, ids: Sequence[str], X: np.ndarray, k: int,
    dup_threshold: float = 1.1, max_pairs: int = 200, progress: bool = False,
    batch: int = QUERY_BATCH, ef: int | None = None,
) -> Neighbours:
    """Top-``k`` cosine neighbours of every row (self excluded) among the rows, through the
    store's search, and the near-duplicate pairs among them.

    Args:
        store: The store holding ``collection``.
        collection: The collection the rows were read from.
        ids: The point id of each row of ``X`` (every point of the collection).
        X: n × d vectors, as stored.
        k: Neighbours per point (capped at n - 1).
        dup_threshold: Cosine similarity from which two neighbours are near-duplicates.
        max_pairs: Most similar pairs kept (all found are counted).
        progress: Show a progress bar.
        batch: Queries per search call.
        ef: The HNSW search's beam width (None: the engine's default).
    """
    from tqdm import tqdm

    n = len(ids)
    k = max(0, min(k, n - 1))
    lookup = IdRows(ids)
    index = np.full((n, k), -1, dtype=np.int32)
    sim = np.full((n, k), -np.inf, dtype=np.float32)
    bar = tqdm(total=n, desc="k-NN graph (index)", unit="pt", disable=not progress or not k,
               leave=False)
    for start, queries in row_blocks(X[:n if k else 0], batch):
        found = store.query_keys(collection, queries, k + 1, ef=ef)
        place_hits(found, lookup.rows(found.keys), start, index, sim)
        bar.update(min(batch, n - start))
    bar.close()
    _fill_short_rows(X, index, sim)
    for start in range(0, n, SORT_ROWS):  # in place, a block of rows at a time
        rows = slice(start, start + SORT_ROWS)
        order = np.lexsort((index[rows], -sim[rows]), axis=1)  # most similar first, ties: smaller index first
        index[rows] = np.take_along_axis(index[rows], order, axis=1)
        sim[rows] = np.take_along_axis(sim[rows], order, axis=1)
    return neighbours_with_pairs(index, sim, dup_threshold, max_pairs)


def place_hits(found: HitKeys, rows: np.ndarray, start: int, index: np.ndarray,
               sim: np.ndarray) -> None:
    """Put one batch's hits into rows ``start`` … of the graph (in place): each query's first
    ``k`` hits among the read points (``rows`` ≥ 0), the query's own point left out."""
    query = found.query
    keep = (rows >= 0) & (rows != start + query)
    query, rows, scores = query[keep], rows[keep], found.scores[keep]
    first = np.searchsorted(query, np.arange(len(found.counts)))
    rank = np.arange(len(query)) - first[query]
    ok = rank < index.shape[1]
    index[start + query[ok], rank[ok]] = rows[ok]
    sim[start + query[ok], rank[ok]] = scores[ok]


def _fill_short_rows(X: np.ndarray, index: np.ndarray, sim: np.ndarray) -> None:
    """Rows the search left short get their exact neighbours (in place)."""
    short = np.flatnonzero((index < 0).any(axis=1))
    if not len(short):
        return
    k = index.shape[1]
    found, near = knn_to(take(X, short), X, k + 1)
    for row, i in enumerate(short):
        keep = found[row] != i
        index[i], sim[i] = found[row][keep][:k], near[row][keep][:k]
