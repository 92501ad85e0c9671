"""Rows of a 🤗 datasets source as Items: image columns left encoded, labels as ids, stable point ids."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import file_point_id, row_point_id
from embedscope.ingest.errors import DatasetError
from embedscope.ingest.items import CHUNK, Item
from embedscope.ingest.units import Piece

IMAGE_COLUMNS = ("image", "img", "picture", "photo", "jpg", "png", "pixel_values")
LABEL_COLUMNS = ("label", "labels", "fine_label", "class", "target", "category", "coarse_label", "cls")
REMOTE_ROOT = re.compile(r"^hf://datasets/[^/]+/[^/@]+(?:@[^/]+)?/")


class Table:
    """Rows of a 🤗 datasets source as Items: image columns undecoded, labels as ids."""

    def __init__(self, name: str, root: Path | None, kind: str, stream: Callable[..., Any], first_split: str,
                 image_col: str | None, label_col: str | None, vector_col: str | None = None) -> None:
        import datasets

        self.name, self.root, self.kind, self.stream = name, root, kind, stream
        features = _features(stream(first_split))
        columns = list(features)
        self.vector_col = vector_col
        if vector_col is not None and vector_col not in features:
            raise DatasetError(f"--vector-column {vector_col!r}: no such column; the dataset has {columns}")
        self.image_cols = _image_columns(features, image_col) if image_col or vector_col is None else \
            [c for c in _image_columns(features, None) if c != vector_col]
        if not self.image_cols and vector_col is None:
            raise DatasetError(f"no image column found among {columns}; name it with --image-column")
        self.label_col = _label_column(features, label_col)
        feature = features.get(self.label_col) if self.label_col else None
        self.class_names: list[str] = []
        self.label_map: dict[str, int] | None = None
        if isinstance(feature, datasets.ClassLabel):
            self.class_names = list(feature.names)
        elif isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
            self.label_map = {}  # filled by a pass over the label column of every split (below)
        self.features = features
        self.first_split = first_split

    def prepare_names(self, splits: list[str]) -> None:
        """String labels: ids in sorted order of the names, from the label column of ``splits``."""
        if self.label_map is None or self.label_map:
            return
        names: set[str] = set()
        for split in splits:
            for batch in self.stream(split, [self.label_col]).iter(batch_size=10_000):
                names.update(v for v in batch[self.label_col] if v is not None)
        self.class_names[:] = sorted(names)
        self.label_map.update({n: i for i, n in enumerate(self.class_names)})

    def _label(self, value: Any) -> int | None:
        if value is None:
            return None
        if self.label_map is not None:
            return self.label_map.get(value)
        return int(value)

    def read_labels(self, split: str) -> np.ndarray:
        """Every label id of ``split`` in row order (−1 where none), reading only the label column."""
        out: list[int] = []
        for batch in self.stream(split, [self.label_col]).iter(batch_size=10_000):
            out.extend(-1 if (v := self._label(x)) is None else v for x in batch[self.label_col])
        return np.asarray(out, dtype=np.int64)

    def _relpath(self, path: str) -> str:
        if "://" in path:
            return REMOTE_ROOT.sub("", path)
        if self.root is not None:
            try:
                return Path(os.path.relpath(path, self.root)).as_posix()
            except ValueError:
                pass
        return Path(path).as_posix()

    def _item(self, split: str, index: int, value: Any, label: Any) -> Item:
        lab = self._label(label)
        data, path = None, None
        if isinstance(value, dict):
            data, path = value.get("bytes"), value.get("path")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
        elif isinstance(value, str):
            path = value
        if self.kind == "files" and path:
            return Item(file_point_id(self.name, self._relpath(path)), split, index, lab, path, data)
        point_id = row_point_id(self.name, split, index)
        if data is not None:
            return Item(point_id, split, index, lab, None, data)
        if path:
            full = path if "://" in path or os.path.isabs(path) or self.root is None else str(self.root / path)
            return Item(point_id, split, index, lab, full)
        return Item(point_id, split, index, lab, None, None, "this row has no image")

    def _columns(self) -> list[str]:
        return self.image_cols + ([self.label_col] if self.label_col else []) + \
            ([self.vector_col] if self.vector_col else [])

    def _chunk(self, split: str, index: int, batch: dict[str, list[Any]]) -> list[Item]:
        """Items of a batch of rows (columns as lists) whose first row is global row ``index``."""
        n = len(batch[self.image_cols[0] if self.image_cols else str(self.vector_col)])
        images = zip(*(batch[c] for c in self.image_cols)) if self.image_cols else [()] * n
        labels = batch[self.label_col] if self.label_col else [None] * n
        vectors = batch[self.vector_col] if self.vector_col else [None] * n
        chunk = []
        for values, label, vector in zip(images, labels, vectors):
            value = next((v for v in values if v is not None), None)
            item = self._item(split, index, value, label)
            item.vector = vector
            chunk.append(item)
            index += 1
        return chunk

    def items(self, split: str) -> Iterator[list[Item]]:
        """The split's Items in row order, ``CHUNK`` at a time; stop early by closing the iterator."""
        import datasets

        ds = self.stream(split, self._columns())
        for col in self.image_cols:
            if not (isinstance(self.features[col], datasets.Image) and not self.features[col].decode):
                ds = ds.cast_column(col, datasets.Image(decode=False))
        index = 0
        try:
            for batch in ds.iter(batch_size=CHUNK):
                chunk = self._chunk(split, index, batch)
                index += len(chunk)
                yield chunk
        except (OSError, ValueError, TypeError) as exc:
            raise DatasetError(f"{self.name} [{split}]: reading stopped after row {index}: {exc}") from exc

    def parquet_pieces(self, split: str, pieces: list[Piece]) -> Iterator[list[Item]]:
        """The Items of ``pieces`` (parquet row groups, whole or in part), read with pyarrow alone."""
        from embedscope.ingest.units import parquet_rows

        for piece in pieces:
            index = piece.lo
            try:
                for index, batch in parquet_rows(piece, self._columns(), CHUNK):
                    yield self._chunk(split, index, batch)
            except (OSError, ValueError, TypeError) as exc:
                raise DatasetError(f"{self.name} [{split}]: reading {piece.unit.url} stopped near row "
                                   f"{index}: {exc}") from exc


    def file_pieces(self, split: str, pieces: list[Piece]) -> Iterator[list[Item]]:
        """The Items of image files (one unit a file), labelled by their class folder as 🤗 datasets does."""
        chunk: list[Item] = []
        for piece in pieces:
            label = None
            if self.label_col and self.class_names:
                folder = os.path.basename(os.path.dirname(piece.unit.url))
                label = self.class_names.index(folder) if folder in self.class_names else None
            chunk.append(self._item(split, piece.lo, piece.unit.url, label))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _features(ds: Any) -> Any:
    import datasets

    features = ds.features
    if features is None:
        features = ds._resolve_features().features
    return datasets.Features(features)


