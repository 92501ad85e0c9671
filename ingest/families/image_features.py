"""CLIP / SigLIP towers: the model's own pooled (and projected) image embedding, and its text embedding.

One file is the whole family: it registers itself below, and `load_embedder` picks it for
checkpoints whose config.json ``model_type`` is listed in `MODEL_TYPES`.

Pooling is the model's own and fixed, recorded as 'pooled' in the collection metadata.
``--pooling cls`` (the setting's default) and ``pooled`` are accepted; ``mean`` and
``cls+mean`` are refused with a UsageError rather than silently ignored, so a collection's
metadata never claims a pooling that was not applied.

A full image–text checkpoint (``clip``, ``siglip`` — the SigLIP 2 fixed-resolution checkpoints
are ``siglip`` too) also embeds text into the same space: the checkpoint's own tokenizer, its
padding (`TEXT_PADDING`) and maximum length, ``get_text_features``, L2-normalised. A vision
tower alone (``clip_vision_model``, ``siglip_vision_model``) has no text half.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.ingest.errors import ModelError
from embedscope.ingest.families import ModelSpec, register_family
from embedscope.ingest.models import Embedder, pick_device
from embedscope.ingest.vision import (
    OnDevice,
    check_image_size,
    forward_kwargs,
    load_pretrained,
    load_tokenizer,
)

log = logging.getLogger(__name__)

#: Vision-only towers (forward → image_embeds or pooler_output) and full image–text checkpoints
#: (get_image_features).
MODEL_TYPES = ("clip_vision_model", "siglip_vision_model", "clip", "siglip")
POOLING = "pooled"
#: How each checkpoint type pads text as it was trained: CLIP pools the end-of-text token
#: (padding-invariant, so the batch's longest); SigLIP pools the last position, so it must see
#: the fixed length it was trained with (its processor's ``padding="max_length"``).
TEXT_PADDING = {"clip": "longest", "siglip": "max_length"}
ACCEPTED_POOLINGS = (POOLING, "cls")  # cls: the setting's default, read as "the model's own"


def _side(value: Any, default: int) -> int:
    """An int side from a config value that may be an int or an (h, w) pair."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return int(value) if value else default


def _model_class(spec: ModelSpec) -> Any:
    """The class the checkpoint was saved from when it is a vision tower (keeps its projection).

    ``AutoModel`` maps ``clip_vision_model`` to ``CLIPVisionModel``, which would drop the
    ``visual_projection`` of a ``CLIPVisionModelWithProjection`` checkpoint.
    """
    import transformers

    for arch in spec.architectures:
        if arch.endswith(("VisionModel", "VisionModelWithProjection")):
            cls = getattr(transformers, arch, None)
            if cls is not None:
                return cls
    return transformers.AutoModel


