"""`embedscope collections | search | classify | evaluate`, in-process, on embedded Qdrant."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from embedscope.cli import main
from embedscope.contract import CollectionMeta, collection_name, row_point_id

NAMES = ["zero", "one", "two"]
ANGLES = [0, 15, 25, 45, 100, 180]
LABELS = [0, 0, 1, 1, 2, 2]


def _unit(deg: float) -> np.ndarray:
    return np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg)), 0.0], np.float32)


def _ids() -> list[str]:
    return [row_point_id("toy", "all", i) for i in range(len(ANGLES))]


@pytest.fixture
def toy(data_env: Path) -> list[str]:
    """`toy__fake` (six labelled points on a circle), `raw__fake` (unlabelled), `empty__fake`."""
    from embedscope.store.edge import EdgeStore

    with EdgeStore(data_env / "qdrant") as store:
        store.ensure_collection("toy__fake", CollectionMeta(model="fake", dimension=3,
                                                            dataset="toy", labels=NAMES))
        store.upsert("toy__fake", _ids(), np.stack([_unit(a) for a in ANGLES]), [
            {"split": "train" if i % 2 == 0 else "test", "index": i, "label": lab,
             "label_name": NAMES[lab], "dataset": "toy"} for i, lab in enumerate(LABELS)])
        store.ensure_collection("raw__fake", CollectionMeta(model="fake", dimension=3))
        store.upsert("raw__fake", [row_point_id("raw", "s", 0), row_point_id("raw", "s", 1)],
                     np.stack([_unit(0), _unit(90)]), [{"split": "s"}, {"split": "s"}])
        store.ensure_collection("empty__fake", CollectionMeta(model="fake", dimension=3))
    return _ids()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_collections_table_and_json(toy, capsys):
    code, out, _ = _run(capsys, "collections")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("toy__fake"))
    assert line.split()[:4] == ["toy__fake", "6", "fake", "3"] and "zero, one, two" in line
    code, out, _ = _run(capsys, "collections", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"empty__fake", "raw__fake", "toy__fake"}
    assert {k: rows["toy__fake"][k] for k in ("points", "model", "dimension", "labels")} == {
        "points": 6, "model": "fake", "dimension": 3, "labels": NAMES}


def test_search_by_id_table_json_and_filters(toy, capsys):
    code, out, _ = _run(capsys, "search", "--collection", "toy__fake", "--id", toy[1], "-k", "3",
                        "--json")
    hits = json.loads(out)
    assert code == 0 and [h["id"] for h in hits] == [toy[2], toy[0], toy[3]]
    assert hits[0]["score"] == pytest.approx(math.cos(math.radians(10)), abs=1e-5)
    assert hits[0]["label_name"] == "one" and "thumbnail" not in hits[0]
    code, out, _ = _run(capsys, "search", "--collection", "toy__fake", "--id", toy[1], "-k", "2",
                        "--split", "train")
    rows = out.splitlines()[2:]
    assert code == 0 and len(rows) == 2
    assert rows[0].split()[:4] == ["1", f"{math.cos(math.radians(10)):.4f}", "one", "train"]
    assert toy[0] in rows[1] and "zero" in rows[1]


def test_search_k_too_large_returns_what_matches_and_says_so(toy, capsys):
    code, out, err = _run(capsys, "search", "--collection", "toy__fake", "--id", toy[1], "-k",
                          "3", "--label", "zero", "--json")
    assert code == 0 and len(json.loads(out)) == 1
    assert err.startswith("only 1 of the k=3 neighbours asked for") and "label=0" in err


def test_classify_by_id(toy, capsys):
    code, out, _ = _run(capsys, "classify", "--collection", "toy__fake", "--id", toy[3], "-k",
                        "2", "--split", "train", "--json")
    result = json.loads(out)
    assert code == 0 and (result["label"], result["label_name"]) == (0, "zero")  # tie → 0
    assert (result["weighted_label"], result["weighted_label_name"]) == (1, "one")
    assert [n["id"] for n in result["neighbours"]] == [toy[2], toy[0]]
    code, out, _ = _run(capsys, "classify", "--collection", "toy__fake", "--id", toy[3], "-k", "2",
                        "--split", "train")
    assert code == 0 and out.startswith("predicted: zero (label 0") and "weighted:  one" in out


def test_evaluate_json_and_table(toy, capsys):
    code, out, _ = _run(capsys, "evaluate", "--collection", "toy__fake", "-k", "1,2", "--json")
    result = json.loads(out)
    # test points 15°, 45°, 180° (true 0, 1, 2) against train 0°, 25°, 100°: 1-NN says 1, 1, 2
    assert code == 0 and result["mode"] == "split"
    assert result["accuracy"]["1"] == pytest.approx(2 / 3)
    assert (result["n_query"], result["n_reference"]) == (3, 3)
    assert result["by_k"]["1"]["confusion_matrix"] == [[0, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert result["by_k"]["1"]["per_class"][1]["precision"] == 0.5
    code, out, _ = _run(capsys, "evaluate", "--collection", "toy__fake", "-k", "1",
                        "--query-split", "train")
    assert code == 0 and "leave-one-out on train" in out and "confusion matrix at k=1" in out


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["search", "--collection", "nope", "--id", "x"], 3, "no collection named 'nope'"),
    (["evaluate", "--collection", "nope"], 3, "Existing collections: empty__fake, raw__fake"),
    (["classify", "--collection", "raw__fake", "--id", row_point_id("raw", "s", 0)], 3,
     "'raw__fake' has no labelled points"),
    (["evaluate", "--collection", "raw__fake"], 3, "none has a label"),
    (["evaluate", "--collection", "empty__fake"], 3, "'empty__fake' is empty"),
    (["search", "--collection", "empty__fake", "--id", row_point_id("raw", "s", 0)], 2,
     "no point with id"),
    (["evaluate", "--collection", "toy__fake", "-k", "1,4"], 2,
     "k=4 is larger than the 3 reference points"),
    (["evaluate", "--collection", "toy__fake", "-k", "a,b"], 2, "positive integers"),
    (["evaluate", "--collection", "toy__fake", "--query-split", "val"], 2,
     "split 'val' has no labelled points"),
    (["search", "--collection", "toy__fake", "--image", "/no/such.png"], 2,
     "query image '/no/such.png' is not a file"),
])
def test_errors_are_one_line_with_exit_codes(toy, capsys, argv, code, message):
    got, out, err = _run(capsys, *argv)
    assert (got, out) == (code, "")
    assert err.startswith("error: ") and message in err and "Traceback" not in err


# --- query images, embedded by the lead's ingest (the collection's own model) -------------------

def _sample_png(sample_dir: Path, row: int) -> tuple[bytes, int]:
    import pyarrow.parquet as pq

    rec = pq.read_table(sample_dir / "test.parquet").slice(row, 1).to_pylist()[0]
    return rec["image"]["bytes"], rec["label"]


@pytest.fixture(scope="module")
def pixels_data(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole shared sample ingested with `embedscope ingest --model pixels`."""
    data = tmp_path_factory.mktemp("pixels")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDSCOPE_DATA_DIR", str(data))
        mp.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
        code = main(["ingest", "--dataset", str(sample_dir), "--model", "pixels",
                     "--no-progress"])
    assert code == 0
    return data