def _image_columns(features: Any, wanted: str | None) -> list[str]:
    import datasets

    columns = list(features)
    if wanted:
        if wanted not in columns:
            raise DatasetError(f"no image column {wanted!r}; the columns are {columns}")
        return [wanted]
    typed = [c for c, f in features.items() if isinstance(f, datasets.Image)]
    if typed:
        return typed
    named = [c for c in IMAGE_COLUMNS if c in columns]
    if named:
        return named[:1]
    binary = [c for c, f in features.items()
              if (isinstance(f, datasets.Value) and f.dtype in ("binary", "large_binary"))
              or (isinstance(f, dict) and "bytes" in f)]
    return binary[:1]


def _label_column(features: Any, wanted: str | None) -> str | None:
    import datasets

    columns = list(features)
    if wanted:
        if wanted not in columns:
            raise DatasetError(f"no label column {wanted!r}; the columns are {columns}")
        return wanted
    classes = [c for c, f in features.items() if isinstance(f, datasets.ClassLabel)]
    if classes:
        return next((c for c in LABEL_COLUMNS if c in classes), classes[0])
    for c in LABEL_COLUMNS:
        f = features.get(c)
        if isinstance(f, datasets.Value) and (f.dtype.startswith(("int", "uint")) or "string" in f.dtype):
            return c
    return None
