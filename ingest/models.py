"""Embedders: one abstract `embed`, with batching, validation and L2 normalisation in the base."""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from search.contract import CollectionMeta
from search.errors import ModelError, UsageError

log = logging.getLogger(__name__)
POOLINGS = ("cls", "mean", "cls+mean")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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

    @abstractmethod
    def embed(self, images: np.ndarray) -> np.ndarray:
        """Raw vectors for a stack of same-sized images (N×S×S or N×S×S×3, uint8)."""

    def embed_batch(self, images: list[np.ndarray]) -> np.ndarray:
        """Vectors for images of possibly different sizes, in order, L2-normalised float32."""
        if not images:
            return np.zeros((0, self.dimension), np.float32)
        out = np.zeros((len(images), self.dimension), np.float32)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape, []).append(i)
        for shape, idx in groups.items():
            vecs = np.asarray(self.embed(np.stack([images[i] for i in idx])), dtype=np.float32)
            if vecs.shape != (len(idx), self.dimension):
                raise ModelError(
                    f"{self.name} returned vectors of shape {vecs.shape} for {len(idx)} images of "
                    f"shape {shape}; expected ({len(idx)}, {self.dimension})"
                )
            out[idx] = vecs
        if not np.isfinite(out).all():
            raise ModelError(f"{self.name} produced NaN/inf vectors (try --device cpu or fp32)")
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def meta(self, dataset: str, labels: list[str]) -> CollectionMeta:
        """Collection metadata describing this embedder's vector space."""
        return CollectionMeta(
            model=self.name, revision=self.revision, image_size=self.image_size,
            pooling=self.pooling, dimension=self.dimension, dataset=dataset, labels=labels,
        )


class PixelsEmbedder(Embedder):
    """The raw-pixel baseline: grayscale pixels at one fixed side, flattened."""

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


class TransformersEmbedder(Embedder):
    """A transformers image backbone (DINOv2/v3, ViT …) with on-device preprocessing and pooling."""

    def __init__(self, model: str, *, pooling: str = "cls", image_size: int | None = None,
                 device: str = "auto", revision: str | None = None) -> None:
        import torch

        if pooling not in POOLINGS:
            raise UsageError(f"--pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
        self._torch = torch
        self.device = pick_device(device)
        self.net, self.name, self.revision = _load_backbone(model, revision, self.device)
        config = self.net.config
        self.pooling = pooling
        self.image_size = self.decode_size = int(image_size if image_size is not None else 224)
        patch = int(getattr(config, "patch_size", 1) or 1)
        if self.image_size < patch:
            raise UsageError(
                f"--image-size {self.image_size} is smaller than the model's {patch}-pixel patches; "
                f"use a multiple of {patch}, e.g. {patch * 8} or {patch * 16}"
            )
        hidden = int(getattr(config, "hidden_size", 0) or 0)
        self.dimension = hidden * (2 if pooling == "cls+mean" else 1)
        self.registers = int(getattr(config, "num_register_tokens", 0) or 0)
        mean, std = _normalisation(model, revision)
        self._mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        params = inspect.signature(self.net.forward).parameters
        self._kwargs = {"interpolate_pos_encoding": True} if "interpolate_pos_encoding" in params else {}
        self._autocast = self.device.startswith("cuda")
        self._dtype = torch.bfloat16 if self._autocast and torch.cuda.is_bf16_supported() else torch.float16

    def embed(self, images: np.ndarray) -> np.ndarray:
        torch = self._torch
        batch = torch.from_numpy(images)
        if batch.ndim == 3:  # grayscale → 3 channels
            batch = batch.unsqueeze(-1).expand(-1, -1, -1, 3)
        if self.device.startswith("cuda"):
            batch = batch.pin_memory()
        x = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-1] != self.image_size:
            x = torch.nn.functional.interpolate(
                x, size=(self.image_size, self.image_size), mode="bicubic", antialias=True,
                align_corners=False,
            ).clamp_(0.0, 1.0)
        x = (x - self._mean) / self._std
        with torch.inference_mode(), torch.autocast(
            device_type="cuda", dtype=self._dtype, enabled=self._autocast
        ):
            hidden = self.net(pixel_values=x, **self._kwargs).last_hidden_state
        hidden = hidden.float()
        cls = hidden[:, 0]
        patches = hidden[:, 1 + self.registers:]
        if self.pooling == "cls":
            out = cls
        elif self.pooling == "mean":
            out = patches.mean(dim=1)
        else:
            out = torch.cat([cls, patches.mean(dim=1)], dim=1)
        return out.cpu().numpy()


