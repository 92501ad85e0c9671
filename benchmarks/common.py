"""Helpers shared by the benchmarks: randomly initialised DINOv2 checkpoints of real sizes."""

from __future__ import annotations

from pathlib import Path

#: Dinov2Config sizes of the hub checkpoints (random weights are fine for speed).
DINOV2_SIZES = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
    "small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}


def random_dinov2(size: str, path: Path) -> Path:
    """Save a random DINOv2 of a hub size, with the hub's image processor config, to ``path``."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(patch_size=14, image_size=518, **DINOV2_SIZES[size])
    Dinov2Model(config).eval().save_pretrained(path)
    BitImageProcessor(
        do_resize=True, size={"shortest_edge": 256}, resample=3, do_center_crop=True,
        crop_size={"height": 224, "width": 224}, do_normalize=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(path)
    return path
