"""The map's arrays in the core: one scroll reads every map as the payloads say, files round-trip
for their key only, and a bad file or folder costs only the speed-up."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.contract import CollectionMeta, now_iso
from embedscope.maparrays import MapArrays, map_key, read_maps
from embedscope.mapfiles import MapFiles, write_map_files

NAME = "maps__fake"
SPLITS = ("train", "test", None)


def _payloads(n: int) -> list[dict[str, Any]]:
    """Every map field in its awkward cases: a second map on 2 of 3 points, unlabelled points,
    points without a split, a score some points lack, two tags."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p: dict[str, Any] = {"dataset": "fake", "index": i, "umap": rng.normal(size=2).tolist(),
                             "cluster_kmeans": i % 4}
        if i % 3:
            p["pca"] = rng.normal(size=2).tolist()
        if i % 7:
            p["label"] = i % 5
        if SPLITS[i % 3] is not None:
            p["split"] = SPLITS[i % 3]
        if i % 2:
            p["uniqueness"] = float(i) / n
        p["tags"] = [t for t, every in (("odd", 2), ("fives", 5)) if i % every == every - 1]
        out.append(p)
    return out


@pytest.fixture
def mapped(store: Any) -> tuple[Any, dict[str, dict[str, Any]]]:
    """A 5,000-point collection (more than one scroll page) with two stored maps, on every
    backend; returns the store and every point's payload by id."""
    n = 5000
    store.ensure_collection(NAME, CollectionMeta(model="fake", dimension=4, dataset="fake",
                                                 labels=list("abcde")))
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"maps/{i}")) for i in range(n)]
    payloads = _payloads(n)
    vectors = np.random.default_rng(1).normal(size=(n, 4)).astype(np.float32)
    store.upsert(NAME, ids, vectors, payloads)
    store.update_meta(NAME, analysis={"run_id": "r1", "created_at": now_iso(),
                                      "fields": ["umap", "pca", "cluster_kmeans", "uniqueness"]})
    return store, dict(zip(ids, payloads, strict=True))


def _expected(by_id: dict[str, dict[str, Any]], projection: str) -> dict[str, Any]:
    """A map as its definition reads: the points with its coordinates, in id order."""
    rows = sorted((uuid.UUID(i).bytes, p) for i, p in by_id.items() if projection in p)
    payloads = [p for _, p in rows]
    splits = sorted({"(no split)" if p.get("split") is None else p["split"] for p in payloads})
    return {
        "ids": np.array([b for b, _ in rows], "S16"),
        "xy": np.array([p[projection] for p in payloads], np.float32),
        "labels": np.array([p.get("label", -1) for p in payloads], np.int32),
        "split_names": splits,
        "splits": np.array([splits.index(p.get("split") or "(no split)") for p in payloads]),
        "kmeans": np.array([p["cluster_kmeans"] for p in payloads]),
        "uniqueness": np.array([p.get("uniqueness", np.nan) for p in payloads], np.float32),
        "odd": np.array(["odd" in p["tags"] for p in payloads]),
        "fives": np.array(["fives" in p["tags"] for p in payloads]),
    }


def test_one_pass_reads_every_map_as_its_payloads_say(mapped: Any) -> None:
    store, by_id = mapped
    maps = read_maps(store, NAME, ["umap", "pca", "tsne"], ["cluster_kmeans"],
                     ["uniqueness", "label_error"])
    assert sorted(maps) == ["pca", "umap"]  # no point has t-SNE coordinates
    for projection, data in maps.items():
        want = _expected(by_id, projection)
        order = np.argsort(data.ids, kind="stable")  # the backends scroll in id order or not
        assert data.n == len(want["ids"]) and data.total == 5000
        np.testing.assert_array_equal(data.ids[order], want["ids"])
        np.testing.assert_array_equal(data.xy[order], want["xy"])
        np.testing.assert_array_equal(data.labels[order], want["labels"])
        assert data.split_names == want["split_names"] and data.label_names == list("abcde")
        np.testing.assert_array_equal(data.splits[order], want["splits"])
        np.testing.assert_array_equal(data.clusters["cluster_kmeans"][order], want["kmeans"])
        assert list(data.scores) == ["uniqueness"]  # a score no point has is left out
        np.testing.assert_array_equal(data.scores["uniqueness"][order], want["uniqueness"])
        assert sorted(data.tags) == ["fives", "odd"]
        for tag in ("odd", "fives"):
            np.testing.assert_array_equal(data.tags[tag][order], want[tag])
        rows = data.rows_of([data.id_of(7), data.id_of(3), "not-an-id"])
        assert rows.tolist() == [7, 3]
    capped = read_maps(store, NAME, ["umap", "pca"], [], [], limit=100)
    assert capped["umap"].n == capped["pca"].n == 100


