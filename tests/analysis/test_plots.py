"""The report's map panels drawn as images above RASTER_POINTS points."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedscope.analysis import plots


def test_a_raster_panel_puts_each_point_in_its_pixel_with_its_colour_and_density() -> None:
    Y = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    rgba = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], [1, 1, 0, 1]],
                    dtype=float)
    image = plots.raster_image(Y, rgba, pixels=4)
    assert image.shape == (4, 4, 4)
    np.testing.assert_allclose(image[3, 0, :3], [1, 0, 0])  # (0, 0): bottom left
    np.testing.assert_allclose(image[0, 3, :3], [0, 0, 1])  # (1, 1): top right, the last drawn
    np.testing.assert_allclose(image[0, 0, :3], [1, 1, 0])  # (0, 1): top left
    assert image[0, 3, 3] == 1.0 and image[3, 0, 3] < image[0, 3, 3]  # three points vs one
    assert (image[1:3, :, 3] == 0).all()  # nothing there: transparent


def test_colours_are_one_per_value_and_noise_is_grey() -> None:
    rgba, legend = plots._colors(np.array([5, -1, 7, 5]))
    assert [v for v, _ in legend] == [5, 7]
    np.testing.assert_allclose(rgba[0], rgba[3])
    np.testing.assert_allclose(rgba[1], (0.8, 0.8, 0.8, 0.5))
    assert not np.allclose(rgba[0], rgba[2])


def test_a_large_map_is_drawn_as_an_image_with_its_clusters_apart(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    n = plots.RASTER_POINTS + 2000
    Y = np.vstack([rng.normal(size=(n // 2, 2)), rng.normal(size=(n - n // 2, 2)) + 8])
    labels = np.repeat([0, 1], [n // 2, n - n // 2])
    path = plots.map_panels(Y, {"label": (labels, ["a", "b"])}, "umap", tmp_path / "m.png")
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    h, w, _ = pixels.shape
    r, b = pixels[..., 0], pixels[..., 2]
    bluish, orangish = b > r + 40, r > b + 40  # tab10's first two, whatever the opacity
    lower_left, upper_right = (slice(h // 2, None), slice(None, w // 2)), \
        (slice(None, h // 2), slice(w // 2, None))
    assert bluish[lower_left].sum() > 2000 and orangish[lower_left].sum() < 20
    # the legend's markers (upper right) are the only other colour there
    assert orangish[upper_right].sum() > 2000 and bluish[upper_right].sum() < 100
