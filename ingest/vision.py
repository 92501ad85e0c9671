"""Shared by the transformers families: config and files cache-first, loading, on-device preprocessing."""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedscope.errors import UsageError
from embedscope.ingest.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def local_model_dir(model: str) -> Path | None:
    """The directory ``model`` names, or None for a hub id.

    Raises:
        ModelError: ``model`` looks like a path but is not a directory.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    if model.startswith((".", "/", "~")) or path.exists():
        raise ModelError(f"--model {model}: not a model directory (expected config.json and weights)")
    return None


def hub_file(repo: str, filename: str, revision: str | None, *, required: bool = False) -> Path | None:
    """A file of hub model ``repo``: from the cache, else downloaded when the hub answers.

    Args:
        repo: hub model id.
        filename: file inside the repository.
        revision: branch, tag or commit (None: the default branch).
        required: raise instead of returning None when the file cannot be had.

    Raises:
        OfflineError: ``required``, not cached, and the hub cannot be reached (fails fast).
        ModelError: ``required`` and the hub has no such repository, revision or file.
    """
    from huggingface_hub import hf_hub_download

    from embedscope.ingest.hub import hub_reachable, offline_error

    try:
        return Path(hf_hub_download(repo, filename, revision=revision, local_files_only=True))
    except (OSError, ValueError):  # not cached (or an invalid name: the network call says which)
        pass
    if not hub_reachable():
        if required:
            raise offline_error("model", repo)
        return None
    try:
        return Path(hf_hub_download(repo, filename, revision=revision))
    except (OSError, ValueError) as exc:  # no such repository, revision or file
        if required:
            raise ModelError(f"cannot load model {repo!r}: no {filename} on the hub ({exc})") from exc
        return None


def read_config(model: str, revision: str | None = None) -> dict[str, Any]:
    """The model's config.json as a dict, from a local directory or the hub (cache first).

    Raises:
        ModelError: no config.json, or not JSON.
        OfflineError: a hub model that is not cached while the hub cannot be reached.
    """
    local = local_model_dir(model)
    if local is not None:
        path = local / "config.json"
        if not path.is_file():
            raise ModelError(f"cannot load model {model!r}: no config.json in {local} "
                             "(expected a model directory: config.json and weights)")
    else:
        path = hub_file(model, "config.json", revision, required=True)  # type: ignore[assignment]
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model {model!r}: unreadable config.json ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelError(f"cannot load model {model!r}: config.json is not a JSON object")
    return config


def normalisation(model: str, revision: str | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The model's own image_mean/image_std when it ships a processor config, else ImageNet's."""
    local = local_model_dir(model)
    cfg_file = local / "preprocessor_config.json" if local is not None else hub_file(
        model, "preprocessor_config.json", revision)
    if cfg_file is not None and cfg_file.exists():
        cfg = json.loads(cfg_file.read_text())
        mean, std = cfg.get("image_mean"), cfg.get("image_std")
        if isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 3:
            return tuple(mean), tuple(std)
    return IMAGENET_MEAN, IMAGENET_STD


def load_pretrained(model: str, revision: str | None, device: str,
                    model_class: Any = None) -> tuple[Any, str, str | None]:
    """Load weights from a local directory or the hub (cache first, fast offline error).

    Args:
        model: local directory or hub id.
        revision: hub revision.
        device: a resolved device ('cpu', 'cuda', 'cuda:1', 'mps').
        model_class: a transformers class with ``from_pretrained`` (default ``AutoModel``).

    Returns:
        The model in eval mode on ``device``, its name (resolved path or hub id), and the
        revision to record (None for local directories).
    """
    from transformers.utils import logging as hf_logging

    if model_class is None:
        import transformers

        model_class = transformers.AutoModel
    hf_logging.disable_progress_bar()
    local = local_model_dir(model)
    source = str(local) if local is not None else model
    kwargs: dict[str, Any] = {"revision": revision} if revision and local is None else {}

    def load(**extra: Any) -> Any:
        try:
            return model_class.from_pretrained(source, attn_implementation="sdpa", **kwargs, **extra)
        except (ValueError, ImportError) as exc:
            if "sdpa" not in str(exc).lower() and "attn_implementation" not in str(exc):
                raise
            return model_class.from_pretrained(source, **kwargs, **extra)

    try:
        if local is not None:
            net = load()
        else:
            try:
                net = load(local_files_only=True)
            except OSError:
                from embedscope.ingest.hub import hub_reachable, offline_error

                if not hub_reachable():
                    raise offline_error("model", model) from None
                net = load()
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model {model!r}: {exc}") from exc
    net = net.to(device).eval()
    commit = getattr(net.config, "_commit_hash", None)
    return net, source, (revision or commit) if local is None else None


