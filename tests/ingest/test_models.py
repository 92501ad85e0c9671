"""Every supported backbone family, loaded like a hub checkpoint, gives the vectors transformers gives."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from embedscope.contract import row_point_id
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.errors import ModelError
from embedscope.ingest.pipeline import run_ingest
from embedscope.store.remote import RemoteStore

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _save(kind: str, path: Path) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(1)
    if kind == "dinov2-registers":
        model = tf.Dinov2WithRegistersModel(tf.Dinov2WithRegistersConfig(
            patch_size=14, image_size=56, num_register_tokens=4, **SMALL))
    elif kind == "dinov3":
        model = tf.DINOv3ViTModel(tf.DINOv3ViTConfig(patch_size=16, image_size=64, num_register_tokens=4, **SMALL))
    else:
        model = tf.ViTModel(tf.ViTConfig(patch_size=16, image_size=64, **SMALL))
    model.eval().save_pretrained(path)
    return path


def _direct(model_dir: Path, img: np.ndarray, size: int, pooling: str,
            mean: tuple[float, ...] = (0.485, 0.456, 0.406),
            std: tuple[float, ...] = (0.229, 0.224, 0.225)) -> np.ndarray:
    """The reference: transformers forward on the same preprocessed pixels, pooled by hand."""
    import inspect

    import torch
    from transformers import AutoModel

    net = AutoModel.from_pretrained(model_dir).eval()
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", antialias=True).clamp(0, 1)
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    kwargs = {"interpolate_pos_encoding": True} if "interpolate_pos_encoding" in inspect.signature(
        net.forward).parameters else {}
    with torch.no_grad():
        h = net(pixel_values=x, **kwargs).last_hidden_state[0]
    regs = getattr(net.config, "num_register_tokens", 0) or 0
    cls, mean = h[0], h[1 + regs:].mean(0)
    out = {"cls": cls, "mean": mean, "cls+mean": torch.cat([cls, mean])}[pooling].numpy()
    return out / np.linalg.norm(out)


def _sample_image(sample_dir: Path, index: int) -> np.ndarray:
    import pyarrow.parquet as pq
    from PIL import Image

    raw = pq.read_table(sample_dir / "test.parquet").column("image")[index].as_py()["bytes"]
    return np.array(Image.open(io.BytesIO(raw)).convert("RGB"))


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls+mean"])
def test_dinov2_poolings_equal_direct_transformers(sample_dir: Path, tiny_model_dir: Path, pooling: str):
    store = RemoteStore(":memory:")
    s = IngestSettings(dataset=str(sample_dir / "test.parquet"), model=str(tiny_model_dir), image_size=56,
                       pooling=pooling, limit=8, progress=False, device="cpu", collection="t")
    run_ingest(s, store=store)
    assert store.get_meta("t").dimension == (64 if pooling == "cls+mean" else 32)
    rec = store.retrieve("t", [row_point_id("fashion_mnist_sample", "test", 5)], with_vectors=True)[0]
    expected = _direct(tiny_model_dir, _sample_image(sample_dir, 5), 56, pooling)
    np.testing.assert_allclose(rec.vector, expected, atol=1e-4)


@pytest.mark.parametrize("kind", ["dinov2-registers", "dinov3", "vit"])
def test_other_backbones_skip_register_tokens(kind: str, sample_dir: Path, tmp_path: Path):
    model_dir = _save(kind, tmp_path / kind)
    store = RemoteStore(":memory:")
    size = 56 if kind == "dinov2-registers" else 64
    s = IngestSettings(dataset=str(sample_dir / "test.parquet"), model=str(model_dir), image_size=size,
                       pooling="mean", limit=4, progress=False, device="cpu", collection="t")
    run_ingest(s, store=store)
    rec = store.retrieve("t", [row_point_id("fashion_mnist_sample", "test", 2)], with_vectors=True)[0]
    np.testing.assert_allclose(rec.vector, _direct(model_dir, _sample_image(sample_dir, 2), size, "mean"),
                               atol=1e-4)


def test_a_folder_that_is_not_a_model_is_a_clear_error(sample_dir: Path, tmp_path: Path):
    (tmp_path / "nomodel").mkdir()
    s = IngestSettings(dataset=str(sample_dir), model=str(tmp_path / "nomodel"), limit=2, progress=False, device="cpu")
    with pytest.raises(ModelError, match="cannot load model"):
        run_ingest(s, store=RemoteStore(":memory:"))


def test_the_models_own_normalisation_is_used(sample_dir: Path, tiny_model_dir: Path, tmp_path: Path):
    import json
    import shutil

    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "half"))
    cfg = json.loads((model_dir / "preprocessor_config.json").read_text())
    cfg.update(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])  # as google/vit-*-in21k ships
    (model_dir / "preprocessor_config.json").write_text(json.dumps(cfg))
    store = RemoteStore(":memory:")
    run_ingest(IngestSettings(dataset=str(sample_dir / "test.parquet"), model=str(model_dir), image_size=56,
                              limit=4, progress=False, device="cpu", collection="t"), store=store)
    rec = store.retrieve("t", [row_point_id("fashion_mnist_sample", "test", 1)], with_vectors=True)[0]
    img = _sample_image(sample_dir, 1)
    np.testing.assert_allclose(rec.vector, _direct(model_dir, img, 56, "cls", (0.5,) * 3, (0.5,) * 3), atol=1e-4)
    assert not np.allclose(rec.vector, _direct(model_dir, img, 56, "cls"), atol=1e-3)
