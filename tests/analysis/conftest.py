"""Fixtures for the analysis tests: a `pixels` collection built straight from the shared sample."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

DATASET = "fashion_mnist_sample"


def load_sample(sample_dir: Path, n: int, split: str = "train") -> dict[str, Any]:
    """The first ``n`` rows of a split: pixel vectors (L2-normalised), labels, names, thumbnails."""
    import json

    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(sample_dir / f"{split}.parquet")
    hf = json.loads(table.schema.metadata[b"huggingface"])
    names = hf["info"]["features"]["label"]["names"]
    rows = table.slice(0, n).to_pylist()
    vecs, thumbs = [], []
    for row in rows:
        raw = row["image"]["bytes"]
        img = Image.open(io.BytesIO(raw)).convert("L")
        vecs.append(np.asarray(img, dtype=np.float32).ravel())
        thumbs.append(base64.b64encode(raw).decode("ascii"))
    X = np.vstack(vecs)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labels = np.array([row["label"] for row in rows], dtype=np.int64)
    return {"X": X, "labels": labels, "names": names, "thumbs": thumbs, "split": split}


def build_collection(
    store: Any, name: str, sample: dict[str, Any], labelled: bool = True, n: int | None = None
) -> list[str]:
    """Upsert the sample as a `pixels` collection; returns the point ids in row order."""
    from embedscope.contract import CollectionMeta, row_point_id

    X = sample["X"][:n]
    meta = CollectionMeta(
        model="pixels", dimension=X.shape[1], pooling="pixels", dataset=DATASET,
        labels=sample["names"] if labelled else [],
    )
    store.ensure_collection(name, meta)
    ids = [row_point_id(DATASET, sample["split"], i) for i in range(len(X))]
    payloads = []
    for i in range(len(X)):
        p: dict[str, Any] = {"dataset": DATASET, "split": sample["split"], "index": i,
                             "thumbnail": sample["thumbs"][i]}
        if labelled:
            p["label"] = int(sample["labels"][i])
            p["label_name"] = sample["names"][int(sample["labels"][i])]
        payloads.append(p)
    store.upsert(name, ids, X, payloads)
    return ids


@pytest.fixture(scope="session")
def sample800(sample_dir: Path) -> dict[str, Any]:
    """800 training rows of the shared Fashion-MNIST sample as pixel vectors."""
    return load_sample(sample_dir, 800)


@pytest.fixture(scope="session")
def make_collection() -> Any:
    """The `build_collection` helper, for test modules (tests/ is not a package)."""
    return build_collection