def load_tokenizer(model: str, revision: str | None) -> Any:
    """The checkpoint's own tokenizer (``AutoTokenizer``), cache-first like its weights.

    Raises:
        ModelError: the checkpoint ships no tokenizer, or its class needs a missing package
            (SigLIP's sentencepiece tokenizer: ``pip install 'embedscope[text]'``).
        OfflineError: a hub model whose tokenizer is not cached while the hub cannot be reached.
    """
    from transformers import AutoTokenizer

    local = local_model_dir(model)
    source = str(local) if local is not None else model
    kwargs: dict[str, Any] = {"revision": revision} if revision and local is None else {}
    try:
        if local is not None:
            return AutoTokenizer.from_pretrained(source, **kwargs)
        try:
            return AutoTokenizer.from_pretrained(source, local_files_only=True, **kwargs)
        except OSError:
            from embedscope.ingest.hub import hub_reachable, offline_error

            if not hub_reachable():
                raise offline_error("model", model) from None
            return AutoTokenizer.from_pretrained(source, **kwargs)
    except (OSError, ValueError, ImportError, KeyError, TypeError) as exc:
        raise ModelError(
            f"cannot load the tokenizer of {model!r}: {exc}. A SigLIP checkpoint's tokenizer "
            "needs sentencepiece: pip install 'embedscope[text]'") from exc


def check_image_size(image_size: int, patch: int) -> None:
    """Refuse an input side smaller than one patch.

    Raises:
        UsageError: naming sides that work.
    """
    if image_size < patch:
        raise UsageError(
            f"--image-size {image_size} is smaller than the model's {patch}-pixel patches; "
            f"use a multiple of {patch}, e.g. {patch * 8} or {patch * 16}"
        )


def forward_kwargs(forward: Callable[..., Any]) -> dict[str, Any]:
    """Extra arguments for ``forward``: position-embedding interpolation where it is offered."""
    params = inspect.signature(forward).parameters
    return {"interpolate_pos_encoding": True} if "interpolate_pos_encoding" in params else {}


class OnDevice:
    """Where a transformers family runs: batched preprocessing on the device, and the autocast context.

    uint8 images → float in [0, 1] → antialiased bicubic resize to ``image_size`` → the model's own
    mean/std normalisation (from its preprocessor_config.json, else ImageNet's). Grayscale becomes
    3 channels. On CUDA, pinned memory, non-blocking copies and bf16 (else fp16) autocast.
    """

    def __init__(self, model: str, revision: str | None, image_size: int, device: str) -> None:
        import torch

        self._torch = torch
        self.device = device
        self.image_size = image_size
        mean, std = normalisation(model, revision)
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.autocast = device.startswith("cuda")
        self.dtype = torch.bfloat16 if self.autocast and torch.cuda.is_bf16_supported() else torch.float16

    def pixels(self, images: Any) -> Any:
        """Normalised pixel values (N×3×S×S float32 on the device) for a uint8 stack.

        ``images`` is a numpy stack on the host (copied through pinned memory, non-blocking) or
        a uint8 tensor already on the device (GPU-decoded JPEGs), N×S×S or N×S×S×3.
        """
        from embedscope.ingest import accel

        torch = self._torch
        copies = accel.host_copy(self.device)
        if isinstance(images, np.ndarray):
            batch = copies.upload(images) if copies else torch.from_numpy(images).to(self.device)
        else:
            batch = images.to(self.device, non_blocking=True)
        if batch.ndim == 3:  # grayscale → 3 channels
            batch = batch.unsqueeze(-1).expand(-1, -1, -1, 3)
        x = batch.permute(0, 3, 1, 2).float().div_(255.0)
        side = self.image_size
        if tuple(x.shape[-2:]) != (side, side):
            x = torch.nn.functional.interpolate(
                x, size=(side, side), mode="bicubic", antialias=True, align_corners=False,
            ).clamp_(0.0, 1.0)
        return (x - self.mean) / self.std

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """No autograd; bf16/fp16 autocast on CUDA."""
        torch = self._torch
        with torch.inference_mode(), torch.autocast(
            device_type="cuda", dtype=self.dtype, enabled=self.autocast
        ):
            yield