COLLECTION = "fashion_mnist_sample__pixels"


def test_cli_evaluate_on_ingested_pixels_is_0_784(pixels_data, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(pixels_data))
    code, out, _ = _run(capsys, "evaluate", "--collection", COLLECTION, "-k", "1,5", "--json")
    result = json.loads(out)
    assert code == 0 and (result["n_query"], result["n_reference"]) == (615, 3000)
    assert round(result["by_k"]["5"]["accuracy"], 3) == 0.784
    assert round(result["by_k"]["1"]["accuracy"], 3) == 0.782


def test_query_image_of_any_mode_and_size_finds_itself(pixels_data, sample_dir, monkeypatch,
                                                        capsys, tmp_path):
    from PIL import Image

    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(pixels_data))
    png, label = _sample_png(sample_dir, 0)
    exact = tmp_path / "q.png"
    exact.write_bytes(png)
    rgb = tmp_path / "q.jpg"
    Image.open(io.BytesIO(png)).convert("RGB").resize((100, 100)).save(rgb, quality=95)
    me = row_point_id("fashion_mnist_sample", "test", 0)
    for path, floor in ((exact, 0.9999), (rgb, 0.98)):
        code, out, _ = _run(capsys, "search", "--collection", COLLECTION, "--image", str(path),
                            "-k", "3", "--json")
        hits = json.loads(out)
        assert code == 0 and hits[0]["index"] == 0 and hits[0]["split"] == "test"
        assert hits[0]["score"] >= floor and hits[0]["score"] <= 1.0001
    code, out, _ = _run(capsys, "search", "--collection", COLLECTION, "--id", me, "-k", "3",
                        "--json")
    assert code == 0 and me not in [h["id"] for h in json.loads(out)]
    code, out, _ = _run(capsys, "classify", "--collection", COLLECTION, "--image", str(rgb),
                        "-k", "5", "--split", "train", "--json")
    result = json.loads(out)
    assert code == 0 and result["label"] == label and sum(result["counts"].values()) == 5
    assert all(n["split"] == "train" for n in result["neighbours"])


def test_bad_query_image_is_a_clear_error(pixels_data, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(pixels_data))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, out, err = _run(capsys, "classify", "--collection", COLLECTION, "--image", str(bad))
    assert (code, out) == (2, "") and "Traceback" not in err
    assert err.startswith(f"error: query image {str(bad)!r} cannot be used: ")


def test_query_image_through_a_dinov2_model(tiny_model_dir, sample_dir, data_env, capsys,
                                            tmp_path):
    code = main(["ingest", "--dataset", str(sample_dir), "--model", str(tiny_model_dir),
                 "--limit", "20", "--device", "cpu", "--no-progress"])
    capsys.readouterr()
    assert code == 0
    collection = collection_name(str(sample_dir), str(tiny_model_dir))
    png, _ = _sample_png(sample_dir, 3)
    query = tmp_path / "q.png"
    query.write_bytes(png)
    code, out, err = _run(capsys, "search", "--collection", collection, "--image", str(query),
                          "-k", "2", "--json")
    hits = json.loads(out)
    assert code == 0, err
    assert (hits[0]["split"], hits[0]["index"]) == ("test", 3)
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-3)
