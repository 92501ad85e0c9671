"""Search by words and linked spaces: text queries, --via another space, the errors, `collections`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedscope.cli import main
from embedscope.errors import UsageError
from embedscope.ingest.config import IngestSettings
from embedscope.ingest.models import load_embedder
from embedscope.ingest.pipeline import run_ingest
from embedscope.search.text import search_text
from embedscope.settings import QdrantSettings
from embedscope.store import Where

PIXELS, SIGLIP = "fashion_mnist_sample__pixels", "fashion_mnist_sample__siglip"
PHRASE = "an ankle boot with laces."


def ingest_spaces(sample_dir: Path, model_dir: Path, store=None, qdrant=None) -> None:
    """60 points embedded by the tiny SigLIP (text) and the first 50 of them as raw pixels."""
    run_ingest(IngestSettings(dataset=str(sample_dir), model=str(model_dir), collection=SIGLIP,
                              limit=30, progress=False, device="cpu"), qdrant, store)
    run_ingest(IngestSettings(dataset=str(sample_dir), model="pixels", limit=25, progress=False),
               qdrant, store)


@pytest.fixture
def spaces(store, sample_dir: Path, tiny_siglip_dir: Path):
    ingest_spaces(sample_dir, tiny_siglip_dir, store=store)
    return store


def test_text_hits_are_the_nearest_stored_vectors_to_the_phrase(spaces, tiny_siglip_dir: Path):
    assert spaces.get_meta(SIGLIP).text and not spaces.get_meta(PIXELS).text
    shown = search_text(spaces, SIGLIP, PHRASE, k=10, exact=True, device="cpu")
    ids, vectors, _ = spaces.fetch_all(SIGLIP)
    phrase = load_embedder(str(tiny_siglip_dir), device="cpu").embed_texts([PHRASE])[0]
    cos = vectors @ phrase
    order = np.argsort(-cos, kind="stable")[:10]
    assert [h.id for h in shown.hits] == [ids[i] for i in order] and not shown.missing
    np.testing.assert_allclose([h.score for h in shown.hits], cos[order], atol=1e-4)


def test_via_returns_exactly_the_ids_of_a_direct_text_query(spaces):
    spaces.set_payloads(PIXELS, {r.id: {"source": "pixels-space"} for r in spaces.scroll(PIXELS)})
    direct = search_text(spaces, SIGLIP, PHRASE, k=40, exact=True, device="cpu")
    via = search_text(spaces, PIXELS, PHRASE, k=40, exact=True, via=SIGLIP, device="cpu")
    assert via.space == SIGLIP and via.target == PIXELS
    shown = {h.id for h in via.hits}
    assert [h.id for h in via.hits] == [h.id for h in direct.hits if h.id in shown]  # same order
    assert shown | set(via.missing) == {h.id for h in direct.hits}
    assert via.missing  # 10 of the 60 text-space points are not in the pixels collection
    assert spaces.retrieve(PIXELS, via.missing) == []
    assert all(h.payload["source"] == "pixels-space" for h in via.hits)  # the target's payloads
    np.testing.assert_allclose([h.score for h in via.hits],
                               [h.score for h in direct.hits if h.id in shown], atol=1e-5)
    # a filter applies in the text space, as for a direct query
    direct = search_text(spaces, SIGLIP, PHRASE, k=5, exact=True, where=Where(split="test"),
                         device="cpu")
    via = search_text(spaces, PIXELS, PHRASE, k=5, exact=True, where=Where(split="test"),
                      via=SIGLIP, device="cpu")
    assert {h.id for h in direct.hits} == {h.id for h in via.hits} | set(via.missing)


def test_collections_of_one_dataset_are_grouped_with_their_shared_points(spaces):
    from embedscope.search.spaces import linked, text_spaces
    from embedscope.store.linked import dataset_groups

    groups = dataset_groups(spaces)
    assert [(g.dataset, g.collections) for g in groups] == [("fashion_mnist_sample", [PIXELS, SIGLIP])]
    assert groups[0].shared == {(PIXELS, SIGLIP): 50}
    assert linked(spaces, PIXELS) == [SIGLIP] and text_spaces(spaces, PIXELS) == [SIGLIP]
    assert text_spaces(spaces, SIGLIP) == [SIGLIP]


def test_a_space_without_text_names_the_same_dataset_collections_that_can(spaces):
    with pytest.raises(UsageError, match=f"{PIXELS}.*cannot embed text.*{SIGLIP}.*--via {SIGLIP}"):
        search_text(spaces, PIXELS, PHRASE, device="cpu")


def test_ingesting_again_records_text_in_a_collection_made_before_it_was_recorded(
        spaces, sample_dir: Path, tiny_siglip_dir: Path):
    spaces.update_meta(SIGLIP, text=False)  # as a collection ingested before issue 20 reads
    with pytest.raises(UsageError, match="cannot embed text"):
        search_text(spaces, SIGLIP, PHRASE, device="cpu")
    summary = run_ingest(IngestSettings(dataset=str(sample_dir), model=str(tiny_siglip_dir),
                                        collection=SIGLIP, limit=30, progress=False, device="cpu"),
                         store=spaces)
    assert summary.skipped == 60 and spaces.get_meta(SIGLIP).text
    assert len(search_text(spaces, SIGLIP, PHRASE, k=3, device="cpu").hits) == 3


def test_via_a_collection_of_another_dataset_is_refused(spaces, sample_dir: Path):
    run_ingest(IngestSettings(dataset=str(sample_dir / "test.parquet"), model="pixels",
                              collection="other__pixels", limit=5, progress=False), store=spaces)
    spaces.update_meta("other__pixels", dataset="elsewhere")
    with pytest.raises(UsageError, match="only collections of one dataset share point ids"):
        search_text(spaces, "other__pixels", PHRASE, via=SIGLIP, device="cpu")


@pytest.fixture
def cli_spaces(data_env: Path, sample_dir: Path, tiny_siglip_dir: Path) -> Path:
    ingest_spaces(sample_dir, tiny_siglip_dir, qdrant=QdrantSettings())
    return data_env


def test_search_and_classify_by_text_from_the_command_line(cli_spaces, capsys):
    assert main(["search", "--collection", PIXELS, "--text", PHRASE, "-k", "5"]) == 2
    err = capsys.readouterr().err
    assert "cannot embed text" in err and SIGLIP in err and "Traceback" not in err

    assert main(["search", "--collection", PIXELS, "--text", PHRASE, "--via", SIGLIP, "-k", "60",
                 "--exact", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["space"] == SIGLIP and out["target"] == PIXELS
    assert len(out["hits"]) == 50 and len(out["missing"]) == 10

    assert main(["search", "--collection", PIXELS, "--text", PHRASE, "--via", SIGLIP, "-k", "60",
                 "--exact"]) == 0
    out = capsys.readouterr().out
    assert f"found in {SIGLIP}, shown in {PIXELS}" in out
    assert f"10 of the hits of {SIGLIP} are not in {PIXELS}" in out

    assert main(["search", "--collection", SIGLIP, "--text", PHRASE, "-k", "5", "--text-int8",
                 "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 5

    assert main(["classify", "--collection", SIGLIP, "--text", PHRASE, "-k", "5", "--json"]) == 0
    vote = json.loads(capsys.readouterr().out)
    assert len(vote["neighbours"]) == 5 and vote["label_name"]

    assert main(["search", "--collection", SIGLIP, "--text", PHRASE, "--image", "x.png"]) == 2
    assert "exactly one query" in capsys.readouterr().err


def test_collections_are_grouped_by_dataset_with_their_shared_points(cli_spaces, capsys):
    assert main(["collections"]) == 0
    out = capsys.readouterr().out
    assert "dataset fashion_mnist_sample" in out
    assert f"{PIXELS} and {SIGLIP} share 50 points" in out
    line = next(x for x in out.splitlines() if x.startswith(SIGLIP))
    assert " yes " in line
    assert main(["collections", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[SIGLIP]["text"] is True and rows[PIXELS]["text"] is False
    assert rows[PIXELS]["shared"] == {SIGLIP: 50} and rows[PIXELS]["dataset_key"] == "fashion_mnist_sample"
