"""Accelerator helpers: when to torch.compile, and batched JPEG decoding on the GPU (nvJPEG).

torchvision is optional (``pip install embedscope[gpu]``): without it, or without CUDA, every
image takes the PIL path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from embedscope.errors import UsageError

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "on", "off")
#: ``--compile auto`` compiles CUDA runs of at least this many images. A cold inductor compile of
#: a ViT-B costs tens of seconds and saves ~65 µs an image on an H100 (5.3k → 8.0k images/s),
#: so it pays from a few hundred thousand images (fewer once inductor's cache is warm).
COMPILE_MIN_IMAGES = 200_000


def want_compile(setting: str, device: str, images: int) -> bool:
    """Whether to torch.compile: ``on``/``off`` as said; ``auto`` for large CUDA runs only.

    Raises:
        UsageError: ``setting`` is not auto, on or off.
    """
    if setting not in COMPILE_MODES:
        raise UsageError(f"--compile {setting!r}: expected one of {', '.join(COMPILE_MODES)}")
    if setting != "auto":
        return setting == "on"
    return device.startswith("cuda") and images >= COMPILE_MIN_IMAGES


class HostCopy:
    """Device → host copies that do not wait for the device: the GPU path's transfers in one place.

    On CUDA, a batch goes up from pinned memory with a non-blocking copy, and vectors come back
    into pinned memory with a non-blocking copy whose event the returned callable waits on (the
    writer thread, no device-wide synchronisation). Tests build one on the CPU with a stand-in
    event (`pin` off), so that this code runs in CI; only the CUDA calls differ on a GPU.

    Args:
        device: where the model runs.
        pin: copy through pinned host memory (CUDA only).
        event: makes the event recorded after the copy (``torch.cuda.Event`` on CUDA).
    """

    def __init__(self, device: str, pin: bool, event: Callable[[], Any]) -> None:
        self.device, self.pin, self.event = device, pin, event

    def upload(self, images: np.ndarray) -> Any:
        """A uint8 host stack on the device (through pinned memory, non-blocking)."""
        import torch

        batch = torch.from_numpy(images)
        if self.pin:
            batch = batch.pin_memory()
        return batch.to(self.device, non_blocking=True)

    def download(self, out: Any) -> Callable[[], np.ndarray]:
        """Start copying ``out`` (float32 on the device) to the host; the callable waits for it."""
        import torch

        host = torch.empty(tuple(out.shape), dtype=torch.float32, pin_memory=self.pin)
        host.copy_(out, non_blocking=True)
        landed = self.event()
        landed.record()

        def wait() -> np.ndarray:
            landed.synchronize()
            return host.numpy()

        return wait


def host_copy(device: str) -> HostCopy | None:
    """The asynchronous copies for ``device`` (CUDA), or None where copies are plain and synchronous."""
    if not device.startswith("cuda"):
        return None
    import torch

    return HostCopy(device, pin=True, event=torch.cuda.Event)


def gpu_jpeg_available(device: str) -> bool:
    """True when JPEGs can be decoded on ``device`` by torchvision's nvJPEG path."""
    if not device.startswith("cuda"):
        return False
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except (ImportError, RuntimeError, OSError):  # not installed, or built for another torch
        return False
    return True


def decode_jpegs(encoded: list[bytes], mode: str, size: int | None, device: str,
                 decoder: Any = None) -> list[Any]:
    """JPEGs decoded on ``device`` in one batch, squared and shrunk like `decode` does on the CPU.

    Returns one uint8 tensor per image (S×S×3 for RGB, S×S for L, S ≤ ``size``), or None for an
    image the GPU decoder refused (the caller decodes that one with PIL). When the batch call
    fails, the images are tried one by one.

    Args:
        encoded: the JPEG files' bytes.
        mode: 'RGB' or 'L'.
        size: the side to shrink larger images to (None: keep).
        device: a CUDA device.
        decoder: ``decode_jpeg``-compatible callable (default torchvision's; tests pass another).
    """
    import torch

    if decoder is None:
        from torchvision.io import decode_jpeg

        decoder = decode_jpeg
    try:
        from torchvision.io import ImageReadMode

        read_mode: Any = ImageReadMode.RGB if mode == "RGB" else ImageReadMode.GRAY
    except ImportError:  # a stand-in decoder (tests) takes the mode's name
        read_mode = mode
    data = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in encoded]
    images: list[Any]
    try:
        images = list(decoder(data, mode=read_mode, device=device))
    except RuntimeError as exc:  # one bad file fails the batch: find it
        log.debug("batched GPU JPEG decode failed (%s); decoding one by one", exc)
        images = []
        for one in data:
            try:
                images.append(decoder(one, mode=read_mode, device=device))
            except RuntimeError:
                images.append(None)
    return [None if img is None else square(img, size, mode) for img in images]


def square(img: Any, size: int | None, mode: str) -> Any:
    """C×H×W uint8 → shrunk (antialiased bicubic) so the shorter side is ``size``, center-cropped, H×W(×3)."""
    import torch

    _, height, width = img.shape
    if size is not None and min(height, width) > size:
        scale = size / min(height, width)
        new = (max(size, round(height * scale)), max(size, round(width * scale)))
        img = torch.nn.functional.interpolate(
            img[None].float(), size=new, mode="bicubic", antialias=True, align_corners=False,
        )[0].round_().clamp_(0, 255).to(torch.uint8)
        _, height, width = img.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    img = img[:, top:top + side, left:left + side]
    return img[0].contiguous() if mode == "L" else img.permute(1, 2, 0).contiguous()