def _hub_file(repo: str, filename: str, revision: str | None) -> Path | None:
    """A file of a hub model: from the cache, else downloaded when the hub answers, else None."""
    from huggingface_hub import hf_hub_download

    from ingest.hub import hub_reachable

    try:
        return Path(hf_hub_download(repo, filename, revision=revision, local_files_only=True))
    except Exception:  # not cached
        if not hub_reachable():
            return None
    try:
        return Path(hf_hub_download(repo, filename, revision=revision))
    except Exception:  # the model ships no such file
        return None


def _normalisation(model: str, revision: str | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The model's own image_mean/image_std when it ships a processor config, else ImageNet's."""
    import json

    path = Path(model).expanduser()
    cfg_file = path / "preprocessor_config.json" if path.is_dir() else None
    if cfg_file is None:
        cfg_file = _hub_file(model, "preprocessor_config.json", revision)
    if cfg_file is not None and cfg_file.exists():
        cfg = json.loads(cfg_file.read_text())
        mean, std = cfg.get("image_mean"), cfg.get("image_std")
        if isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 3:
            return tuple(mean), tuple(std)
    return IMAGENET_MEAN, IMAGENET_STD


def _load_backbone(model: str, revision: str | None, device: str) -> tuple[Any, str, str | None]:
    """Load an image backbone from a local directory or the hub (cache first, fast offline error)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(model).expanduser()
    is_local = path.is_dir()
    if not is_local and (model.startswith((".", "/", "~")) or path.exists()):
        raise ModelError(f"--model {model}: not a model directory (expected config.json and weights)")
    source = str(path.resolve()) if is_local else model
    kwargs: dict[str, Any] = {"revision": revision} if revision and not is_local else {}

    def load(**extra: Any) -> Any:
        try:
            return AutoModel.from_pretrained(source, attn_implementation="sdpa", **kwargs, **extra)
        except (ValueError, ImportError) as exc:
            if "sdpa" not in str(exc).lower() and "attn_implementation" not in str(exc):
                raise
            return AutoModel.from_pretrained(source, **kwargs, **extra)

    try:
        if is_local:
            net = load()
        else:
            try:
                net = load(local_files_only=True)
            except OSError:
                from ingest.hub import hub_reachable, offline_error

                if not hub_reachable():
                    raise offline_error("model", model) from None
                net = load()
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model {model!r}: {exc}") from exc
    if getattr(net, "main_input_name", "") != "pixel_values":
        raise ModelError(f"{model!r} is not an image model (its input is {net.main_input_name!r})")
    net = net.to(device).eval()
    commit = getattr(net.config, "_commit_hash", None)
    return net, source, (revision or commit) if not is_local else None


def load_embedder(model: str, *, pooling: str = "cls", image_size: int | None = None,
                  device: str = "auto", revision: str | None = None,
                  native_side: int | None = None) -> Embedder:
    """The embedder for ``model``: 'pixels', a local model directory or a hub name.

    Args:
        model: 'pixels', a directory with config.json and weights, or a hub id.
        pooling: cls | mean | cls+mean (models only).
        image_size: model input side; pixels: the side images are resized to.
        device: auto | cuda | mps | cpu.
        revision: hub revision.
        native_side: pixels without image_size: the dataset's native side.
    """
    if model == "pixels":
        side = image_size or native_side
        if side is None:
            raise UsageError("pixels: the image size is unknown; pass --image-size")
        return PixelsEmbedder(side)
    return TransformersEmbedder(model, pooling=pooling, image_size=image_size, device=device,
                                revision=revision)
