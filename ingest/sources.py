"""Dataset sources, read through 🤗 datasets and streamed: memory does not grow with the dataset.

`open_source` accepts what ``datasets.load_dataset`` accepts — a hub name (with ``--config`` and
``--split``), a directory or file of parquet / arrow / json(l) / csv, a ``save_to_disk``
directory, an image folder (``imagefolder``: splits from ``train/`` ``test/`` folders, labels from
class folders), a glob — plus WebDataset tar shards (`embedscope.ingest.webdataset`). Every
source yields `Item` chunks in a fixed order; images stay encoded (``Image(decode=False)``) so
the robust decoder decides what is a good image. Point ids come from (dataset, split, row) for
tables, from the path relative to the dataset root for image files, and from the shard and
key for WebDataset samples, so a re-run finds what is stored.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.contract import dataset_slug, file_point_id
from embedscope.ingest.errors import DatasetError
from embedscope.ingest.items import CHUNK, Item
from embedscope.ingest.units import Piece, Unit

log = logging.getLogger(__name__)
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


@dataclass
class Dataset:
    """A streamed source: its splits, class names and how to read rows, labels and counts."""

    name: str  # the slug used in point ids and the collection name
    labels: list[str]  # class names (label id = position); empty when unnamed or unlabelled
    splits: list[str]
    kind: str  # "rows" (tables), "files" (image files), "tars" (WebDataset)
    read: Callable[[str], Iterator[list[Item]]]  # a split's items in order, in chunks
    read_labels: Callable[[str], np.ndarray] | None  # a split's label ids (−1: none), cheaply
    count: Callable[[str], int | None] = field(default=lambda split: None)  # rows, when cheap
    # the split's whole input units (parquet row groups, tars, image files), for --shard; None: rows only
    units: Callable[[str], list[Unit]] | None = None
    read_pieces: Callable[[str, list[Piece]], Iterator[list[Item]]] | None = None  # reads units


# ---- resolution -------------------------------------------------------------------------------


def open_source(dataset: str, splits: list[str] | None = None, image_col: str | None = None,
                label_col: str | None = None, labels_from_folders: bool | None = None,
                config: str | None = None, vector_col: str | None = None) -> Dataset:
    """Resolve ``dataset`` into a streamed `Dataset` (nothing is read beyond file listings).

    Raises:
        DatasetError: nothing readable there, an unknown split, a missing column.
        OfflineError: a hub dataset that is neither cached nor reachable.
    """
    spec = dataset.strip()
    path = Path(spec).expanduser()
    kw = dict(image_col=image_col, label_col=label_col, labels_from_folders=labels_from_folders,
              config=config, vector_col=vector_col)
    if any(ch in spec for ch in "*?["):
        root = Path(re.split(r"[*?\[]", str(path), maxsplit=1)[0])
        root = root if root.is_dir() else root.parent
        files = sorted(f for f in glob.glob(str(path), recursive=True) if os.path.isfile(f))
        if not files:
            raise DatasetError(f"{dataset}: no files match")
        return _from_files(dataset_slug(str(root)), root, files, splits, **kw)
    if path.is_file():
        return _from_files(dataset_slug(spec), path.parent, [str(path)], splits, **kw)
    if path.is_dir():
        return _from_dir(dataset_slug(spec), path, splits, **kw)
    if path.exists() or spec.startswith((".", "/", "~")) or os.sep in spec.strip("/") and path.suffix:
        raise DatasetError(f"{dataset}: no such file or directory")
    return _from_hub(spec, splits, **kw)


def _from_dir(name: str, root: Path, splits: list[str] | None, **kw: Any) -> Dataset:
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
        return _from_disk(name, root, splits, kw["image_col"], kw["label_col"], kw.get("vector_col"))
    import datasets

    try:
        builder = datasets.load_dataset_builder(str(root), name=kw["config"])
    except (datasets.exceptions.DataFilesNotFoundError, FileNotFoundError, ValueError) as exc:
        raise DatasetError(f"{root}: nothing 🤗 datasets can read there ({exc})") from None
    return _from_builder(name, root, builder, splits, **kw)


def _from_files(name: str, root: Path, files: list[str], splits: list[str] | None, **kw: Any) -> Dataset:
    import datasets

    data_files: dict[str, list[str]] = {}
    for f in files:
        data_files.setdefault(_split_of_file(Path(f), root), []).append(f)
    try:
        builder = datasets.load_dataset_builder(str(root), data_files=data_files, name=kw["config"])
    except (datasets.exceptions.DataFilesNotFoundError, FileNotFoundError, ValueError) as exc:
        raise DatasetError(f"{files[0]}: not a format 🤗 datasets reads ({exc})") from None
    return _from_builder(name, root, builder, splits, **kw)


def _from_hub(spec: str, splits: list[str] | None, **kw: Any) -> Dataset:
    from embedscope.ingest.hub import cached_dataset, hub_reachable, offline_error

    name = dataset_slug(spec)
    local = cached_dataset(spec)
    if local is not None:
        log.info("hub dataset %s: reading the cached copy %s", spec, local)
        return _from_dir(name, local, splits, **kw)
    if not hub_reachable():
        raise offline_error("dataset", spec)
    import datasets

    try:
        builder = datasets.load_dataset_builder(spec, name=kw["config"])
    except (datasets.exceptions.DatasetNotFoundError, FileNotFoundError) as exc:
        raise DatasetError(f"hub dataset {spec!r}: {exc}") from None
    except ValueError as exc:  # e.g. "Config name is missing", with the available ones
        raise DatasetError(f"hub dataset {spec!r}: {exc} (choose one with --config)") from None
    return _from_builder(name, None, builder, splits, **kw)


def _split_keyword(path: Path, root: Path | None) -> str | None:
    """The split a file's path names by 🤗 datasets' keywords (``train-00000-of-00002.parquet``, ``test/x.tar``)."""
    from datasets.data_files import SPLIT_KEYWORDS

    try:
        parts = path.relative_to(root).parts if root is not None else (path.name,)
    except ValueError:
        parts = (path.name,)
    for part in reversed(parts):
        stem = part.split(".")[0].lower()
        for split, words in SPLIT_KEYWORDS.items():
            if any(re.match(rf"^(.*[-._ 0-9])?{w}([-._ 0-9].*)?$", stem) for w in words):
                return str(split)
    return None


def _split_of_file(path: Path, root: Path) -> str:
    return _split_keyword(path, root) or "train"


def _has_split_names(files: list[str], root: Path | None) -> bool:
    """Whether the files' paths name their split (datasets' default puts everything in 'train')."""
    return not files or _split_keyword(Path(files[0]), root) is not None


def _chosen(present: list[str], wanted: list[str] | None) -> list[str]:
    if not wanted:
        return present
    missing = [s for s in wanted if s not in present]
    if missing:
        raise DatasetError(f"no split {missing[0]!r}; the dataset has {present}")
    return [s for s in present if s in wanted]


def _from_builder(name: str, root: Path | None, builder: Any, splits: list[str] | None,
                  image_col: str | None, label_col: str | None, labels_from_folders: bool | None,
                  config: str | None, vector_col: str | None = None) -> Dataset:
    import datasets

    from embedscope.ingest.tables import Table

    data_files = {str(k): [str(f) for f in v] for k, v in (builder.config.data_files or {}).items()}
    if builder.name == "parquet":
        _stream_parquet(builder, remote=root is None)
    if builder.name == "webdataset":
        return _tar_dataset(name, root, data_files, splits)
    if builder.name == "imagefolder" and labels_from_folders is not None:
        builder = datasets.load_dataset_builder(
            str(root) if root else builder.repo_id, name=config, drop_labels=not labels_from_folders,
            **({"data_files": data_files} if root is not None else {}))
    kind = "files" if builder.name == "imagefolder" else "rows"
    present = list(data_files) or [str(s) for s in (builder.info.splits or {})]
    rename = {"train": "all"} if kind == "files" and present == ["train"] and not _has_split_names(
        data_files["train"], root) else {}
    chosen = _chosen([rename.get(s, s) for s in present], splits)
    back = {v: k for k, v in rename.items()}

    def stream(split: str, columns: list[str] | None = None) -> Any:
        if columns is not None and builder.name == "parquet":
            columns_builder = datasets.load_dataset_builder(
                str(root) if root else builder.repo_id, name=config, columns=columns,
                **({"data_files": data_files} if root is not None else {}))
            _stream_parquet(columns_builder, remote=root is None)
            return columns_builder.as_streaming_dataset(split=back.get(split, split))
        ds = builder.as_streaming_dataset(split=back.get(split, split))
        return ds.select_columns(columns) if columns is not None else ds

    table = Table(name, root, kind, stream, chosen[0] if chosen else "train", image_col, label_col,
                  vector_col)
    table.prepare_names([rename.get(s, s) for s in present])

    def count(split: str) -> int | None:
        info = (builder.info.splits or {}).get(back.get(split, split))
        if info is not None and info.num_examples:
            return int(info.num_examples)
        files = data_files.get(back.get(split, split), [])
        if files and all(os.path.isfile(f) for f in files):
            if builder.name == "parquet":
                from embedscope.ingest.units import parquet_metadata

                return sum(parquet_metadata(f).num_rows for f in files)
            if kind == "files":
                return sum(1 for f in files if Path(f).suffix.lower() in IMAGE_EXTENSIONS)
        return None

    units: Callable[[str], list[Unit]] | None = None
    if builder.name == "parquet" and all(data_files.values()):
        from embedscope.ingest.units import parquet_units

        def row_groups(split: str) -> list[Unit]:
            return parquet_units(data_files[back.get(split, split)])

        units = row_groups
    read_pieces = table.parquet_pieces
    if kind == "files" and root is not None and table.image_cols and all(
            Path(f).suffix.lower() in IMAGE_EXTENSIONS for fs in data_files.values() for f in fs):
        def image_files(split: str) -> list[Unit]:  # one unit a file, in 🤗 datasets' order
            return [Unit(f, -1, k, 1) for k, f in enumerate(data_files[back.get(split, split)])]

        units, read_pieces = image_files, table.file_pieces

    return Dataset(name, table.class_names, chosen, kind, table.items,
                   table.read_labels if table.label_col else None, count, units,
                   read_pieces if units is not None else None)


def _stream_parquet(builder: Any, remote: bool) -> None:
    """Read parquet column chunk by column chunk, never a whole file ahead.

    Arrow's default ``pre_buffer`` keeps every range it has read of a file until the file is
    done (apache/arrow#39808): a 500 MB parquet file of photos held 500 MB of memory however
    small the batches. Remote files get an 8 MB read buffer instead.
    """
    import pyarrow.dataset as pds

    builder.config.fragment_scan_options = pds.ParquetFragmentScanOptions(
        pre_buffer=False, use_buffered_stream=remote, buffer_size=8 << 20)


def _from_disk(name: str, root: Path, splits: list[str] | None, image_col: str | None,
               label_col: str | None, vector_col: str | None = None) -> Dataset:
    """A ``save_to_disk`` directory: memory-mapped Arrow, streamed row batch by row batch."""
    import datasets

    from embedscope.ingest.tables import Table

    loaded = datasets.load_from_disk(str(root))
    parts = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    chosen = _chosen(list(parts), splits)

    def stream(split: str, columns: list[str] | None = None) -> Any:
        ds = parts[split].select_columns(columns) if columns is not None else parts[split]
        return ds.to_iterable_dataset()

    table = Table(name, root, "rows", stream, chosen[0], image_col, label_col, vector_col)
    table.prepare_names(list(parts))
    return Dataset(name, table.class_names, chosen, "rows", table.items,
                   table.read_labels if table.label_col else None, lambda split: len(parts[split]))


# ---- WebDataset -------------------------------------------------------------------------------


def _tar_dataset(name: str, root: Path | None, data_files: dict[str, list[str]],
                 splits: list[str] | None) -> Dataset:
    from embedscope.ingest.tables import REMOTE_ROOT
    from embedscope.ingest.webdataset import samples

    rename = {"train": "all"} if list(data_files) == ["train"] and not _has_split_names(
        data_files["train"], root) else {}
    files = {rename.get(k, k): v for k, v in data_files.items()}
    chosen = _chosen(list(files), splits)

    def rel(url: str) -> str:
        if "://" in url:
            return REMOTE_ROOT.sub("", url)
        return Path(os.path.relpath(url, root)).as_posix() if root is not None else Path(url).name

    def read(split: str) -> Iterator[list[Item]]:
        index, chunk = 0, []
        for url in files[split]:
            shard = rel(url)
            for s in samples(url):
                pid = file_point_id(name, f"{shard}/{s.key}")
                chunk.append(Item(pid, split, index, s.label, None, s.image, s.error))
                index += 1
                if len(chunk) >= CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def read_labels(split: str) -> np.ndarray:
        return np.asarray([-1 if s.label is None else s.label
                           for url in files[split] for s in samples(url, labels_only=True)], dtype=np.int64)

    def units(split: str) -> list[Unit]:
        from embedscope.ingest.units import tar_units

        return tar_units(files[split])

    def read_pieces(split: str, pieces: list[Piece]) -> Iterator[list[Item]]:
        chunk: list[Item] = []
        for piece in pieces:
            shard = rel(piece.unit.url)
            for index, s in enumerate(samples(piece.unit.url), start=piece.unit.start):
                if index >= piece.hi:
                    break
                if index >= piece.lo:
                    pid = file_point_id(name, f"{shard}/{s.key}")
                    chunk.append(Item(pid, split, index, s.label, None, s.image, s.error))
                if len(chunk) >= CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    return Dataset(name, [], chosen, "tars", read, read_labels, lambda split: None, units, read_pieces)
