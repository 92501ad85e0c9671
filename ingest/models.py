"""Embedders: one abstract `embed`, with batching, validation and L2 normalisation in the base.

Which embedder a model gets is up to the model families (`embedscope.ingest.families`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from embedscope.contract import CollectionMeta
from embedscope.errors import UsageError
from embedscope.ingest.errors import ModelError

log = logging.getLogger(__name__)


class Embedder(ABC):
    """Turns batches of decoded images (uint8, square) into L2-normalised float32 vectors."""

    name: str = ""
    mode: str = "RGB"  # what decode() must produce: 'RGB' or 'L'
    decode_size: int | None = None  # decode() shrinks larger images to this side
    image_size: int | None = None
    pooling: str = "cls"
    revision: str | None = None
    dimension: int = 0
    device: str = "cpu"
    #: True when the model embeds text into the same space (CLIP, SigLIP): `embed_text` works.
    embeds_text: bool = False

    @abstractmethod
    def embed(self, images: np.ndarray) -> np.ndarray:
        """Raw vectors for a stack of same-sized images (N×S×S or N×S×S×3, uint8)."""

    def embed_async(self, images: Any) -> Callable[[], np.ndarray]:
        """Start embedding a same-sized stack; the returned callable waits for the raw vectors.

        The default computes them at once. Device embedders launch the forward pass and a
        non-blocking copy back, so the caller can queue the next batch before this one lands.
        ``images`` is a uint8 numpy stack, or a device tensor of the same layout.
        """
        vectors = self.embed(images)
        return lambda: vectors

    def compile(self, backend: str = "inductor", batch_size: int | None = None) -> bool:
        """Compile the model (torch.compile) where the embedder can; False when it cannot.

        ``batch_size``: batches are padded to it, so the compiled model sees one shape.
        """
        return False

    def submit_batch(self, images: list[Any]) -> Callable[[], np.ndarray]:
        """Start embedding images of possibly different sizes; the callable returns their vectors.

        The vectors come back in order, checked and L2-normalised float32 (`embed_batch`).
        """
        if not images:
            return lambda: np.zeros((0, self.dimension), np.float32)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, img in enumerate(images):  # host arrays and device tensors stack apart
            groups.setdefault((isinstance(img, np.ndarray), *img.shape), []).append(i)
        started = [(shape, idx, self.embed_async(_stack([images[i] for i in idx])))
                   for shape, idx in groups.items()]

        def result() -> np.ndarray:
            out = np.zeros((len(images), self.dimension), np.float32)
            for shape, idx, wait in started:
                vecs = np.asarray(wait(), dtype=np.float32)
                if vecs.shape != (len(idx), self.dimension):
                    raise ModelError(
                        f"{self.name} returned vectors of shape {vecs.shape} for {len(idx)} images of "
                        f"shape {shape[1:]}; expected ({len(idx)}, {self.dimension})"
                    )
                out[idx] = vecs
            return _unit(out, self.name)

        return result

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Raw vectors for texts, in this space; families with a text tower override it.

        Raises:
            ModelError: the model has no text tower.
        """
        raise ModelError(f"{self.name} embeds images only (no text tower): search by text needs "
                         "a CLIP or SigLIP image–text checkpoint")

    def quantize_text(self) -> bool:
        """Run the text tower's linear layers in int8 (dynamic quantization, CPU); False when
        the embedder has no text tower to quantize. Faster queries; vectors near, not equal to,
        the fp32 ones."""
        return False

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``, in order, checked and L2-normalised float32 (the base's job)."""
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        if not self.embeds_text:
            return self.embed_text(texts)  # raises
        out = np.asarray(self.embed_text(texts), dtype=np.float32)
        if out.shape != (len(texts), self.dimension):
            raise ModelError(f"{self.name} returned text vectors of shape {out.shape} for "
                             f"{len(texts)} texts; expected ({len(texts)}, {self.dimension})")
        return _unit(out, self.name)

    def embed_batch(self, images: list[Any]) -> np.ndarray:
        """Vectors for images of possibly different sizes, in order, L2-normalised float32."""
        return self.submit_batch(images)()

    def meta(self, dataset: str, labels: list[str]) -> CollectionMeta:
        """Collection metadata describing this embedder's vector space."""
        return CollectionMeta(
            model=self.name, revision=self.revision, image_size=self.image_size,
            pooling=self.pooling, dimension=self.dimension, dataset=dataset, labels=labels,
            text=self.embeds_text,
        )


def _unit(vectors: np.ndarray, name: str) -> np.ndarray:
    """Finite rows scaled to unit length.

    Raises:
        ModelError: a NaN or infinite value.
    """
    if not np.isfinite(vectors).all():
        raise ModelError(f"{name} produced NaN/inf vectors (try --device cpu or fp32)")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _stack(images: list[Any]) -> Any:
    """One stack of same-shaped images: numpy arrays on the host, tensors where they are."""
    if isinstance(images[0], np.ndarray):
        return np.stack(images)
    import torch

    return torch.stack(images)


def pick_device(device: str) -> str:
    """Resolve 'auto' to cuda, mps or cpu; refuse a device this machine lacks."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is visible (use --device auto or cpu)")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise UsageError(f"--device {device!r}: expected auto, cuda, cuda:N, mps or cpu")
    return device


def load_embedder(model: str, *, pooling: str = "cls", image_size: int | None = None,
                  device: str = "auto", revision: str | None = None,
                  native_side: int | None = None) -> Embedder:
    """The embedder for ``model``, built by the model family that handles it.

    'pixels' is the raw-pixel baseline; any other name is a local model directory or a hub id
    whose config.json (``model_type``) picks the family (see `embedscope.ingest.families`).

    Args:
        model: 'pixels', a directory with config.json and weights, or a hub id.
        pooling: backbone: cls | mean | cls+mean; image-features: its own 'pooled' embedding.
        image_size: model input side; pixels: the side images are resized to.
        device: auto | cuda | mps | cpu.
        revision: hub revision.
        native_side: pixels without image_size: the dataset's native side.

    Raises:
        ModelError: no registered family handles the model, or it cannot be loaded.
        OfflineError: a hub model is not cached and the hub cannot be reached.
        UsageError: a setting the family cannot honour (pooling, image size, device).
    """
    from embedscope.ingest.families import ModelSpec, select_family

    spec = ModelSpec(model=model, pooling=pooling, image_size=image_size, device=device,
                     revision=revision, native_side=native_side)
    family = select_family(spec)
    log.debug("model %s: family %s", model, family.name)
    return family.factory(spec)
