"""ViT-style backbones (DINOv2, DINOv2 with registers, DINOv3 ViT, ViT): last hidden state, pooled by us."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.ingest.errors import ModelError
from embedscope.ingest.families import ModelSpec, register_family
from embedscope.ingest.models import Embedder, pick_device
from embedscope.ingest.vision import OnDevice, check_image_size, forward_kwargs, load_pretrained

#: config.json model types whose last hidden state is [CLS, registers…, patches…].
MODEL_TYPES = ("dinov2", "dinov2_with_registers", "dinov3_vit", "vit", "vit_msn")
POOLINGS = ("cls", "mean", "cls+mean")


class BackboneEmbedder(Embedder):
    """A transformers image backbone with on-device preprocessing and CLS / mean / CLS+mean pooling.

    Register tokens (``num_register_tokens``) are skipped: mean pooling averages patch tokens only.
    """

    def __init__(self, model: str, *, pooling: str = "cls", image_size: int | None = None,
                 device: str = "auto", revision: str | None = None) -> None:
        if pooling not in POOLINGS:
            raise UsageError(f"--pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
        self.device = pick_device(device)
        self.net, self.name, self.revision = load_pretrained(model, revision, self.device)
        if getattr(self.net, "main_input_name", "") != "pixel_values":
            from embedscope.ingest.families import describe_families

            raise ModelError(f"{model!r} is not an image model (its input is {self.net.main_input_name!r}); "
                             f"model families: {describe_families()}")
        config = self.net.config
        self.pooling = pooling
        self.image_size = self.decode_size = int(image_size if image_size is not None else 224)
        check_image_size(self.image_size, int(getattr(config, "patch_size", 1) or 1))
        hidden = int(getattr(config, "hidden_size", 0) or 0)
        self.dimension = hidden * (2 if pooling == "cls+mean" else 1)
        self.registers = int(getattr(config, "num_register_tokens", 0) or 0)
        self._on = OnDevice(model, revision, self.image_size, self.device)
        self._kwargs = forward_kwargs(self.net.forward)
        self._pad_to: int | None = None

    def compile(self, backend: str = "inductor", batch_size: int | None = None) -> bool:
        """torch.compile the model (static shapes: batches are padded to ``batch_size``)."""
        import torch

        self.net = torch.compile(self.net, backend=backend, dynamic=False)
        self._pad_to = batch_size
        return True

    def _pooled(self, images: Any) -> Any:
        """The pooled vectors of a same-sized stack, float32, still on the device."""
        import torch

        x = self._on.pixels(images)
        n = int(x.shape[0])
        if self._pad_to and n < self._pad_to:  # a compiled model keeps one shape: no recompiling
            x = torch.cat([x, x.new_zeros((self._pad_to - n, *x.shape[1:]))])
        with self._on.inference():
            hidden = self.net(pixel_values=x, **self._kwargs).last_hidden_state[:n]
        hidden = hidden.float()
        cls = hidden[:, 0]
        patches = hidden[:, 1 + self.registers:]
        if self.pooling == "cls":
            return cls
        if self.pooling == "mean":
            return patches.mean(dim=1)
        return torch.cat([cls, patches.mean(dim=1)], dim=1)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self._pooled(images).cpu().numpy()

    def embed_async(self, images: Any) -> Callable[[], np.ndarray]:
        """Launch the forward pass; on CUDA the vectors come back by a non-blocking copy.

        The copy lands in pinned host memory; the returned callable waits on the copy's event
        only (no device-wide synchronisation), on whichever thread calls it.
        """
        from embedscope.ingest import accel

        out = self._pooled(images)
        copies = accel.host_copy(self.device)
        if copies is None:
            vectors = out.cpu().numpy()
            return lambda: vectors
        return copies.download(out)


def _any_model(spec: ModelSpec) -> bool:
    """The last resort: any other transformers model is tried as a backbone (it must take pixel_values)."""
    return True


@register_family(
    "backbone", _any_model, priority=-100,
    description=f"{', '.join(MODEL_TYPES)} and, last, any other transformers model that takes "
    "pixel_values: the last hidden state pooled by --pooling",
)
def backbone(spec: ModelSpec) -> Embedder:
    """DINOv2 / DINOv3 / ViT checkpoints: --pooling cls | mean | cls+mean, --image-size (default 224)."""
    return BackboneEmbedder(spec.model, pooling=spec.pooling, image_size=spec.image_size,
                            device=spec.device, revision=spec.revision)
