"""What the page does, without the page: open the store, describe collections, search, classify."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import Payload
from embedscope.errors import CollectionBusyError, EmbedscopeError, MissingLabelsError, UsageError
from embedscope.ingest.errors import BadImageError
from embedscope.settings import QdrantSettings
from embedscope.store import Store, Where
from embedscope.ui.batching import Batcher
from embedscope.ui.binding import code, escape
from embedscope.ui.config import ServingSettings, UISettings
from embedscope.ui.holding import page_hold
from embedscope.ui.images import Tile, caption, check_image, check_upload, enlarged, not_usable, tiles
from embedscope.ui.results import ALL, Filters, SearchResult, stale_note, vote_notes

#: Ways of choosing a stored query point.
PICK_MODES = ("random", "random of a class", "by id")
#: The payload fields a gallery tile shows (thumbnail and caption).
TILE_FIELDS = [Payload.THUMBNAIL, Payload.LABEL, Payload.LABEL_NAME, Payload.SPLIT, Payload.INDEX]


class Session:
    """One store and one query model for the whole process, shared by every page visitor and
    every API request.

    Store calls are serialised (the embedded engine is one shard per collection); an embedded
    store is let go after ``idle_release_seconds`` without a call, and at once when a job in
    another process waits for one of its collections (embedscope/store/locks.py).
    """

    def __init__(
        self, settings: ServingSettings | None = None,
        store: Store | Callable[[], Store] | None = None,
        embed: Callable[[Any, Any], np.ndarray] | None = None, qdrant: QdrantSettings | None = None,
    ) -> None:
        """Create a session.

        Args:
            settings: UI or serve settings (default: from EMBEDSCOPE_UI_* variables).
            store: An open store, or a factory called on first use (default: the store that
                EMBEDSCOPE_QDRANT_URL / EMBEDSCOPE_DATA_DIR point at).
            embed: ``embed(meta, image) -> vector`` (default: ingest.query.embed_query).
            qdrant: Where the store is (default: EMBEDSCOPE_QDRANT_URL / EMBEDSCOPE_DATA_DIR).
        """
        self.settings: Any = settings or UISettings()
        opened = store if isinstance(store, Store) else None
        factory = store if callable(store) and opened is None else None
        self._hold = page_hold(lambda: self.settings, factory, opened, qdrant)
        self._lock = self._hold.lock
        self._versions: dict[str, Any] = {}
        self._batchers: dict[tuple[Any, ...], Batcher] = {}
        self._batch_lock = threading.Lock()
        self._embed = embed
        self._qdrant = qdrant
        self._tags: dict[str, list[str]] = {}
        self._warm: set[tuple[Any, ...]] = set()  # query models that embedded at least once

    # --- store access ----------------------------------------------------------------------
    @contextmanager
    def store(self) -> Iterator[Store]:
        """The open store, opened on first use, held for this caller alone (see StoreHold);
        its searches use the page's --oversampling."""
        with self._hold.use() as s:
            s.oversampling = getattr(self.settings, "oversampling", None)
            yield s

    def holds(self) -> list[str]:
        """The embedded collections this session holds open now (empty for a server)."""
        return self._hold.holds()

    def close(self) -> None:
        """Close the store (a later call opens it again)."""
        with self._lock:
            self._hold.close()
            self._tags.clear()
            self._versions.clear()

    def shutdown(self) -> None:
        """Close the store and stop the idle-release thread."""
        self._hold.shutdown()
        self.close()

    def _fresh(self, collection: str, store: Store) -> None:
        """Drop cached facts about ``collection`` when another process changed it since."""
        try:
            record = store.integrity_record(collection)
        except EmbedscopeError:
            record = None
        version = (record.points, record.meta_sha256, record.updated_at) if record else None
        if self._versions.get(collection) != version:
            self.forget(collection)
            self._versions[collection] = version

    def forget(self, collection: str) -> None:
        """Drop cached facts about a collection (after it changed, e.g. new tags)."""
        self._tags.pop(collection, None)

    # --- collections -----------------------------------------------------------------------
    def collections(self) -> list[str]:
        """Names of the collections embedscope made (others are left out)."""
        with self.store() as s:
            return [n for n in s.list_collections() if s.stored_meta(n) is not None]

    def default_collection(self, names: Sequence[str]) -> str | None:
        """The collection selected when the page opens.

        The one named by the settings if it exists; else the most recently analysed one (its
        map and report are ready); else the first.
        """
        wanted = self.settings.collection
        if wanted and wanted in names:
            return wanted
        analysed: list[tuple[str, str]] = []
        with self.store() as s:
            for name in names:
                meta = s.stored_meta(name)
                when = meta.analysis.get("created_at") if meta is not None else None
                if when:
                    analysed.append((str(when), name))
        if analysed:
            return max(analysed)[1]
        return names[0] if names else None

    def describe(self, collection: str) -> str:
        """A Markdown line: name, model, points, dimension, classes and the latest analysis."""
        busy = ""
        with self.store() as s:
            meta = s.get_meta(collection)
            try:
                points = s.points(collection)  # the engine's counter, not a pass over N
            except CollectionBusyError as exc:  # a job has it: the last recorded count
                record = s.integrity_record(collection)
                points = record.points if record is not None else 0
                busy = " · ⏳ " + escape(str(exc).split(". ")[0])
        size = f", {meta.image_size} px" if meta.image_size else ""
        classes = f"{len(meta.labels)} classes" if meta.labels else "unlabelled"
        run = meta.analysis.get("created_at")
        analysis = f"latest analysis {escape(run)}" if run else "not analysed yet"
        empty = " — **empty: ingest images into it first**" if points == 0 else ""
        return (f"**{escape(collection)}** · model {code(meta.model)} ({meta.dimension}-d, "
                f"{escape(meta.pooling)}"
                f"{size}) · **{points:,} points**{empty} · {classes} · {analysis}{busy}")

    def class_names(self, collection: str) -> list[str]:
        """The collection's class names (index = label id)."""
        with self.store() as s:
            return list(s.get_meta(collection).labels)

    def splits(self, collection: str) -> list[str]:
        """The splits present in the collection, sorted (the engine's facet over the ``split``
        payload index: no pass over the points)."""
        with self.store() as s:
            found = s.facet(collection, Payload.SPLIT).values
        return sorted(str(v) for v in found)

    def tags(self, collection: str) -> list[str]:
        """The tags present in the collection (its points' ``tags`` payload lists), sorted:
        the engine's facet over the ``tags`` payload index.

        Cached per collection; ``forget`` drops the cache.
        """
        with self._lock:
            with self.store() as s:
                self._fresh(collection, s)
            if collection not in self._tags:
                with self.store() as s:
                    found = s.facet(collection, Payload.TAGS).values
                self._tags[collection] = sorted(str(v) for v in found)
            return list(self._tags[collection])

    def where(self, collection: str, split: str | None, label: str | None,
              tag: str | None = None) -> Where | None:
        """The filter for a split, a class and a tag chosen in the page ('(all)' or empty: any)."""
        from embedscope.search.knn import resolve_label

        split = None if not split or split == ALL else split
        tag = None if not tag or tag == ALL else tag
        label_id = None
        if label and label != ALL:
            with self.store() as s:
                label_id = resolve_label(s.get_meta(collection), label)
        where = Where(split=split, label=label_id, tag=tag)
        return None if where.is_empty() else where

    # --- search ----------------------------------------------------------------------------
    def check_k(self, k: Any) -> int:
        """``k`` as an int, when it is a whole number from 1 to ``max_k`` (2.5 is refused, not
        cut to 2; an empty box is refused by name).

        Raises:
            UsageError: k is empty, not a whole number, or out of range (the message names the
                value and the range).
        """
        top = self.settings.max_k
        whole = f"k must be a whole number between 1 and {top}"
        if k is None or (isinstance(k, str) and not k.strip()):
            raise UsageError(f"{whole}, got nothing (the k box is empty).")
        try:
            value = float(k)
        except (TypeError, ValueError):
            raise UsageError(f"{whole}, got {k!r}.") from None
        if isinstance(k, bool) or not value.is_integer():
            raise UsageError(f"{whole}, got {k!r}." if isinstance(k, (str, bool))
                             else f"{whole}, got {value!r}.")
        if not 1 <= value <= top:
            raise UsageError(f"k must be between 1 and {top}, got {int(value)}.")
        return int(value)

    def _model_key(self, meta: Any) -> tuple[Any, ...]:
        return (meta.model, meta.pooling, meta.image_size, meta.revision)

    def model_to_load(self, collection: str) -> str | None:
        """The query model of ``collection`` when this process has not embedded with it yet.

        The page says "loading model …" before such a first query (it can take seconds).
        """
        with self.store() as s:
            meta = s.get_meta(collection)
        return None if self._model_key(meta) in self._warm else str(meta.model)

    def usable_upload(self, path: str | Path | None) -> bool:
        """Whether an upload passes the checks ``embed_upload`` makes before the model runs
        (size limit, ingestion's image rules): a refused file needs no "loading model" note."""
        try:
            check_image(check_upload(path, self.settings.max_upload_mb))
        except (UsageError, BadImageError):
            return False
        return True

    def embed_upload(self, collection: str, path: str | Path | None) -> tuple[np.ndarray, Any]:
        """Vector and preview of an uploaded file, checked for size and content.

        The file must pass ingestion's own checks (readable image, not a decompression bomb,
        at least --min-side pixels a side): a query is refused where ingestion would reject.

        Raises:
            UsageError: no file, or the file is larger than the upload limit.
            BadImageError: the file is not a usable image (the message names the file).
        """
        from PIL import Image

        file = check_upload(path, self.settings.max_upload_mb)
        check_image(file)
        with self.store() as s:
            meta = s.get_meta(collection)
        try:
            vector = self.embed_image(meta, str(file))
            with Image.open(file) as img:
                preview = enlarged(img.convert("RGB"), 256)
        except (BadImageError, OSError) as exc:
            raise BadImageError(not_usable(file.name, str(exc))) from exc
        return vector, preview

    def embed_image(self, meta: Any, image: Any) -> np.ndarray:
        """The vector of a checked image (path or bytes) in the space of ``meta``.

        Concurrent calls share one model call (``batch_window_ms``, ``max_batch``).

        Raises:
            BadImageError: the image cannot be decoded.
        """
        if self._embed is not None:
            vector = self._embed(meta, image)
        else:
            from embedscope.ingest.query import query_pixels

            pixels = query_pixels(meta, image, self.settings.device)
            vector = self._batcher(meta).embed(pixels)
        self._warm.add(self._model_key(meta))
        return vector

    def _batcher(self, meta: Any) -> Batcher:
        key = self._model_key(meta)
        with self._batch_lock:
            if key not in self._batchers:
                from embedscope.ingest.query import embedder_for

                embedder = embedder_for(meta, self.settings.device)
                self._batchers[key] = Batcher(embedder.embed_batch,
                                              self.settings.batch_window_ms / 1000,
                                              self.settings.max_batch)
            return self._batchers[key]

    def search_upload(
        self, collection: str, path: str | Path | None, k: int, split: str | None = None,
        label: str | None = None, tag: str | None = None,
    ) -> SearchResult:
        """Neighbours and k-NN prediction of an uploaded image."""
        k = self.check_k(k)
        where = self.where(collection, split, label, tag)
        vector, preview = self.embed_upload(collection, path)
        return self._search(collection, k, where, label, vector=vector, query=preview)

    def search_point(
        self, collection: str, point_id: str, k: int, split: str | None = None,
        label: str | None = None, tag: str | None = None,
    ) -> SearchResult:
        """Neighbours and k-NN prediction of a stored point (it is left out of its own hits).

        Raises:
            UsageError: no point with that id in the collection.
        """
        k = self.check_k(k)
        point_id = point_id.strip()
        where = self.where(collection, split, label, tag)
        with self.store() as s:
            found = s.retrieve(collection, [point_id], list(TILE_FIELDS)) if _is_uuid(point_id) else []
        if not found:
            raise UsageError(f"no point with id {point_id!r} in {collection!r}.")
        query, text = tiles(found)[0]
        result = self._search(collection, k, where, label, point_id=point_id, query=query)
        result.query_id, result.query_caption = point_id, text
        return result

    def search_vector(self, collection: str, k: int, where: Where | None, label: str | None,
                      vector: np.ndarray) -> SearchResult:
        """Neighbours and k-NN prediction of a vector of ``collection``'s space (a phrase's)."""
        return self._search(collection, self.check_k(k), where, label, vector=vector)

    def _search(
        self, collection: str, k: int, where: Where | None, label: str | None,
        vector: np.ndarray | None = None, point_id: str | None = None, query: Any = None,
    ) -> SearchResult:
        from embedscope.search import knn

        with self.store() as s:
            try:
                vote = knn.classify(s, collection, vector, point_id, k, where)
                hits = vote.hits
            except MissingLabelsError:
                vote = None
                hits = knn.neighbours(s, collection, vector, point_id, k, where)
        gallery = tiles(hits)
        short = knn.shortfall(hits, k, collection, where)
        short = f"\n\n{escape(short[0].upper() + short[1:])}" if short else ""
        if vote is None:
            text = (f"**{len(hits)} neighbours.** The collection has no labels, so no k-NN "
                    f"vote.{short}")
            return SearchResult(query, gallery, text, [], hits)
        share = vote.majority.get(vote.label_name, 0.0)
        text = "\n\n".join([
            f"### Predicted: {escape(vote.label_name)}\n"
            f"{vote.counts.get(vote.label_name, 0)} of {len(hits)} neighbours "
            f"({share:.0%}); similarity-weighted vote: **{escape(vote.weighted_label_name)}** "
            f"({vote.weighted.get(vote.weighted_label_name, 0.0):.0%}).",
            *vote_notes(vote.counts, label),
        ]) + short
        rows = [{"class": name, "share": round(value, 4)}
                for name, value in vote.majority.items()]
        return SearchResult(query, gallery, text, rows, hits)

    # --- stored points ---------------------------------------------------------------------
    def pick_point(self, collection: str, mode: str, value: str | None = None,
                   rng: random.Random | None = None, avoid: str | None = None) -> str:
        """A stored point id: random, random of a class (name or id), or the id given.

        A random pick is never ``avoid`` (the point on show) while there is another to pick,
        so that pressing "random" again always changes the query.

        Raises:
            UsageError: an unknown mode, class or id.
            EmptyCollectionError: nothing to pick from.
        """
        from embedscope.errors import EmptyCollectionError
        from embedscope.search.knn import resolve_label

        rng = rng or random.Random()
        with self.store() as s:
            if mode == "by id":
                point = (value or "").strip()
                if not point:
                    raise UsageError("type a point id (a UUID): select a search result to see "
                                     "and copy its id, or use its 'Find similar' button.")
                if not _is_uuid(point) or not s.retrieve(collection, [point], False):
                    raise UsageError(f"no point with id {point!r} in {collection!r}.")
                return point
            where = None
            if mode == "random of a class":
                if not value or value == ALL:
                    raise UsageError("choose a class to pick a random image of it.")
                where = Where(label=resolve_label(s.get_meta(collection), value))
            elif mode != "random":
                raise UsageError(f"unknown pick mode {mode!r}: choose {', '.join(PICK_MODES)}.")
            # The engine draws them (no pass over the collection); two, so that one differs
            # from the point on show whenever the collection holds another.
            ids = s.sample(collection, 2, where)
        if not ids:
            raise EmptyCollectionError(f"no stored images to pick from in {collection!r}.")
        rng.shuffle(ids)
        return next((i for i in ids if i != avoid), ids[0])

    def tiles_by_id(self, collection: str, ids: Sequence[str]) -> dict[str, Tile]:
        """Gallery tiles of the stored points among ``ids`` (missing ones are left out)."""
        with self.store() as s:
            found = s.retrieve(collection, list(dict.fromkeys(ids)), list(TILE_FIELDS))
        return {r.id: t for r, t in zip(found, tiles(found), strict=True)}

    def thumbnails(self, collection: str, ids: Sequence[str],
                   captions: dict[str, str] | None = None) -> list[Tile]:
        """Gallery tiles of stored points in the order of ``ids``, captions prefixed if given."""
        found = self.tiles_by_id(collection, ids)
        captions = captions or {}
        return [(found[i][0], f"{captions[i]} · {found[i][1]}" if i in captions else found[i][1])
                for i in ids if i in found]


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def similar_request(value: str | None) -> str | None:
    """The point id of a ``find_similar`` request ``"<point id> <nonce>"`` (None when empty)."""
    parts = (value or "").split()
    return parts[0] if parts else None


__all__ = ["ALL", "PICK_MODES", "Filters", "SearchResult", "Session", "caption", "similar_request",
           "stale_note", "vote_notes"]
