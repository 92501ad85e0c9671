"""The GPU code paths run on the CPU with stand-ins, so that a first GPU run can only fail inside CUDA.

What CUDA does is replaced, nothing else: torch.compile with inductor (the GPU's backend, here
generating C++), the pinned-buffer / non-blocking copy with its event (a recording stand-in
event), and the writer waiting on that copy on its own thread. The batched JPEG path with
torchvision's own `decode_jpeg` on the CPU is here too (skipped where torchvision is missing).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")


def test_inductor_compiled_model_matches_eager_on_the_cpu(tiny_model_dir: Path):
    """--compile on: the inductor build of the tiny model, padded batches, within fp32 tolerance."""
    from embedscope.ingest.models import load_embedder

    images = list(np.random.default_rng(1).integers(0, 255, size=(11, 28, 28, 3), dtype=np.uint8))
    eager = load_embedder(str(tiny_model_dir), image_size=56, device="cpu")
    compiled = load_embedder(str(tiny_model_dir), image_size=56, device="cpu")
    assert compiled.compile(batch_size=8)  # inductor, as on the GPU
    got = np.concatenate([compiled.embed_batch(images[:8]), compiled.embed_batch(images[8:])])
    np.testing.assert_allclose(got, eager.embed_batch(images), atol=1e-4)


class _Event:
    """A stand-in for torch.cuda.Event: records which thread recorded it and which waited on it."""

    made: list[_Event] = []

    def __init__(self) -> None:
        self.recorded_on: str | None = None
        self.waited_on: str | None = None
        _Event.made.append(self)

    def record(self) -> None:
        self.recorded_on = threading.current_thread().name

    def synchronize(self) -> None:
        assert self.recorded_on is not None, "waited on a copy that was never started"
        self.waited_on = threading.current_thread().name


def _photo(seed: int, w: int = 320, h: int = 240, progressive: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(h // 20 + 1, w // 20 + 1, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC).save(
        buf, format="JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


def _ingest(folder: Path, model_dir: Path) -> tuple[Any, list[str], np.ndarray, list[Any]]:
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.store.remote import RemoteStore

    store = RemoteStore(":memory:")
    settings = IngestSettings(dataset=str(folder), model=str(model_dir), image_size=56, device="cpu",
                              progress=False, collection="t", num_workers=0, batch_size=4)
    summary = run_ingest(settings, store=store)
    ids, vectors, payloads = store.fetch_all("t", payload_fields=("width", "height", "source"))
    order = np.argsort(ids)
    return summary, [ids[i] for i in order], vectors[order], [payloads[i] for i in order]


def test_pinned_non_blocking_copies_are_waited_on_by_the_writer(tmp_path: Path, tiny_model_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    """The CUDA copy path (upload, download into a host buffer, the event) on the CPU, in a real run."""
    from embedscope.ingest import accel
    from embedscope.ingest.writer import Writer

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(10):
        (folder / f"p{i}.jpg").write_bytes(_photo(i))
    plain = _ingest(folder, tiny_model_dir)
    made: list[accel.HostCopy] = []

    def stand_in(device: str) -> accel.HostCopy:
        made.append(accel.HostCopy(device, pin=False, event=_Event))
        return made[-1]

    waited_before_write: list[bool] = []
    real_write = Writer._write

    def write(self: Writer, job: Any) -> None:
        job.vectors()  # what _write does first: this batch's copy (and every earlier one) has landed
        done = len(waited_before_write) + 1  # one copy per batch, in order
        waited_before_write.append(all(e.waited_on for e in _Event.made[:done]))
        real_write(self, job)

    _Event.made.clear()
    monkeypatch.setattr(accel, "host_copy", stand_in)
    monkeypatch.setattr(Writer, "_write", write)
    copied = _ingest(folder, tiny_model_dir)
    assert made and len(_Event.made) == 3  # 10 images in batches of 4: one download each
    assert {e.recorded_on for e in _Event.made} == {threading.main_thread().name}
    assert {e.waited_on for e in _Event.made} == {"embedscope-writer"}
    assert waited_before_write == [True, True, True]
    assert copied[0].ingested == plain[0].ingested == 10 and copied[1] == plain[1]
    np.testing.assert_allclose(copied[2], plain[2], atol=1e-6)
    assert copied[3] == plain[3]


def test_torchvision_jpeg_batches_on_the_cpu_fall_back_per_image(tmp_path: Path, tiny_model_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    """torchvision's own decode_jpeg, on the CPU, through the batching and per-image fallback.

    Plain JPEGs go to it in batches; CMYK and EXIF-rotated files are left to PIL by the probe; a
    progressive JPEG and a truncated one go to it, and whatever it refuses is decoded by PIL or
    rejected with PIL's reason: the results match a run that used PIL for everything.
    """
    pytest.importorskip("torchvision.io")
    from embedscope.ingest import accel
    from tests.ingest.badimages import make_bad_folder

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        (folder / f"p{i}.jpg").write_bytes(_photo(i))
    (folder / "progressive.jpg").write_bytes(_photo(7, progressive=True))
    (folder / "truncated.jpg").write_bytes(_photo(9)[:3000])
    make_bad_folder(tmp_path / "odd")
    for name in ("cmyk.jpg", "exif_rotated.jpg"):
        (folder / name).write_bytes((tmp_path / "odd/good" / name).read_bytes())
    pil = _ingest(folder, tiny_model_dir)
    real, calls = accel.decode_jpegs, []

    def counted(encoded: list[bytes], mode: str, size: int | None, device: str) -> list[Any]:
        calls.append(len(encoded))
        return real(encoded, mode, size, device)  # torchvision.io.decode_jpeg, device "cpu"

    monkeypatch.setattr(accel, "gpu_jpeg_available", lambda device: True)
    monkeypatch.setattr(accel, "decode_jpegs", counted)
    tv = _ingest(folder, tiny_model_dir)
    assert sum(calls) >= 6
    assert tv[0].ingested == pil[0].ingested
    assert sorted(r.reason for r in tv[0].rejected) == sorted(r.reason for r in pil[0].rejected)
    assert tv[1] == pil[1] and tv[3] == pil[3]
    assert ((tv[2] * pil[2]).sum(axis=1) > 0.99).all()
