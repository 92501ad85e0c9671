"""Model families: the registry, its discovery, and the CLIP/SigLIP image-features family against transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedscope.errors import UsageError
from embedscope.ingest import families
from embedscope.ingest.errors import ModelError, OfflineError
from embedscope.ingest.families import ModelSpec, register_family, unregister_family
from embedscope.ingest.models import Embedder, load_embedder

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=8)
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=99,
            max_position_embeddings=16)


def _write_processor(path: Path, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    (path / "preprocessor_config.json").write_text(json.dumps({"image_mean": list(mean), "image_std": list(std)}))


def _save(kind: str, path: Path) -> Path:
    """A tiny random CLIP/SigLIP checkpoint saved like a hub one (config, weights, processor config)."""
    import torch
    import transformers as tf

    torch.manual_seed(3)
    if kind == "clip-vision":
        model: Any = tf.CLIPVisionModelWithProjection(tf.CLIPVisionConfig(projection_dim=24, **TINY))
    elif kind == "siglip-vision":
        model = tf.SiglipVisionModel(tf.SiglipVisionConfig(**TINY))
    elif kind == "clip":
        model = tf.CLIPModel(tf.CLIPConfig(text_config=TEXT, vision_config=TINY, projection_dim=24))
    else:
        model = tf.SiglipModel(tf.SiglipConfig(text_config=TEXT, vision_config=TINY))
    model.eval().save_pretrained(path)
    clip = kind.startswith("clip")
    _write_processor(path, CLIP_MEAN if clip else SIGLIP_MEAN, CLIP_STD if clip else SIGLIP_STD)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("image-features")
    return {k: _save(k, root / k) for k in ("clip-vision", "siglip-vision", "clip", "siglip")}


def _images(n: int = 5, side: int = 28) -> list[np.ndarray]:
    return list(np.random.default_rng(7).integers(0, 256, size=(n, side, side, 3), dtype=np.uint8))


def _direct(kind: str, model_dir: Path, images: list[np.ndarray], size: int,
            mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """The reference: plain transformers in fp32 on the CPU, on the same preprocessed pixels."""
    import torch
    import transformers as tf

    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", antialias=True).clamp(0, 1)
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        if kind == "clip-vision":
            net = tf.CLIPVisionModelWithProjection.from_pretrained(model_dir).eval()
            out = net(pixel_values=x, interpolate_pos_encoding=True).image_embeds
        elif kind == "siglip-vision":
            net = tf.SiglipVisionModel.from_pretrained(model_dir).eval()
            out = net(pixel_values=x, interpolate_pos_encoding=True).pooler_output
        else:
            net = tf.AutoModel.from_pretrained(model_dir).eval()
            out = net.get_image_features(pixel_values=x, interpolate_pos_encoding=True)
            out = out if isinstance(out, torch.Tensor) else out.pooler_output
    vecs = out.numpy()
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.mark.parametrize("size", [32, 48])
@pytest.mark.parametrize(("kind", "dim"), [("clip-vision", 24), ("siglip-vision", 32), ("clip", 24), ("siglip", 32)])
def test_image_features_equal_direct_transformers(saved: dict[str, Path], kind: str, dim: int, size: int):
    embedder = load_embedder(str(saved[kind]), image_size=size, device="cpu")
    assert embedder.dimension == dim and embedder.image_size == size and embedder.pooling == "pooled"
    mean, std = (CLIP_MEAN, CLIP_STD) if kind.startswith("clip") else (SIGLIP_MEAN, SIGLIP_STD)
    images = _images()
    got = embedder.embed_batch(images)
    assert got.shape == (len(images), dim)
    np.testing.assert_allclose(got, _direct(kind, saved[kind], images, size, mean, std), atol=1e-4)
    meta = embedder.meta("ds", ["a"])
    assert meta.model == str(saved[kind].resolve()) and meta.pooling == "pooled" and meta.dimension == dim


def test_clips_own_mean_and_std_are_used(saved: dict[str, Path]):
    embedder = load_embedder(str(saved["clip-vision"]), image_size=32, device="cpu")
    got = embedder.embed_batch(_images())
    imagenet = _direct("clip-vision", saved["clip-vision"], _images(), 32, (0.485, 0.456, 0.406),
                       (0.229, 0.224, 0.225))
    assert not np.allclose(got, imagenet, atol=1e-3)


def test_default_image_size_is_the_models_own(saved: dict[str, Path]):
    assert load_embedder(str(saved["siglip-vision"]), device="cpu").image_size == 32


def test_pooling_is_fixed_and_token_poolings_are_refused(saved: dict[str, Path]):
    for pooling in ("cls", "pooled"):  # cls is the setting's default
        assert load_embedder(str(saved["clip"]), pooling=pooling, device="cpu").pooling == "pooled"
    with pytest.raises(UsageError, match="--pooling 'mean'.*fixed \\('pooled'\\)"):
        load_embedder(str(saved["clip-vision"]), pooling="mean", device="cpu")


def test_ingest_and_query_round_trip_in_the_pooled_space(saved: dict[str, Path], sample_dir: Path):
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.ingest.query import embedder_for
    from embedscope.store.remote import RemoteStore

    store = RemoteStore(":memory:")
    settings = IngestSettings(dataset=str(sample_dir / "test.parquet"), model=str(saved["clip-vision"]),
                              image_size=32, device="cpu", limit=4, progress=False, collection="t")
    run_ingest(settings, store=store)
    run_ingest(settings, store=store)  # same space again: resumes, no mixed-space error
    meta = store.get_meta("t")
    assert (meta.pooling, meta.dimension, store.count("t")) == ("pooled", 24, 4)
    query = embedder_for(meta, device="cpu")
    assert query.pooling == "pooled" and query.dimension == 24


def test_the_registry_lists_the_families():
    names = families.family_names()
    assert {"pixels", "backbone", "image-features"} <= set(names)
    by_name = {f.name: f for f in families.families()}
    assert "clip_vision_model" in by_name["image-features"].model_types
    assert "dinov2" in by_name["backbone"].describe()
    assert families.families()[-1].name == "backbone"  # the last resort for other image models
    assert families.families()[0].name == "pixels"  # asked first: 'pixels' never reads a config


def _config_dir(path: Path, model_type: str) -> Path:
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": ["X"]}))
    return path


def test_a_model_that_is_not_an_image_model_names_the_registered_families(tmp_path: Path):
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32)
    BertModel(config).save_pretrained(tmp_path / "bert")
    with pytest.raises(ModelError) as info:
        load_embedder(str(tmp_path / "bert"), device="cpu")
    message = str(info.value)
    assert "not an image model" in message and "'input_ids'" in message
    for name in ("pixels", "backbone", "image-features"):
        assert name in message
    with pytest.raises(ModelError, match="no model family 'nope'.*image-features"):
        families.get_family("nope")


def test_other_vit_like_models_still_load_as_backbones(tmp_path: Path):
    """A model type no family names (DeiT here) falls back to the backbone family, as before."""
    import torch
    from transformers import DeiTConfig, DeiTModel

    torch.manual_seed(0)
    config = DeiTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32)
    net = DeiTModel(config, add_pooling_layer=False).eval()
    net.save_pretrained(tmp_path / "deit")
    embedder = load_embedder(str(tmp_path / "deit"), image_size=32, device="cpu")
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        cls = net(pixel_values=(x - mean) / std).last_hidden_state[:, 0].numpy()
    cls /= np.linalg.norm(cls, axis=1, keepdims=True)
    np.testing.assert_allclose(embedder.embed_batch(list(images)), cls, atol=1e-4)


class _Constant(Embedder):
    name = "constant"
    dimension = 2

    def embed(self, images: np.ndarray) -> np.ndarray:
        return np.ones((len(images), 2), np.float32)


def test_register_family_is_picked_by_model_type(tmp_path: Path):
    @register_family("toy", ("toy_model",), description="test only")
    def toy(spec: ModelSpec) -> Embedder:
        assert spec.image_size == 12 and spec.model_type == "toy_model"
        return _Constant()

    try:
        embedder = load_embedder(str(_config_dir(tmp_path / "toy", "toy_model")), image_size=12)
        assert isinstance(embedder, _Constant)
        assert "toy" in families.family_names()
    finally:
        unregister_family("toy")
    assert "toy" not in families.family_names()


def test_a_file_dropped_into_the_families_package_registers_a_family(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "more_families"
    folder.mkdir()
    (folder / "dropped_in.py").write_text(textwrap.dedent('''
        """A family that exists only as this one file."""
        import numpy as np
        from embedscope.ingest.families import register_family
        from embedscope.ingest.models import Embedder

        class Ones(Embedder):
            name = "ones"
            dimension = 3

            def embed(self, images):
                return np.ones((len(images), 3), np.float32)

        @register_family("dropped-in", ("dropped_model",))
        def dropped_in(spec):
            return Ones()
    '''))
    monkeypatch.setattr(families, "__path__", [*families.__path__, str(folder)])
    try:
        families.discover(refresh=True)
        assert "dropped-in" in families.family_names()
        embedder = load_embedder(str(_config_dir(tmp_path / "m", "dropped_model")))
        assert embedder.name == "ones" and embedder.embed_batch(_images(2)).shape == (2, 3)
    finally:
        unregister_family("dropped-in")
        sys.modules.pop("embedscope.ingest.families.dropped_in", None)


def test_entry_point_plugins_register_and_a_broken_one_is_skipped(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    import importlib.metadata

    class EntryPoint:
        def __init__(self, name: str, load: Any) -> None:
            self.name, self.value, self.load = name, f"plugin:{name}", load

    def good() -> None:
        register_family("plugin", ("plugin_model",))(lambda spec: _Constant())

    def broken() -> None:
        raise ImportError("missing dependency")

    def entry_points(group: str) -> list[EntryPoint]:
        assert group == families.ENTRY_POINT_GROUP
        return [EntryPoint("broken", broken), EntryPoint("good", good)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    try:
        families.discover(refresh=True)
        assert {"plugin", "backbone"} <= set(families.family_names())
        assert isinstance(load_embedder(str(_config_dir(tmp_path / "p", "plugin_model"))), _Constant)
    finally:
        unregister_family("plugin")


def test_a_hub_model_that_is_not_cached_fails_fast_offline(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="someone/not-cached-model.*hf download"):
        load_embedder("someone/not-cached-model-xyz", device="cpu")


def test_a_cached_hub_model_loads_offline_through_its_family(saved: dict[str, Path], tmp_path: Path):
    """The real user path for hub names: config and weights from the HF cache, no network."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--tiny--clip-vision"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in saved["clip-vision"].iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code = ("from embedscope.ingest.models import load_embedder; "
            "e = load_embedder('tiny/clip-vision', image_size=32, device='cpu'); "
            "print(type(e).__name__, e.name, e.dimension, e.revision)")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    kind, name, dim, revision = out.stdout.split()
    assert (kind, name, dim) == ("ImageFeaturesEmbedder", "tiny/clip-vision", "24")
    assert revision in (commit, "None")  # transformers 5 no longer sets config._commit_hash


def test_importing_the_registry_stays_light():
    code = ("import sys; from embedscope.ingest import families; families.discover(); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_a_second_registration_of_a_family_name_raises():
    from embedscope.errors import RegistrationError

    taken = families.family_names()[0]
    with pytest.raises(RegistrationError, match=f"model family '{taken}' is already registered"):
        register_family(taken, ("other_type",))(lambda spec: _Constant())
    assert families.get_family(taken).model_types != ("other_type",)