class ImageFeaturesEmbedder(Embedder):
    """The image embedding a CLIP/SigLIP model gives for itself, with on-device preprocessing.

    Vision towers: ``image_embeds`` when the model has a projection
    (``CLIPVisionModelWithProjection``), else ``pooler_output``. Full image–text models:
    ``get_image_features(pixel_values=...)`` (a tensor in transformers 4.x, an output whose
    ``pooler_output`` is the embedding in 5.x).
    """

    pooling = POOLING

    def __init__(self, spec: ModelSpec) -> None:
        if spec.pooling not in ACCEPTED_POOLINGS:
            raise UsageError(
                f"--pooling {spec.pooling!r}: {spec.model} ({spec.model_type}) gives one pooled image "
                f"embedding of its own; its pooling is fixed ({POOLING!r}). Leave --pooling at its "
                "default, or use a backbone model (DINOv2, ViT) for cls | mean | cls+mean."
            )
        import torch

        self.device = pick_device(spec.device)
        self.net, self.name, self.revision = load_pretrained(spec.model, spec.revision, self.device,
                                                             _model_class(spec))
        config = self.net.config
        vision = getattr(config, "vision_config", None) or config
        if getattr(vision, "vision_use_head", True) is False:
            raise ModelError(f"{spec.model!r} has no pooling head (vision_use_head is false): no "
                             "pooled image embedding to take")
        self._full = callable(getattr(self.net, "get_image_features", None))
        self._forward = self.net.get_image_features if self._full else self.net.forward
        self._kwargs = forward_kwargs(self._forward)
        projection = getattr(self.net, "visual_projection", None)
        self.dimension = (projection.out_features if isinstance(projection, torch.nn.Linear)
                          else int(vision.hidden_size))
        self.image_size = self.decode_size = _side(spec.image_size, _side(getattr(vision, "image_size", 0), 224))
        check_image_size(self.image_size, _side(getattr(vision, "patch_size", 1), 1))
        self._on = OnDevice(spec.model, spec.revision, self.image_size, self.device)
        self._text: TextTower | None = None
        if self._full and callable(getattr(self.net, "get_text_features", None)):
            try:
                self._text = TextTower(spec, self.net, self.device)
            except ModelError as exc:  # images still embed; the metadata says: no text
                log.warning("%s: image embedding only, text disabled: %s", spec.model, exc)
        self.embeds_text = self._text is not None

    def quantize_text(self) -> bool:
        """int8 dynamic quantization of the model's linear layers (on the CPU, for text queries)."""
        if self._text is None or self.device != "cpu":
            return False
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notice
            self.net = torch.ao.quantization.quantize_dynamic(self.net, {torch.nn.Linear},
                                                              dtype=torch.qint8)
        self._text.net = self.net
        self._forward = self.net.get_image_features if self._full else self.net.forward
        return True

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        if self._text is None:
            return super().embed_text(texts)
        with self._on.inference():
            return self._text.embed(texts)

    def embed(self, images: np.ndarray) -> np.ndarray:
        import torch

        x = self._on.pixels(images)
        with self._on.inference():
            out = self._forward(pixel_values=x, **self._kwargs)
        vectors: Any = out
        if not isinstance(out, torch.Tensor):
            vectors = getattr(out, "image_embeds", None)
            if vectors is None:
                vectors = out.pooler_output
        if vectors is None:
            raise ModelError(f"{self.name} returned no pooled image embedding")
        return vectors.float().cpu().numpy()


class TextTower:
    """The text half of a full CLIP/SigLIP checkpoint: its tokenizer, padding and maximum length."""

    def __init__(self, spec: ModelSpec, net: Any, device: str) -> None:
        self.net, self.device = net, device
        self.padding = TEXT_PADDING.get(spec.model_type, "max_length")
        self.tokenizer = load_tokenizer(spec.model, spec.revision)
        if len(self.tokenizer) <= len(self.tokenizer.all_special_tokens) + 1:
            raise ModelError(f"{spec.model!r} ships no tokenizer vocabulary (tokenizer.json, "
                             "vocab.json or spiece.model)")
        text_config = getattr(net.config, "text_config", None)
        positions = int(getattr(text_config, "max_position_embeddings", 0) or 0)
        limit = int(getattr(self.tokenizer, "model_max_length", 0) or 0)
        if not 0 < limit < 1_000_000:  # the tokenizer names no limit: the model's positions
            limit = positions
        self.max_length = min(limit, positions) if positions else limit

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Raw (unnormalised) text embeddings, float32, one row per text."""
        import torch

        batch = self.tokenizer(list(texts), padding=self.padding, truncation=True,
                               max_length=self.max_length, return_tensors="pt")
        # what the tokenizer returns (SigLIP's: input_ids alone; Gemma's for SigLIP 2 and
        # CLIP's: an attention mask too), as transformers' own zero-shot pipeline passes it
        inputs = {k: v.to(self.device) for k, v in batch.items()
                  if k in ("input_ids", "attention_mask", "position_ids")}
        out = self.net.get_text_features(**inputs)
        vectors = out if isinstance(out, torch.Tensor) else out.pooler_output
        return vectors.float().cpu().numpy()


@register_family("image-features", MODEL_TYPES,
                 description="CLIP/SigLIP image towers: the model's own pooled image embedding")
def image_features(spec: ModelSpec) -> Embedder:
    """CLIP / SigLIP checkpoints: pooling fixed ('pooled'), --image-size default from the config."""
    return ImageFeaturesEmbedder(spec)
