"""The density overview of a large map: cells, intensities, each cell's group, the file the page
reads, and the descriptor that offers it from the size the settings choose."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from embedscope.ui.map import density
from embedscope.ui.map.colours import Colouring
from embedscope.ui.map.points import MapData
from embedscope.ui.map.published import MapView, PublishedMaps, descriptor


def test_cells_put_row_zero_at_the_top_and_keep_the_edges_inside() -> None:
    xy = np.array([[-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])
    cell = density.cells(xy, grid=4)
    assert cell.tolist() == [0, 15, 12, 3, 2 * 4 + 2]


def test_intensity_grows_with_the_count_and_leaves_empty_cells_empty() -> None:
    cell = np.array([0] * 100 + [1] * 10 + [2])
    out = density.intensity(cell, grid=2)
    assert out[3] == 0
    assert out[0] == 255 and out[2] == 90
    assert out[2] < out[1] < out[0]


def test_a_cell_takes_its_most_common_group_or_its_mean_value() -> None:
    cell = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    codes = np.array([3, 1, 3, 0, 2, 2, 0, 5], dtype=np.uint16)
    cat = Colouring("label", "category", codes, [str(i) for i in range(6)])
    got = density.groups(cell, cat, grid=2)
    assert got[0] == 3  # two of three
    assert got[1] in (0, 2)  # a tie: one of the two
    assert got[2] == 5 and got[3] == density.EMPTY
    values = np.array([0.0, 0.5, 1.0, 0.2, 0.2, 0.2, 0.2, 1.0], dtype=np.float32)
    cont = Colouring("score", "continuous", values, ["low", "high"])
    got = density.groups(cell, cont, grid=2)
    assert got[0] == round(0.5 * 255) and got[1] == round(0.2 * 255) and got[2] == 255
    assert got[3] == density.EMPTY


def test_the_file_holds_the_groups_then_the_intensities() -> None:
    cell = np.array([0, 0, 3])
    cat = Colouring("label", "category", np.array([1, 1, 0], dtype=np.uint16), ["a", "b"])
    raw = density.overview(cell, cat, grid=2)
    assert len(raw) == 2 * 4 + 4
    groups = np.frombuffer(raw[:8], dtype="<u2")
    alpha = np.frombuffer(raw[8:], dtype=np.uint8)
    assert groups.tolist() == [1, density.EMPTY, density.EMPTY, 0]
    assert alpha[0] == 255 and alpha[3] == 90 and alpha[1] == alpha[2] == 0


def _map(n: int, seed: int = 0) -> MapData:
    rng = np.random.default_rng(seed)
    xy = np.concatenate([rng.normal(-3, 0.3, (n // 2, 2)), rng.normal(3, 0.3, (n - n // 2, 2))])
    labels = np.r_[np.zeros(n // 2, dtype=np.int64), np.ones(n - n // 2, dtype=np.int64)]
    ids = np.array([uuid.UUID(int=i + 1).bytes for i in range(n)], dtype="S16")
    return MapData(collection="c", projection="umap", ids=ids, xy=xy.astype(np.float32),
                   labels=labels.astype(np.int32), label_names=["left", "right"])


@pytest.mark.parametrize("n, offered", [(999, False), (1000, True)])
def test_the_descriptor_offers_the_overview_from_the_chosen_size(
    tmp_path, n: int, offered: bool,
) -> None:
    published = PublishedMaps(tmp_path, density_from=1000)
    pub = published.publish(_map(n), key=("c", n))
    desc = json.loads(descriptor(published, MapView(token=pub.token, colour_by="label")))
    entry = desc["colourings"]["label"]
    assert ("density" in desc) is offered and ("density_url" in entry) is offered
    if not offered:
        return
    grid = desc["density"]["grid"]
    assert grid == density.grid_for(n)
    assert desc["density"]["full_zoom"] > 1
    raw = (tmp_path / entry["density_url"].rsplit("/", 1)[1]).read_bytes()
    groups = np.frombuffer(raw[: 2 * grid * grid], dtype="<u2").reshape(grid, grid)
    filled = groups != density.EMPTY
    rows, cols = np.nonzero(filled)
    # the "left" blob (code 0) sits at the bottom left, the "right" one at the top right
    assert set(np.unique(groups[filled])) == {0, 1}
    assert (cols[groups[filled] == 0] < grid // 2).all() and (rows[groups[filled] == 0] > grid // 2).all()
    assert (cols[groups[filled] == 1] > grid // 2).all() and (rows[groups[filled] == 1] < grid // 2).all()


def test_no_overview_when_the_size_is_zero(tmp_path) -> None:
    published = PublishedMaps(tmp_path, density_from=0)
    pub = published.publish(_map(5000), key=("c",))
    desc = json.loads(descriptor(published, MapView(token=pub.token, colour_by="label")))
    assert "density" not in desc


def test_the_grid_grows_with_the_points_within_its_bounds() -> None:
    assert density.grid_for(10) == 64 and density.grid_for(3000) == 64
    assert density.grid_for(200_000) == 256
    assert density.grid_for(1_000_000) == density.grid_for(10_000_000) == density.GRID
    sizes = [density.grid_for(n) for n in (10, 10_000, 100_000, 300_000, 1_000_000)]
    assert sizes == sorted(sizes)


def test_counting_in_one_array_and_from_sorted_pairs_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    cell = rng.integers(0, 64, 5000)
    cat = Colouring("c", "category", rng.integers(0, 5, 5000).astype(np.uint16),
                    [str(i) for i in range(5)])
    counted = density.groups(cell, cat, grid=8)
    monkeypatch.setattr(density, "COUNTED_BINS", 0)
    sorted_pairs = density.groups(cell, cat, grid=8)
    assert np.array_equal(counted, sorted_pairs)
    assert (counted != density.EMPTY).sum() == len(np.unique(cell))
