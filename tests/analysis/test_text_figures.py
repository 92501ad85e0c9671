"""Zero-shot accuracy and cluster captions in the analysis report: equal to numpy in the text space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedscope.analysis.config import AnalysisSettings
from embedscope.analysis.job import run as run_dict
from embedscope.analysis.report_model import Report
from embedscope.analysis.text_figures import NO_TEXT_NOTE
from embedscope.ingest.models import load_embedder
from embedscope.search.zeroshot import zero_shot
from embedscope.store.edge import EdgeStore
from tests.search.test_text_search import PIXELS, SIGLIP, ingest_spaces


@pytest.fixture(scope="module", params=["embedded", "memory"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sample_dir: Path,
          tiny_siglip_dir: Path):
    """The linked spaces on the embedded store and on the server backend's in-memory stand-in."""
    from embedscope.store.remote import RemoteStore

    s = (EdgeStore(tmp_path_factory.mktemp("text-figures") / "qdrant") if request.param == "embedded"
         else RemoteStore(":memory:"))
    ingest_spaces(sample_dir, tiny_siglip_dir, store=s)
    yield s
    s.close()


def run(store, settings: AnalysisSettings) -> tuple[Report, Path]:
    report, out = run_dict(store, settings)
    return Report.model_validate(report), out


def _settings(tmp_path: Path, collection: str, **kw) -> AnalysisSettings:
    return AnalysisSettings(collection=collection, out=tmp_path / "report", projections="pca",
                            clusterers="kmeans,hdbscan", clusters="4", hdbscan_min_cluster_size=5,
                            knn_ks="1,5", progress=False, seed=1, **kw)


def _phrase_vectors(model_dir: Path, phrases: list[str], templates: list[str]) -> np.ndarray:
    embedder = load_embedder(str(model_dir), device="cpu")
    T = np.stack([embedder.embed_texts([t.format(p) for t in templates]) for p in phrases])
    W = T.mean(axis=1)
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def _numpy_captions(store, collection: str, clusterer: str, P: np.ndarray, phrases: list[str]):
    ids = sorted(r.id for r in store.scroll(collection, with_payload=False))
    clusters = {r.id: r.payload[f"cluster_{clusterer}"] for r in store.retrieve(collection, ids)}
    vecs = {r.id: r.vector for r in store.retrieve(SIGLIP, ids, False, True)}
    out = []
    for c in sorted(set(clusters.values()) - {-1}):
        members = [i for i in ids if clusters[i] == c and i in vecs]
        mean = np.mean([vecs[i] for i in members], axis=0)
        cos = P @ (mean / np.linalg.norm(mean))
        best, second = np.argsort(-cos)[:2]
        out.append((c, len(members), phrases[best], cos[best], phrases[second], cos[second]))
    return out


def test_linked_text_space_gives_zero_shot_and_captions_equal_to_numpy(store, tmp_path: Path,
                                                                       tiny_siglip_dir: Path):
    report, out = run(store, _settings(tmp_path, PIXELS))
    assert "Cluster captions (kmeans" in (out / "report.html").read_text()
    assert report.zero_shot["space"] == SIGLIP
    assert report.zero_shot["accuracy"] == pytest.approx(zero_shot(store, SIGLIP, device="cpu").accuracy)
    assert any(r.figure == f"zero-shot accuracy ({SIGLIP})" for r in report.summary_rows())
    names = store.get_meta(SIGLIP).labels
    P = _phrase_vectors(tiny_siglip_dir, names, ["a photo of a {}."])
    assert report.captions["space"] == SIGLIP and set(report.captions["clusterings"]) == {"kmeans", "hdbscan"}
    for clusterer in ("kmeans", "hdbscan"):
        got = report.captions["clusterings"][clusterer]
        want = _numpy_captions(store, PIXELS, clusterer, P, names)
        assert [(g["cluster"], g["size"], g["caption"], g["runner_up"]) for g in got] == \
            [(w[0], w[1], w[2], w[4]) for w in want]
        np.testing.assert_allclose([[g["score"], g["runner_up_score"]] for g in got],
                                   [[w[3], w[5]] for w in want], atol=1e-4)
    assert not any("not in" in n for n in report.notes)  # the 50 pixels points are all in SIGLIP


def test_a_vocabulary_file_is_embedded_as_written(store, tmp_path: Path, tiny_siglip_dir: Path):
    phrases = ["an ankle boot with laces.", "a sandal with a heel.", "a bag.", "a dress."]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(phrases[:2]) + "\n\n" + "\n".join(phrases[2:]) + "\n")
    report, _ = run(store, _settings(tmp_path, SIGLIP, vocabulary=str(vocab)))
    P = _phrase_vectors(tiny_siglip_dir, phrases, ["{}"])
    got = report.captions["clusterings"]["kmeans"]
    want = _numpy_captions(store, SIGLIP, "kmeans", P, phrases)
    assert [(g["cluster"], g["caption"], g["runner_up"]) for g in got] == [(w[0], w[2], w[4]) for w in want]
    assert report.captions["vocabulary"] == str(vocab) and report.captions["templates"] == ["{}"]


def test_without_a_text_space_a_note_says_how_to_get_one(tmp_path: Path, sample_dir: Path):
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest

    with EdgeStore(tmp_path / "q") as s:
        run_ingest(IngestSettings(dataset=str(sample_dir), model="pixels", limit=25, progress=False),
                   store=s)
        report, _ = run(s, _settings(tmp_path, PIXELS))
    assert report.zero_shot == {} and report.captions == {}
    assert NO_TEXT_NOTE in report.notes and report.notes.count(NO_TEXT_NOTE) == 1
