"""The fast paths keep the old results: own thumbnails, reduced JPEG decoding, workers, compile, GPU decode."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedscope.ingest import accel
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.decode import Decoded, decode
from embedscope.ingest.models import load_embedder
from embedscope.ingest.pipeline import run_ingest
from embedscope.ingest.reader import DecodeOptions, Encoded, batches, probe_jpeg, start_method
from embedscope.ingest.sources import open_source
from embedscope.store.remote import RemoteStore
from tests.ingest.badimages import make_bad_folder


def _thumb(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def _photo(w: int = 500, h: int = 375, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(h // 25 + 1, w // 25 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_a_small_png_is_its_own_thumbnail(sample_dir: Path):
    raw = next(open_source(str(sample_dir / "test.parquet")).read("test"))[0].data
    assert raw is not None
    dec = decode(raw, "L", 28, thumbnail_size=64)
    assert base64.b64decode(dec.thumbnail) == raw  # stored as it is: no decode, no re-encode
    thumb = _thumb(dec.thumbnail)
    assert thumb.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(thumb.convert("L")), dec.pixels)


def test_larger_images_get_one_small_encoded_thumbnail(tmp_path: Path):
    dec = decode(_photo(), "RGB", 224, thumbnail_size=64)
    thumb = _thumb(dec.thumbnail)
    assert thumb.format == "JPEG" and max(thumb.size) == 64 and thumb.size == (64, 48)
    Image.new("L", (200, 100), 90).save(tmp_path / "gray.png")
    thumb = _thumb(decode(tmp_path / "gray.png", "L", 56, thumbnail_size=32).thumbnail)
    assert thumb.format == "PNG" and thumb.size == (32, 16)
    # a small image that is not a PNG/JPEG (GIF) is re-encoded once as PNG, at its size
    Image.new("RGB", (20, 10), (1, 2, 3)).convert("P").save(tmp_path / "tiny.gif")
    thumb = _thumb(decode(tmp_path / "tiny.gif", "RGB", 56).thumbnail)
    assert thumb.format == "PNG" and thumb.size == (20, 10)


def test_rotated_small_jpeg_is_not_its_own_thumbnail(tmp_path: Path):
    make_bad_folder(tmp_path)
    dec = decode(tmp_path / "good/exif_rotated.jpg", "RGB", None)
    assert (dec.width, dec.height) == (20, 40) and _thumb(dec.thumbnail).size == (20, 40)


def test_large_jpeg_reduced_decode_keeps_size_and_pixels_close():
    raw = _photo(2000, 1500)
    dec = decode(raw, "RGB", 224)
    assert dec.pixels.shape == (224, 224, 3) and (dec.width, dec.height) == (2000, 1500)
    full = Image.open(io.BytesIO(raw)).convert("RGB")  # the old way: full decode, then shrink
    full = full.resize((299, 224), Image.Resampling.BICUBIC, reducing_gap=3.0).crop((37, 0, 261, 224))
    diff = np.abs(dec.pixels.astype(int) - np.asarray(full, dtype=int))
    assert diff.mean() < 3.0


def test_probe_leaves_only_plain_jpegs_for_the_gpu(tmp_path: Path):
    opts = DecodeOptions(mode="RGB", size=224, gpu_jpeg=True)
    enc = probe_jpeg(_photo(), opts)
    assert isinstance(enc, Encoded) and (enc.width, enc.height) == (500, 375)
    assert max(_thumb(enc.thumbnail).size) == 64
    make_bad_folder(tmp_path)
    for name in ("good/cmyk.jpg", "good/exif_rotated.jpg", "bad/garbage.jpg", "bad/empty.jpg"):
        assert probe_jpeg((tmp_path / name).read_bytes(), opts) is None, name
    buf = io.BytesIO()
    Image.open(io.BytesIO(_photo())).save(buf, format="JPEG", progressive=True)
    assert probe_jpeg(buf.getvalue(), opts) is None


def test_workers_never_fork_and_give_the_same_results(sample_dir: Path):
    assert start_method() in ("forkserver", "spawn")
    items = next(open_source(str(sample_dir / "test.parquet")).read("test"))[:40]
    groups = [items[k:k + 16] for k in range(0, 40, 16)]
    opts = DecodeOptions(mode="L", size=28)
    here = [(it, r) for g, res in batches(groups, opts, 0) for it, r in zip(g, res)]
    pooled = [(it, r) for g, res in batches(groups, opts, 2) for it, r in zip(g, res)]
    assert [it.index for it, _ in pooled] == list(range(40))
    for (_, a), (_, b) in zip(here, pooled):
        assert isinstance(a, Decoded) and isinstance(b, Decoded)
        np.testing.assert_array_equal(a.pixels, b.pixels)


def test_compile_auto_only_for_large_cuda_runs():
    assert not accel.want_compile("auto", "cpu", 10**7)
    assert not accel.want_compile("auto", "cuda", 1000)
    assert accel.want_compile("auto", "cuda", accel.COMPILE_MIN_IMAGES)
    assert accel.want_compile("on", "cpu", 1) and not accel.want_compile("off", "cuda", 10**7)
    with pytest.raises(Exception, match="auto, on, off"):
        accel.want_compile("yes", "cpu", 1)


def test_compiled_model_pads_batches_to_one_shape(tiny_model_dir: Path):
    images = list(np.random.default_rng(0).integers(0, 255, size=(5, 28, 28, 3), dtype=np.uint8))
    eager = load_embedder(str(tiny_model_dir), image_size=56, device="cpu")
    compiled = load_embedder(str(tiny_model_dir), image_size=56, device="cpu")
    assert compiled.compile(backend="eager", batch_size=8)  # the wiring; inductor is a GPU test
    np.testing.assert_allclose(compiled.embed_batch(images), eager.embed_batch(images), atol=1e-5)


def _pil_decoder(data, mode, device):
    """A stand-in for torchvision's batched decode_jpeg: PIL, C×H×W tensors; fails on non-JPEG bytes."""
    import torch

    def one(t):
        raw = bytes(t.numpy())
        if raw[:2] != b"\xff\xd8":
            raise RuntimeError("not a JPEG")
        img = Image.open(io.BytesIO(raw)).convert("RGB" if mode == "RGB" else "L")
        arr = np.asarray(img)
        return torch.from_numpy(arr.copy()).permute(2, 0, 1) if arr.ndim == 3 else torch.from_numpy(arr.copy())[None]

    return [one(t) for t in data] if isinstance(data, list) else one(data)


