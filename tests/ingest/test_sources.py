"""Dataset sources: hub datasets served from the local HF cache, splits, columns, shards."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embedscope.ingest.errors import DatasetError
from embedscope.ingest.sources import load_dataset, select
from embedscope.search.contract import collection_name, dataset_slug


def _fake_hub_cache(cache: Path, repo: str, sample_dir: Path) -> None:
    """Lay the sample out as huggingface_hub caches a dataset snapshot (refs/main → snapshot)."""
    root = cache / f"datasets--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = root / "snapshots" / commit / "fashion_mnist"
    snap.mkdir(parents=True)
    shutil.copy(sample_dir / "train.parquet", snap / "train-00000-of-00001.parquet")
    shutil.copy(sample_dir / "test.parquet", snap / "test-00000-of-00001.parquet")
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)


def test_hub_name_resolves_through_the_cache_offline(sample_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "zalando-datasets/fashion_mnist", sample_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    ds = load_dataset("fashion_mnist")
    assert ds.name == "fashion_mnist"
    assert len(ds.items) == 3615 and {i.split for i in ds.items} == {"train", "test"}
    assert ds.labels[9] == "Ankle boot"
    assert collection_name("fashion_mnist", "facebook/dinov2-small") == "fashion_mnist__dinov2_small"


def test_split_selection_and_limits(sample_dir: Path):
    ds = load_dataset(str(sample_dir), splits=["test"])
    assert {i.split for i in ds.items} == {"test"} and len(ds.items) == 615
    chosen = select(ds.items, limit=10)
    assert [i.index for i in chosen] == list(range(10))


def test_explicit_columns_are_checked(sample_dir: Path):
    with pytest.raises(DatasetError, match="no image column 'picture'"):
        load_dataset(str(sample_dir), image_col="picture")


def test_shards_partition_the_dataset(sample_dir: Path):
    items = load_dataset(str(sample_dir)).items
    shards = [select(items, shard=(i, 3)) for i in range(3)]
    ids = [{it.point_id for it in s} for s in shards]
    assert set().union(*ids) == {it.point_id for it in items}
    assert sum(len(s) for s in ids) == len(items)
    assert all(len(s) > 1000 for s in ids)


@pytest.mark.parametrize(("given", "slug"), [
    ("zalando-datasets/fashion_mnist", "fashion_mnist"),
    ("./photos/", "photos"),
    ("/data/fashion_mnist_sample/train.parquet", "fashion_mnist_sample"),
    ("/data/my-set.parquet", "my_set"),
])
def test_dataset_slugs(given: str, slug: str):
    assert dataset_slug(given) == slug
