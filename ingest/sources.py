"""Dataset sources: HF-layout parquet (local or from the hub) and folders of images, as Items."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.ingest.errors import DatasetError
from embedscope.search.contract import dataset_slug, file_point_id, row_point_id

log = logging.getLogger(__name__)
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
IMAGE_COLUMNS = ("image", "img", "picture", "photo", "pixel_values")
LABEL_COLUMNS = ("label", "labels", "fine_label", "class", "target", "category", "coarse_label")


@dataclass
class Item:
    """One image to embed: where it comes from and what payload it gets (not decoded yet)."""

    point_id: str
    split: str
    index: int
    label: int | None
    source: str | None  # file path, or None for parquet rows
    data: bytes | None = None  # encoded image bytes (parquet rows)


@dataclass
class Dataset:
    """The items of a dataset plus what the collection needs to know about it."""

    name: str  # the slug used in point ids and the collection name
    items: list[Item]
    labels: list[str]  # class names (label id = position); empty when unlabelled


def _split_of(path: Path, root: Path) -> str:
    """Split name from an HF parquet path: train-00000-of-00001.parquet, data/test/x.parquet …"""
    stem = path.stem
    match = re.match(r"^([A-Za-z0-9_.]+?)(-\d{5}-of-\d{5})?$", stem)
    base = match.group(1) if match else stem
    if base.isdigit() or base in ("data", "0000"):
        return path.parent.name if path.parent != root else "train"
    return base


def _class_names(schema: Any, label_col: str) -> list[str]:
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return []
    try:
        features = json.loads(meta)["info"]["features"]
        return list(features.get(label_col, {}).get("names") or [])
    except (KeyError, ValueError, TypeError):
        return []


def _detect(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    if wanted:
        if wanted not in columns:
            raise DatasetError(f"no {what} column {wanted!r}; the columns are {columns}")
        return wanted
    return next((c for c in candidates if c in columns), None)


def _image_bytes(column: Any) -> list[bytes | None]:
    import pyarrow as pa

    if pa.types.is_struct(column.type):
        column = column.combine_chunks().field("bytes") if hasattr(column, "combine_chunks") else column.field("bytes")
    return column.to_pylist()


def load_parquet(files: list[Path], root: Path, name: str, image_col: str | None,
                 label_col: str | None, splits: list[str]) -> Dataset:
    """Items from HF-layout parquet files (image struct {bytes, path} or binary; int label)."""
    import pyarrow.parquet as pq

    items: list[Item] = []
    labels: list[str] = []
    counters: dict[str, int] = {}
    for path in sorted(files):
        split = _split_of(path, root)
        if splits and split not in splits:
            continue
        table = pq.read_table(path)
        cols = table.column_names
        img = _detect(cols, image_col, IMAGE_COLUMNS, "image")
        if img is None:
            img = next((c for c in cols if "bytes" in str(table.schema.field(c).type)), None)
        if img is None:
            raise DatasetError(f"{path}: no image column found among {cols}; name it with --image-column")
        lab = _detect(cols, label_col, LABEL_COLUMNS, "label")
        labels = labels or (_class_names(table.schema, lab) if lab else [])
        data = _image_bytes(table.column(img))
        label_values = table.column(lab).to_pylist() if lab else [None] * len(data)
        start = counters.get(split, 0)
        for offset, (raw, label) in enumerate(zip(data, label_values)):
            index = start + offset
            items.append(Item(row_point_id(name, split, index), split, index,
                              int(label) if label is not None else None, None, raw))
        counters[split] = start + len(data)
    if not items:
        found = sorted({_split_of(f, root) for f in files})
        raise DatasetError(f"no rows selected: splits {splits} asked, splits present {found}")
    if not labels and any(i.label is not None for i in items):
        top = max(i.label for i in items if i.label is not None)
        labels = [str(k) for k in range(top + 1)]
    return Dataset(name, items, labels)


def load_folder(root: Path, labels_from_folders: bool) -> Dataset:
    """Items from a folder of images (recursive); labels from first-level subfolders if asked."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DatasetError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) under {root}")
    name = dataset_slug(str(root))
    classes: list[str] = []
    if labels_from_folders:
        classes = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})
    class_id = {c: i for i, c in enumerate(classes)}
    items = []
    for index, path in enumerate(files):
        rel = path.relative_to(root)
        label = class_id.get(rel.parts[0]) if labels_from_folders and len(rel.parts) > 1 else None
        items.append(Item(file_point_id(name, rel.as_posix()), "all", index, label, str(path.resolve())))
    loose = sum(1 for i in items if i.label is None)
    if labels_from_folders and loose:
        log.warning("%d image(s) directly in %s, outside any class folder, are stored unlabelled",
                    loose, root)
    return Dataset(name, items, classes)


def load_dataset(dataset: str, splits: list[str] | None = None, image_col: str | None = None,
                 label_col: str | None = None, labels_from_folders: bool = False) -> Dataset:
    """Resolve ``dataset`` (parquet file/dir, image folder, or hub name) into a Dataset."""
    splits = list(splits or [])
    path = Path(dataset).expanduser()
    if path.is_file() and path.suffix == ".parquet":
        return load_parquet([path], path.parent, dataset_slug(dataset), image_col, label_col, splits)
    if path.is_dir():
        parquet = sorted(path.rglob("*.parquet"))
        if parquet:
            return load_parquet(parquet, path, dataset_slug(dataset), image_col, label_col, splits)
        if splits and "all" not in splits:
            raise DatasetError(f"{dataset}: a folder of images has one split, 'all'; drop --split {splits[0]}")
        return load_folder(path, labels_from_folders)
    if path.exists() or dataset.startswith((".", "/", "~")) or dataset.endswith(".parquet"):
        raise DatasetError(f"{dataset}: not a parquet file, a directory of parquet files or a folder of images")
    from embedscope.ingest.hub import download_dataset_parquet

    local = download_dataset_parquet(dataset)
    return load_parquet(sorted(local.rglob("*.parquet")), local, dataset_slug(dataset),
                        image_col, label_col, splits)


def select(items: list[Item], limit: int | None = None, sample: int | None = None, seed: int = 0,
           shard: tuple[int, int] | None = None) -> list[Item]:
    """Per split: the first ``limit`` items or a stratified random ``sample``; then one shard."""
    from embedscope.ingest.sharding import shard_of

    by_split: dict[str, list[Item]] = {}
    for item in items:
        by_split.setdefault(item.split, []).append(item)
    chosen: list[Item] = []
    for split_items in by_split.values():
        if sample is not None and sample < len(split_items):
            chosen.extend(_stratified(split_items, sample, seed))
        else:
            chosen.extend(split_items[:limit] if limit is not None else split_items)
    if shard is not None:
        index, count = shard
        chosen = [i for i in chosen if shard_of(i.point_id, count) == index]
    return chosen


def _stratified(items: list[Item], n: int, seed: int) -> list[Item]:
    """``n`` items drawn so each label keeps its share (sklearn's stratified split when labelled)."""
    labels = [i.label for i in items]
    rng = np.random.default_rng(seed)
    if any(label is None for label in labels):
        picks = np.sort(rng.choice(len(items), size=n, replace=False))
        return [items[i] for i in picks]
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(items))
    try:
        chosen, _ = train_test_split(idx, train_size=n, stratify=labels, random_state=seed)
    except ValueError:  # a class too small to stratify: fall back to a plain random sample
        chosen = rng.choice(len(items), size=n, replace=False)
    return [items[i] for i in np.sort(chosen)]