def test_files_round_trip_for_their_key_only(mapped: Any, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    store, _ = mapped
    written = write_map_files(store, NAME, ["umap", "pca"], ["cluster_kmeans"], ["uniqueness"],
                              tmp_path / "maps")
    assert sorted(written) == ["pca", "umap"]
    files = MapFiles(tmp_path / "maps")
    read = read_maps(store, NAME, ["umap"], ["cluster_kmeans"], ["uniqueness"])["umap"]
    key = map_key(store, NAME, "umap")
    loaded = files.load(key)
    assert loaded is not None and written["umap"] == files.path(key)
    for f in ("ids", "xy", "labels", "splits"):
        np.testing.assert_array_equal(getattr(loaded, f), getattr(read, f))
    assert loaded.split_names == read.split_names and loaded.total == read.total
    assert sorted(loaded.tags) == sorted(read.tags) and list(loaded.scores) == ["uniqueness"]
    # a new analysis run, one more point: the key changes and the old file is not used
    store.update_meta(NAME, analysis={**store.get_meta(NAME).analysis, "run_id": "r2"})
    assert files.load(map_key(store, NAME, "umap")) is None
    # a newer save of the same map replaces the older file
    files.save(read, map_key(store, NAME, "umap"))
    assert len(list((tmp_path / "maps").glob("maps__fake-umap-*.npz"))) == 1
    # an unreadable file is ignored (and said), never raised
    path = files.path(map_key(store, NAME, "umap"))
    assert path is not None
    path.write_bytes(b"not a zip")
    with caplog.at_level(logging.WARNING):
        assert files.load(map_key(store, NAME, "umap")) is None
    assert "unreadable map file" in caplog.text


def test_a_folder_that_cannot_be_written_costs_only_the_files(tmp_path: Path) -> None:
    blocker = tmp_path / "maps"
    blocker.write_text("a file where the folder should be")
    data = MapArrays("c", "umap", np.zeros(1, "S16"), np.zeros((1, 2), np.float32),
                     np.zeros(1, np.int32), [])
    assert MapFiles(blocker).save(data, ("c", "umap", 1, None, None, None)) is None
    assert MapFiles(None).save(data, ("c", "umap", 1, None, None, None)) is None


def _arrays(collection: str, n: int) -> MapArrays:
    rng = np.random.default_rng(n)
    ids = np.asarray([uuid.uuid5(uuid.NAMESPACE_URL, f"{collection}/{i}").bytes for i in range(n)],
                     "S16")
    return MapArrays(collection, "umap", ids, rng.normal(size=(n, 2)).astype(np.float32),
                     np.zeros(n, np.int32), ["a"], np.zeros(n, np.int16), ["train"], total=n)


def test_collections_whose_names_differ_only_in_dash_and_underscore_keep_their_own_files(
        tmp_path: Path) -> None:
    files = MapFiles(tmp_path)
    dash, under = _arrays("shoes-v2__dinov2_small", 10), _arrays("shoes_v2__dinov2_small", 20)
    dash_key, under_key = ("shoes-v2__dinov2_small", "umap", 10), ("shoes_v2__dinov2_small", "umap", 20)
    assert files.save(dash, dash_key) is not None
    assert files.save(under, under_key) is not None
    assert files.path(dash_key) != files.path(under_key)
    for key, n in ((dash_key, 10), (under_key, 20)):
        loaded = files.load(key)
        assert loaded is not None and loaded.n == n, f"the map file of {key[0]} was deleted"
    # a newer save of one still replaces only its own older file
    assert files.save(dash, ("shoes-v2__dinov2_small", "umap", 11)) is not None
    assert files.load(dash_key) is None and files.load(under_key) is not None


def test_concurrent_saves_of_one_map_never_fail_or_leave_temporary_files(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = MapFiles(tmp_path)
    data = _arrays("busy__fake", 100_000)
    keys = [("busy__fake", "umap", 100_000, "r1"), ("busy__fake", "umap", 100_000, "r2")]

    def save(i: int) -> Path | None:
        return files.save(data, keys[i % 2] if i % 3 else keys[0])

    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(6) as pool:
        saved = list(pool.map(save, range(24)))
    assert "could not save" not in caplog.text
    assert all(p is not None for p in saved)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert all(name.endswith(".npz") for name in left), f"temporary files left: {left}"
    assert 1 <= len(left) <= 2  # the newest save (older ones go; a tie may keep two)
    loaded = [files.load(k) for k in keys]
    assert any(x is not None and x.n == 100_000 for x in loaded)


def test_a_save_landing_while_another_drops_older_files_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from embedscope import mapfiles

    files = MapFiles(tmp_path)
    data = _arrays("busy__fake", 50)
    first, second = ("busy__fake", "umap", 50, "r1"), ("busy__fake", "umap", 50, "r2")
    files.save(data, first)
    real_age, late = mapfiles._age, threading.Thread(target=files.save, args=(data, first))

    def age(path: Path) -> tuple[int, str] | None:
        seen = real_age(path)  # the second save has just looked at the first's file …
        if path == files.path(first) and not late.is_alive() and late.ident is None:
            late.start()  # … when a newer save of the first key lands (and drops older files)
            late.join(timeout=1.0)
        return seen

    monkeypatch.setattr(mapfiles, "_age", age)
    files.save(data, second)
    late.join()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and files.load(first) is not None, left  # the newest save stays
