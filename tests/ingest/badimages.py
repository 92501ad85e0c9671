"""A generated folder holding every kind of bad or awkward input the ingest must survive."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

#: file name → expected outcome: "ok" or a substring of the reject reason.
EXPECTED = {
    "good/plain.png": "ok",
    "good/rgba.png": "ok",
    "good/palette.gif": "ok",
    "good/palette_transparent.png": "ok",
    "good/sixteen_bit.png": "ok",
    "good/cmyk.jpg": "ok",
    "good/exif_rotated.jpg": "ok",
    "good/grayscale.jpg": "ok",
    "bad/truncated.png": "corrupt or truncated",
    "bad/garbage.jpg": "not an image",
    "bad/text_as_image.png": "not an image",
    "bad/empty.jpg": "empty",
    "bad/one_pixel.png": "too small",
    "bad/bomb.png": "decompression bomb",
}


def _gradient(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    return np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)


def make_bad_folder(root: Path) -> Path:
    """Write every case of EXPECTED under root/good and root/bad; return root."""
    (root / "good").mkdir(parents=True, exist_ok=True)
    (root / "bad").mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(_gradient(40, 30))
    rgb.save(root / "good/plain.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.full((30, 40), 128, np.uint8)))
    rgba.save(root / "good/rgba.png")
    rgb.convert("P", palette=Image.Palette.ADAPTIVE).save(root / "good/palette.gif")
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    pal.info["transparency"] = 0
    pal.save(root / "good/palette_transparent.png", transparency=0)
    Image.fromarray(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).save(
        root / "good/sixteen_bit.png")
    rgb.convert("CMYK").save(root / "good/cmyk.jpg")
    # 40 wide × 20 high, EXIF orientation 6: shown rotated, i.e. 20 wide × 40 high.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_gradient(40, 20)).save(root / "good/exif_rotated.jpg", exif=exif.tobytes())
    rgb.convert("L").save(root / "good/grayscale.jpg")
    buf = io.BytesIO()
    Image.fromarray(_gradient(64, 64)).save(buf, format="PNG")
    (root / "bad/truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (root / "bad/garbage.jpg").write_bytes(np.random.default_rng(0).bytes(2048))
    (root / "bad/text_as_image.png").write_text("this is not an image\n" * 20)
    (root / "bad/empty.jpg").write_bytes(b"")
    Image.new("RGB", (1, 1), (255, 0, 0)).save(root / "bad/one_pixel.png")
    Image.new("1", (12_000, 12_000)).save(root / "bad/bomb.png")  # 144 Mpx, a few KB on disk
    return root
