"""Datasets in every layout 🤗 datasets reads, written to a temp dir from real and generated images."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image


def jpeg(seed: int, w: int = 40, h: int = 30, quality: int = 90) -> bytes:
    """A small noisy JPEG, different for every seed."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(seed: int, w: int = 40, h: int = 30) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, size=(h, w), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def multi_file_parquet(sample_dir: Path, out: Path, files: int = 3, row_group: int = 250) -> Path:
    """The sample's train split cut into ``files`` parquet files (HF names), test as one file."""
    out.mkdir(parents=True)
    train = pq.read_table(sample_dir / "train.parquet")
    step = -(-train.num_rows // files)
    for k in range(files):
        pq.write_table(train.slice(k * step, step), out / f"train-{k:05d}-of-{files:05d}.parquet",
                       row_group_size=row_group)
    shutil.copy(sample_dir / "test.parquet", out / "test-00000-of-00001.parquet")
    return out


def save_to_disk(sample_dir: Path, out: Path) -> Path:
    """The sample as a DatasetDict written by ``save_to_disk`` (Arrow files)."""
    import datasets

    ds = datasets.load_dataset("parquet", data_files={"train": str(sample_dir / "train.parquet"),
                                                      "test": str(sample_dir / "test.parquet")},
                               cache_dir=str(out.parent / "hf-cache"))
    ds.save_to_disk(str(out))
    return out


def image_folder(out: Path) -> Path:
    """train/ and test/ with two class folders each, plus one corrupt file in train/cat."""
    for split, n in (("train", 4), ("test", 2)):
        for c, name in enumerate(("cat", "dog")):
            folder = out / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}.jpg").write_bytes(jpeg(100 * c + 10 * (split == "test") + i))
    (out / "train" / "cat" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return out


def write_tar(path: Path, samples: list[tuple[str, dict[str, bytes]]], cut: float | None = None) -> None:
    """A WebDataset shard: ``samples`` as ``<key>.<ext>`` members; ``cut`` truncates the file."""
    with tarfile.open(path, "w") as tar:
        for key, members in samples:
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    if cut is not None:
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * cut)])


def webdataset(out: Path) -> tuple[Path, dict[str, int]]:
    """Three img2dataset-style shards with a corrupt image, a bad .cls, a PNG among JPEGs and a
    truncated shard; returns the folder and the expected count of each outcome."""
    out.mkdir(parents=True)
    meta = lambda key: json.dumps({"key": key, "caption": f"photo {key}"}).encode()  # noqa: E731
    s0 = [(f"0000{i:04d}", {"jpg": jpeg(i), "cls": str(i % 3).encode(), "json": meta(i)}) for i in range(10)]
    s0[4][1]["jpg"] = b"\xff\xd8 not a jpeg at all"  # corrupt image member
    s1 = [(f"0001{i:04d}", {"jpg": jpeg(50 + i), "cls": str(i % 3).encode(), "json": meta(i)}) for i in range(10)]
    s1[2] = ("00010002", {"png": png(7), "cls": b"1", "json": meta(2)})  # a PNG sample
    s1[5] = ("00010005", {"jpg": jpeg(8), "cls": b"cat", "json": meta(5)})  # unreadable label
    s2 = [(f"0002{i:04d}", {"jpg": jpeg(80 + i, 200, 150), "cls": b"2"}) for i in range(10)]
    write_tar(out / "00000.tar", s0)
    write_tar(out / "00001.tar", s1)
    write_tar(out / "00002.tar", s2, cut=0.55)  # truncated mid-way
    return out, {"corrupt": 1, "label": 1}


def ingest_json(*flags: str) -> dict:
    """`embedscope ingest --model pixels … --json` in this process; its JSON summary."""
    from embedscope.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["ingest", "--model", "pixels", "--num-workers", "0", "--no-progress", "--json", *flags])
    assert code == 0, buf.getvalue()
    return json.loads(buf.getvalue())


def stored_points(data: Path, collection: str) -> dict[str, tuple[dict, np.ndarray]]:
    """Every point of an embedded collection: id → (payload without its time, vector)."""
    from embedscope.store.edge import EdgeStore

    with EdgeStore(data / "qdrant") as store:
        return {r.id: ({k: v for k, v in r.payload.items() if k != "ingested_at"}, np.asarray(r.vector))
                for r in store.scroll(collection, with_payload=True, with_vectors=True)}
