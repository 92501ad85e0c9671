"""The raw-pixel baseline: grayscale pixels at one fixed side, flattened (``--model pixels``)."""

from __future__ import annotations

import numpy as np

from embedscope.errors import UsageError
from embedscope.ingest.families import ModelSpec, register_family
from embedscope.ingest.models import Embedder


class PixelsEmbedder(Embedder):
    """Grayscale pixels at one fixed side, flattened (L2-normalised by the base)."""

    name = "pixels"
    mode = "L"
    pooling = "pixels"

    def __init__(self, side: int) -> None:
        if side < 1:
            raise UsageError(f"pixels: image size must be positive, got {side}")
        self.image_size = self.decode_size = side
        self.dimension = side * side

    def embed(self, images: np.ndarray) -> np.ndarray:
        side = self.image_size or images.shape[1]
        if images.shape[1:3] != (side, side):
            from PIL import Image

            images = np.stack([
                np.asarray(Image.fromarray(im).resize((side, side), Image.Resampling.BICUBIC, reducing_gap=3.0))
                for im in images
            ])
        return images.reshape(len(images), -1).astype(np.float32)


def _is_pixels(spec: ModelSpec) -> bool:
    return spec.model == "pixels"


@register_family("pixels", _is_pixels, priority=100, description="--model pixels, the raw-pixel baseline")
def pixels(spec: ModelSpec) -> Embedder:
    """The pixel baseline at ``image_size``, else at the dataset's native side.

    Raises:
        UsageError: neither side is known.
    """
    side = spec.image_size or spec.native_side
    if side is None:
        raise UsageError("pixels: the image size is unknown; pass --image-size")
    return PixelsEmbedder(side)
