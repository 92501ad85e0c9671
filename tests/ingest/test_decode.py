"""Every awkward input is either decoded correctly or rejected with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedscope.ingest.decode import decode
from embedscope.ingest.errors import BadImageError
from tests.ingest.badimages import EXPECTED, make_bad_folder


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bad_folder(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_case_decodes_or_is_rejected_with_reason(bad_folder: Path, name: str):
    expected = EXPECTED[name]
    if expected == "ok":
        dec = decode(bad_folder / name, "RGB", 224)
        assert dec.pixels.dtype == np.uint8 and dec.pixels.ndim == 3 and dec.pixels.shape[2] == 3
        assert dec.pixels.shape[0] == dec.pixels.shape[1]  # square
        assert dec.thumbnail
    else:
        with pytest.raises(BadImageError, match=expected):
            decode(bad_folder / name, "RGB", 224)


def test_exif_rotation_is_applied(bad_folder: Path):
    dec = decode(bad_folder / "good/exif_rotated.jpg", "RGB", None)
    assert (dec.width, dec.height) == (20, 40)


def test_rgba_is_composited_on_white(tmp_path: Path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    dec = decode(tmp_path / "clear.png", "RGB", None)
    assert (dec.pixels == 255).all()


def test_sixteen_bit_keeps_its_range(bad_folder: Path):
    dec = decode(bad_folder / "good/sixteen_bit.png", "L", None)
    assert dec.pixels.min() == 0 and dec.pixels.max() == 255


def test_large_images_shrink_to_model_size_and_crop_square(tmp_path: Path):
    Image.new("RGB", (600, 300), (10, 20, 30)).save(tmp_path / "wide.png")
    dec = decode(tmp_path / "wide.png", "RGB", 112)
    assert dec.pixels.shape == (112, 112, 3)
    assert (dec.width, dec.height) == (600, 300)


def test_small_images_stay_native(tmp_path: Path):
    Image.new("L", (28, 28), 7).save(tmp_path / "small.png")
    assert decode(tmp_path / "small.png", "L", 224).pixels.shape == (28, 28)


def test_bytes_and_arrays_are_accepted():
    arr = np.full((10, 10, 3), 99, np.uint8)
    assert decode(arr, "RGB", None).pixels.shape == (10, 10, 3)
    with pytest.raises(BadImageError, match="empty"):
        decode(b"", "RGB", None)
