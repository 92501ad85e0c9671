"""Text embedding of CLIP / SigLIP checkpoints: equal to plain transformers, recorded in the metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedscope.ingest.errors import ModelError
from embedscope.ingest.models import load_embedder
from tests.textmodels import save_clip

TEXTS = ["a photo of a sandal with a heel.", "an ankle boot with laces.", "Bag",
         "a photo of a t-shirt/top. " * 6]  # the last is longer than the maximum length


def _direct(model_dir: Path, texts: list[str], padding: str) -> np.ndarray:
    """The reference: the checkpoint's tokenizer and get_text_features in fp32, normalised."""
    import torch
    import transformers as tf

    tok = tf.AutoTokenizer.from_pretrained(model_dir)
    net = tf.AutoModel.from_pretrained(model_dir).float().eval()
    batch = tok(texts, padding=padding, truncation=True, max_length=tok.model_max_length,
                return_tensors="pt")
    with torch.no_grad():
        out = net.get_text_features(**batch)
    vecs = (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.mark.parametrize(("fixture", "padding", "dim"),
                         [("tiny_clip_dir", "longest", 24), ("tiny_siglip_dir", "max_length", 32)])
def test_text_vectors_equal_direct_transformers(request: pytest.FixtureRequest, fixture: str,
                                                padding: str, dim: int):
    model_dir = request.getfixturevalue(fixture)
    embedder = load_embedder(str(model_dir), device="cpu")
    assert embedder.embeds_text and embedder.dimension == dim
    got = embedder.embed_texts(TEXTS)
    assert got.shape == (len(TEXTS), dim) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, _direct(model_dir, TEXTS, padding), atol=1e-4)
    # one text alone gives the same vector as in a batch (padding does not leak into it)
    np.testing.assert_allclose(embedder.embed_texts(TEXTS[1:2])[0], got[1], atol=1e-4)


def test_metadata_records_that_the_space_embeds_text(tiny_clip_dir: Path, tiny_model_dir: Path):
    assert load_embedder(str(tiny_clip_dir), device="cpu").meta("ds", []).text is True
    dino = load_embedder(str(tiny_model_dir), device="cpu")
    assert dino.meta("ds", []).text is False and not dino.embeds_text
    with pytest.raises(ModelError, match="no text tower"):
        dino.embed_texts(["a boot"])


def test_a_vision_tower_alone_has_no_text_half(tmp_path: Path):
    import torch
    import transformers as tf

    from tests.textmodels import VISION

    torch.manual_seed(0)
    tf.CLIPVisionModelWithProjection(tf.CLIPVisionConfig(projection_dim=24, **VISION)).save_pretrained(tmp_path)
    embedder = load_embedder(str(tmp_path), device="cpu")
    assert not embedder.embeds_text and embedder.meta("ds", []).text is False


def test_a_checkpoint_without_a_tokenizer_embeds_images_and_says_no_text(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    model_dir = save_clip(tmp_path / "clip")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model_dir / name).unlink()
    embedder = load_embedder(str(model_dir), device="cpu")
    assert not embedder.embeds_text and embedder.meta("ds", []).text is False
    assert embedder.embed_batch([np.zeros((32, 32, 3), np.uint8)]).shape == (1, 24)
    assert "no tokenizer vocabulary" in caplog.text


def test_an_int8_text_tower_gives_vectors_near_the_fp32_ones(tiny_siglip_dir: Path):
    from embedscope.contract import CollectionMeta
    from embedscope.ingest.query import embed_texts

    fp32 = load_embedder(str(tiny_siglip_dir), device="cpu")
    meta = fp32.meta("ds", [])
    assert isinstance(meta, CollectionMeta)
    quantized = embed_texts(meta, TEXTS, device="cpu", int8=True)
    exact = embed_texts(meta, TEXTS, device="cpu")
    np.testing.assert_allclose(exact, fp32.embed_texts(TEXTS), atol=1e-4)  # a separate cached copy
    assert (np.sum(quantized * exact, axis=1) > 0.98).all()
    assert not np.allclose(quantized, exact, atol=1e-6)  # it did run quantized
