"""The GPU paths agree with fp32 on the CPU: bf16 autocast, nvJPEG decoding, torch.compile. Skipped without CUDA."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]


def test_cuda_bf16_vectors_match_cpu_fp32(tiny_model_dir: Path):
    """bf16 autocast vs fp32: cosine > 0.99 (bf16 keeps ~3 significant digits)."""
    from embedscope.ingest.models import load_embedder

    images = np.random.default_rng(0).integers(0, 255, size=(16, 28, 28, 3), dtype=np.uint8)
    cpu = load_embedder(str(tiny_model_dir), image_size=56, device="cpu").embed_batch(list(images))
    gpu = load_embedder(str(tiny_model_dir), image_size=56, device="cuda").embed_batch(list(images))
    cosine = (cpu * gpu).sum(axis=1)
    assert cosine.min() > 0.99


def _photos(folder: Path, n: int = 24) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.integers(0, 255, size=(16, 21, 3), dtype=np.uint8)
        Image.fromarray(base).resize((500, 375), Image.Resampling.BICUBIC).save(folder / f"{i}.jpg", quality=90)
    return folder


def test_nvjpeg_vectors_match_pil_vectors(tiny_model_dir: Path, tmp_path: Path):
    """The same photos through nvJPEG and through PIL: cosine > 0.99, same payload sizes."""
    pytest.importorskip("torchvision")
    from embedscope.ingest.accel import gpu_jpeg_available
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.store.remote import RemoteStore

    assert gpu_jpeg_available("cuda")
    folder = _photos(tmp_path / "photos")
    runs = {}
    for gpu_decode in (True, False):
        store = RemoteStore(":memory:")
        settings = IngestSettings(dataset=str(folder), model=str(tiny_model_dir), image_size=56, device="cuda",
                                  gpu_decode=gpu_decode, progress=False, collection="t", num_workers=0)
        assert run_ingest(settings, store=store).ingested == 24
        ids, vecs, pay = store.fetch_all("t", payload_fields=("width", "height"))
        order = np.argsort(ids)
        runs[gpu_decode] = (vecs[order], [pay[i] for i in order])
    cosine = (runs[True][0] * runs[False][0]).sum(axis=1)
    assert cosine.min() > 0.99
    assert runs[True][1] == runs[False][1]


def test_nvjpeg_batch_falls_back_per_image():
    pytest.importorskip("torchvision")
    from PIL import Image

    from embedscope.ingest.accel import decode_jpegs

    buf = io.BytesIO()
    Image.new("RGB", (500, 375), (200, 10, 10)).save(buf, format="JPEG")
    out = decode_jpegs([buf.getvalue(), b"\xff\xd8garbage", buf.getvalue()], "RGB", 224, "cuda")
    assert out[1] is None and tuple(out[0].shape) == (224, 224, 3) and out[0].is_cuda


def test_compiled_matches_eager(tiny_model_dir: Path):
    """torch.compile (inductor) vs eager on CUDA, both bf16: cosine > 0.999; a short last batch is padded."""
    from embedscope.ingest.models import load_embedder

    images = list(np.random.default_rng(1).integers(0, 255, size=(40, 28, 28, 3), dtype=np.uint8))
    eager = load_embedder(str(tiny_model_dir), image_size=56, device="cuda")
    compiled = load_embedder(str(tiny_model_dir), image_size=56, device="cuda")
    assert compiled.compile(batch_size=32)
    a = np.concatenate([eager.embed_batch(images[:32]), eager.embed_batch(images[32:])])
    b = np.concatenate([compiled.embed_batch(images[:32]), compiled.embed_batch(images[32:])])
    assert (a * b).sum(axis=1).min() > 0.999
