"""Zero-shot classification: figures equal numpy on the stored vectors; the k-NN shape; the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedscope.cli import main
from embedscope.errors import UsageError
from embedscope.ingest.models import load_embedder
from embedscope.search.zeroshot import zero_shot
from embedscope.settings import QdrantSettings
from embedscope.store import Where
from tests.search.test_text_search import PIXELS, SIGLIP, ingest_spaces

PROMPTS = ["a photo of a {}.", "a blurry photo of a {}.", "a sketch of the {}."]


@pytest.fixture
def spaces(store, sample_dir: Path, tiny_siglip_dir: Path):
    ingest_spaces(sample_dir, tiny_siglip_dir, store=store)
    return store


def test_zero_shot_figures_equal_numpy_on_the_stored_vectors(spaces, tiny_siglip_dir: Path):
    from sklearn.metrics import f1_score

    zs = zero_shot(spaces, SIGLIP, PROMPTS, device="cpu")
    _, X, payloads = spaces.fetch_all(SIGLIP, Where(split="test", has_label=True))
    y = np.array([p["label"] for p in payloads])
    names = spaces.get_meta(SIGLIP).labels
    embedder = load_embedder(str(tiny_siglip_dir), device="cpu")
    T = np.stack([embedder.embed_texts([p.format(n) for p in PROMPTS]) for n in names])
    W = T.mean(axis=1)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    pred = np.argmax(X @ W.T, axis=1)
    classes = np.unique(np.concatenate([y, pred]))
    assert zs.query_split == "test" and zs.n_query == len(y) == 30 and zs.space == SIGLIP
    assert zs.accuracy == pytest.approx(float(np.mean(pred == y)))
    assert zs.macro_f1 == pytest.approx(f1_score(y, pred, labels=classes, average="macro", zero_division=0))
    cm = np.zeros((len(classes), len(classes)), int)
    for t, p in zip(y, pred, strict=True):
        cm[np.searchsorted(classes, t), np.searchsorted(classes, p)] += 1
    assert zs.confusion == cm.tolist() and zs.classes == classes.tolist()
    assert [c["support"] for c in zs.per_class] == cm.sum(1).tolist()
    # the same JSON fields as one k of the k-NN evaluation
    out = zs.to_json()
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "classes", "query_split"):
        assert key in out
    assert set(out["per_class"][0]) == {"precision", "recall", "f1", "support", "label", "name"}


def test_zero_shot_through_a_linked_space_and_bad_prompts(spaces):
    via = zero_shot(spaces, PIXELS, PROMPTS[:1], via=SIGLIP, device="cpu")
    direct = zero_shot(spaces, SIGLIP, PROMPTS[:1], device="cpu")
    assert via.accuracy == direct.accuracy and via.collection == PIXELS and via.space == SIGLIP
    with pytest.raises(UsageError, match=f"cannot embed text.*{SIGLIP}"):
        zero_shot(spaces, PIXELS, device="cpu")
    with pytest.raises(UsageError, match="exactly one"):
        zero_shot(spaces, SIGLIP, ["a photo"], device="cpu")


def test_evaluate_prints_zero_shot_beside_knn(data_env: Path, sample_dir: Path, tiny_siglip_dir: Path,
                                              capsys):
    ingest_spaces(sample_dir, tiny_siglip_dir, qdrant=QdrantSettings())
    argv = ["evaluate", "--collection", SIGLIP, "-k", "1,5", "--zero-shot", "--no-progress",
            "--prompt", PROMPTS[0], "--prompt", PROMPTS[1]]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["by_k"]) == {"1", "5"} and out["zero_shot"]["prompts"] == PROMPTS[:2]
    assert set(out["by_k"]["1"]) - {"k", "weighted_vote"} <= set(out["zero_shot"])
    assert main(argv) == 0
    text = capsys.readouterr().out
    row = next(x for x in text.splitlines() if x.startswith("zero-shot "))
    assert f"{out['zero_shot']['accuracy']:.4f}" in row
    assert main(["evaluate", "--collection", PIXELS, "--zero-shot"]) == 2
    assert SIGLIP in capsys.readouterr().err
    assert main(["evaluate", "--collection", PIXELS, "--zero-shot", "--via", SIGLIP, "--no-knn"]) == 0
    assert "zero-shot (text space" in capsys.readouterr().out
