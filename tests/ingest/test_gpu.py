"""The GPU path (bf16 autocast, pinned memory) agrees with fp32 on the CPU. Skipped without CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]


def test_cuda_bf16_vectors_match_cpu_fp32(tiny_model_dir: Path):
    from embedscope.ingest.models import load_embedder

    images = np.random.default_rng(0).integers(0, 255, size=(16, 28, 28, 3), dtype=np.uint8)
    cpu = load_embedder(str(tiny_model_dir), image_size=56, device="cpu").embed_batch(list(images))
    gpu = load_embedder(str(tiny_model_dir), image_size=56, device="cuda").embed_batch(list(images))
    cosine = (cpu * gpu).sum(axis=1)
    assert cosine.min() > 0.99
