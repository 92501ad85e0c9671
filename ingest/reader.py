"""The reader stage: items → batches of decoded images (or reasons), in worker processes when there are cores.

Workers start with ``forkserver`` (``spawn`` where there is none), never ``fork``: the runner
has threads (the writer, the dataset reader) and maybe CUDA by then, and forking such a
process can deadlock the child. The forkserver is started early (`prestart`) and preloads
this module, numpy and PIL — not torch: the workers only decode — so workers come up in a
fraction of a second. A window of ``4 × workers`` batches is in flight, so decoded images
never pile up ahead of the model.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from embedscope.ingest.decode import Decoded, decode, thumbnail_b64
from embedscope.ingest.errors import BadImageError
from embedscope.ingest.items import Item

_PRELOAD = ["embedscope.ingest.reader", "PIL.Image", "PIL.JpegImagePlugin", "PIL.PngImagePlugin", "numpy"]
_PREFETCH = 4  # batches in flight per worker


@dataclass(frozen=True)
class DecodeOptions:
    """How the reader decodes: the embedder's mode and size plus the bad-input limits."""

    mode: str = "RGB"
    size: int | None = None
    max_pixels: int = 64_000_000
    min_side: int = 4
    thumbnail_size: int = 64
    gpu_jpeg: bool = False  # leave plain JPEGs encoded for the batched GPU decoder


@dataclass
class Encoded:
    """A plain JPEG left for the GPU decoder (nvJPEG), with what the payload records about it."""

    data: bytes
    width: int
    height: int
    thumbnail: str


Result = Decoded | Encoded | str  # str: the reason the image is rejected


def _remote_bytes(url: str) -> bytes:
    import fsspec

    with fsspec.open(url, "rb") as fh:
        return fh.read()  # type: ignore[no-any-return]


def decode_item(item: Item, opts: DecodeOptions) -> Decoded | str:
    """Decode one item on the CPU (the robust PIL path), or return the reason it is rejected."""
    if item.error is not None:
        return item.error
    try:
        data = item.data
        if data is None and item.source is not None and "://" in item.source:
            data = _remote_bytes(item.source)
        return decode(data if data is not None else item.source, opts.mode, opts.size,
                      max_pixels=opts.max_pixels, min_side=opts.min_side,
                      thumbnail_size=opts.thumbnail_size)
    except BadImageError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read {item.source}: {exc}"
    except MemoryError:
        return "image too large to decode in memory"


def probe_jpeg(data: bytes, opts: DecodeOptions) -> Encoded | None:
    """``data`` as an `Encoded` when the GPU decoder can take it as it is, else None (use PIL).

    Only baseline RGB/grayscale JPEGs without EXIF rotation, within the size limits, qualify; the
    thumbnail comes from a 1/8-scale libjpeg decode (a fraction of a full decode). CMYK,
    progressive, rotated and odd files go the robust PIL way.
    """
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if (img.format != "JPEG" or img.mode not in ("RGB", "L") or img.info.get("progressive")
                    or img.info.get("progression") or width * height > opts.max_pixels
                    or min(width, height) < max(opts.min_side, 16)
                    or int(img.getexif().get(0x0112, 1)) != 1):
                return None
            img.draft("RGB", (opts.thumbnail_size, opts.thumbnail_size))
            img.load()
            thumb = thumbnail_b64(img.convert("RGB"), opts.thumbnail_size)
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, Image.DecompressionBombError):
        return None  # PIL's full decode gives the reason
    return Encoded(data, width, height, thumb)


def read_item(item: Item, opts: DecodeOptions) -> Result:
    """The reader's work for one item: left encoded for the GPU when it can be, else decoded."""
    if opts.gpu_jpeg and item.error is None:
        data = item.data
        if (data is None and item.source is not None and "://" not in item.source
                and item.source.lower().endswith((".jpg", ".jpeg"))):
            try:
                with open(item.source, "rb") as fh:
                    data = fh.read()
            except OSError:
                data = None
        if data is not None:
            encoded = probe_jpeg(data, opts)
            if encoded is not None:
                return encoded
    return decode_item(item, opts)


def read_batch(items: list[Item], opts: DecodeOptions) -> list[Result]:
    """One batch's results, in order (what a worker process runs)."""
    return [read_item(item, opts) for item in items]


def worker_count(requested: int | None) -> int:
    """Decoding workers: as asked, else none on ≤ 2 cores and half the cores (at most 8) above."""
    if requested is not None:
        return max(0, requested)
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 2 else min(8, cpus // 2)


def start_method() -> str:
    """``forkserver`` where the platform has it, else ``spawn`` (never ``fork``: see the module doc)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def prestart(workers: int) -> None:
    """Start the forkserver now (it imports numpy and PIL once) so the first batch is not kept waiting."""
    if workers <= 0 or start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    forkserver.ensure_running()


def batches(groups: Iterable[list[Item]], opts: DecodeOptions, workers: int
            ) -> Iterator[tuple[list[Item], list[Result]]]:
    """Each batch of ``groups`` with its results, in order; decoded in ``workers`` processes.

    Without workers the items are decoded here. Neither way imports torch. With workers, a
    window of ``4 × workers`` batches is in flight, so ``groups`` is read only that far ahead.
    """
    if workers <= 0:
        for group in groups:
            yield group, read_batch(group, opts)
        return
    prestart(workers)
    ctx = multiprocessing.get_context(start_method())
    with ctx.Pool(workers) as pool:
        todo = iter(groups)
        window: deque[tuple[list[Item], Any]] = deque()

        def submit() -> None:
            group = next(todo, None)
            if group is not None:
                window.append((group, pool.apply_async(read_batch, (group, opts))))

        for _ in range(workers * _PREFETCH):
            submit()
        while window:
            group, pending = window.popleft()
            results = pending.get()
            submit()
            yield group, results