def test_batched_device_decode_squares_like_pil_and_falls_back_per_image():
    photo = _photo()
    out = accel.decode_jpegs([photo, b"garbage!", photo], "RGB", 112, "cpu", decoder=_pil_decoder)
    assert out[1] is None  # the batch failed on it; the others were decoded one by one
    assert tuple(out[0].shape) == (112, 112, 3)
    cpu = decode(photo, "RGB", 112).pixels
    assert np.abs(out[0].numpy().astype(int) - cpu.astype(int)).mean() < 4.0


def test_pipeline_gpu_jpeg_path_with_a_stand_in_decoder(tmp_path: Path, tiny_model_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        (folder / f"p{i}.jpg").write_bytes(_photo(seed=i))
    make_bad_folder(tmp_path / "odd")
    for name in ("cmyk.jpg", "exif_rotated.jpg"):
        (folder / name).write_bytes((tmp_path / "odd/good" / name).read_bytes())
    (folder / "truncated.jpg").write_bytes(_photo(seed=9)[:3000])
    settings = IngestSettings(dataset=str(folder), model=str(tiny_model_dir), image_size=56, device="cpu",
                              progress=False, collection="t", num_workers=0)
    cpu_store = RemoteStore(":memory:")
    cpu = run_ingest(settings, store=cpu_store)
    real, calls = accel.decode_jpegs, []

    def stand_in(enc, mode, size, device):
        calls.append(len(enc))
        return real(enc, mode, size, device, decoder=_pil_decoder)

    monkeypatch.setattr(accel, "gpu_jpeg_available", lambda device: True)
    monkeypatch.setattr(accel, "decode_jpegs", stand_in)
    gpu_store = RemoteStore(":memory:")
    gpu = run_ingest(settings, store=gpu_store)
    assert sum(calls) == 6  # the six plain JPEGs; the probe sent cmyk, rotated and truncated to PIL
    assert gpu.ingested == cpu.ingested and sorted(r.reason for r in gpu.rejected) == sorted(
        r.reason for r in cpu.rejected)
    a_ids, a, a_pay = cpu_store.fetch_all("t", payload_fields=("width", "height", "source"))
    b_ids, b, b_pay = gpu_store.fetch_all("t", payload_fields=("width", "height", "source"))
    order = np.argsort(b_ids)
    assert sorted(a_ids) == [b_ids[i] for i in order]
    a_sorted = a[np.argsort(a_ids)]
    assert ((a_sorted * b[order]).sum(axis=1) > 0.99).all()
    assert sorted(map(str, a_pay), key=str) == sorted(map(str, b_pay), key=str)
