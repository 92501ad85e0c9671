"""The ingest pipeline end to end on real data: contract, idempotence, spaces, bad input, models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedscope.cli import main
from embedscope.contract import row_point_id
from embedscope.errors import MixedSpaceError
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.pipeline import run_ingest
from embedscope.settings import QdrantSettings
from embedscope.store import Where
from embedscope.store.edge import EdgeStore
from embedscope.store.remote import RemoteStore
from tests.ingest.badimages import EXPECTED, make_bad_folder


def test_pixels_ingest_follows_the_contract(sample_dir: Path, store):
    settings = IngestSettings(dataset=str(sample_dir), model="pixels", limit=200, progress=False)
    summary = run_ingest(settings, store=store)
    name = "fashion_mnist_sample__pixels"
    assert summary.collection == name
    assert summary.ingested == 400 and summary.skipped == 0 and not summary.rejected
    assert store.count(name) == 400
    assert store.count(name, Where(split="test")) == 200
    meta = store.get_meta(name)
    assert meta.dimension == 784 and meta.image_size == 28 and meta.model == "pixels"
    assert meta.labels[0] == "T-shirt/top" and len(meta.labels) == 10
    rec = store.retrieve(name, [row_point_id("fashion_mnist_sample", "train", 3)], with_vectors=True)[0]
    for key in ("dataset", "split", "index", "label", "label_name", "width", "height",
                "thumbnail", "model", "ingested_at"):
        assert key in rec.payload, key
    assert rec.payload["index"] == 3 and rec.payload["split"] == "train"
    assert rec.payload["label_name"] == meta.labels[rec.payload["label"]]
    assert np.linalg.norm(rec.vector) == pytest.approx(1.0, abs=1e-5)
    # the same vector sklearn would see: the PNG's grayscale pixels, L2-normalised
    import io

    import pyarrow.parquet as pq
    from PIL import Image

    raw = pq.read_table(sample_dir / "train.parquet").column("image")[3].as_py()["bytes"]
    expected = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), np.float32).ravel()
    np.testing.assert_allclose(rec.vector, expected / np.linalg.norm(expected), atol=1e-6)


def test_rerun_skips_everything_and_never_duplicates(sample_dir: Path, tmp_path: Path):
    q = QdrantSettings(data_dir=tmp_path)
    settings = IngestSettings(dataset=str(sample_dir / "test.parquet"), model="pixels", progress=False)
    first = run_ingest(settings, q)
    second = run_ingest(settings, q)
    assert first.ingested == 615 and second.ingested == 0 and second.skipped == 615
    with EdgeStore(q.embedded_dir) as s:
        assert s.count(first.collection) == 615


def test_sample_is_stratified_and_seeded(sample_dir: Path):
    store = RemoteStore(":memory:")
    s = IngestSettings(dataset=str(sample_dir), splits=["train"], model="pixels", sample=300,
                       seed=3, progress=False)
    run_ingest(s, store=store)
    ids, _, payloads = store.fetch_all("fashion_mnist_sample__pixels")
    counts = np.bincount([p["label"] for p in payloads], minlength=10)
    import pyarrow.parquet as pq

    full = np.bincount(pq.read_table(sample_dir / "train.parquet").column("label").to_numpy(),
                       minlength=10)
    assert counts.sum() == 300
    assert np.abs(counts - full * 300 / full.sum()).max() <= 1  # each class keeps its share
    again = RemoteStore(":memory:")
    run_ingest(s, store=again)
    assert sorted(again.fetch_all("fashion_mnist_sample__pixels")[0]) == sorted(ids)
    other = RemoteStore(":memory:")
    run_ingest(s.model_copy(update={"seed": 4}), store=other)
    assert sorted(other.fetch_all("fashion_mnist_sample__pixels")[0]) != sorted(ids)


def test_other_model_into_same_collection_is_refused(sample_dir: Path, tiny_model_dir: Path):
    store = RemoteStore(":memory:")
    run_ingest(IngestSettings(dataset=str(sample_dir), model="pixels", limit=20, progress=False),
               store=store)
    with pytest.raises(MixedSpaceError, match="pixels.*tiny-dinov2|--recreate"):
        run_ingest(IngestSettings(dataset=str(sample_dir), model=str(tiny_model_dir), limit=20,
                                  collection="fashion_mnist_sample__pixels", progress=False),
                   store=store)
    assert store.count("fashion_mnist_sample__pixels") == 40


def test_bad_images_are_rejected_listed_and_the_rest_ingested(tmp_path: Path, data_env: Path,
                                                              capsys: pytest.CaptureFixture[str]):
    folder = make_bad_folder(tmp_path / "photos")
    code = main(["ingest", "--dataset", str(folder), "--model", "pixels", "--image-size", "16",
                 "--labels-from-folders", "--no-progress", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    good = [k for k, v in EXPECTED.items() if v == "ok"]
    assert out["ingested"] == len(good) and out["points_in_collection"] == len(good)
    reasons = {Path(r["source"]).relative_to(folder.resolve()).as_posix(): r["reason"]
               for r in out["rejected"]}
    assert set(reasons) == {k for k, v in EXPECTED.items() if v != "ok"}
    for name, reason in reasons.items():
        assert EXPECTED[name] in reason, (name, reason)
    lines = Path(out["rejects_file"]).read_text().splitlines()
    assert len(lines) == len(reasons)
    with EdgeStore(data_env / "qdrant") as s:
        assert s.get_meta("photos__pixels").labels == ["bad", "good"]
        labels = {p["label_name"] for _, _, ps in [s.fetch_all("photos__pixels", payload_fields=("label_name",))]
                  for p in ps}
        assert labels == {"good"}


def test_offline_hub_model_fails_fast_with_a_way_out(sample_dir: Path, data_env: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]):
    import time

    monkeypatch.setenv("HF_HOME", str(data_env / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    code = main(["ingest", "--dataset", str(sample_dir), "--model", "facebook/dinov2-small",
                 "--limit", "5", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 7 and time.monotonic() - start < 30
    assert "facebook/dinov2-small" in err and "hf download" in err and "--model ./" in err
    code = main(["ingest", "--dataset", "fashion_mnist", "--model", "pixels", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 7 and "hf download fashion_mnist --repo-type dataset" in err and "--dataset ./" in err


def test_missing_dataset_and_unknown_split_are_clear(sample_dir: Path, data_env: Path,
                                                     capsys: pytest.CaptureFixture[str]):
    assert main(["ingest", "--dataset", "./does/not/exist", "--model", "pixels"]) == 2
    assert "./does/not/exist: no such file or directory" in capsys.readouterr().err
    assert main(["ingest", "--dataset", str(sample_dir), "--split", "validation",
                 "--model", "pixels"]) == 2
    err = capsys.readouterr().err
    assert "validation" in err and "test" in err and "train" in err
