"""Helpers shared by the benchmarks: randomly initialised DINOv2 checkpoints of real sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Dinov2Config sizes of the hub checkpoints (random weights are fine for speed).
DINOV2_SIZES = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
    "small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}


def random_dinov2(size: str, path: Path) -> Path:
    """Save a random DINOv2 of a hub size, with the hub's image processor config, to ``path``."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(patch_size=14, image_size=518, **DINOV2_SIZES[size])
    Dinov2Model(config).eval().save_pretrained(path)
    BitImageProcessor(
        do_resize=True, size={"shortest_edge": 256}, resample=3, do_center_crop=True,
        crop_size={"height": 224, "width": 224}, do_normalize=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(path)
    return path


def random_collection(data: Path, root: Path, size: str, stored: int, device: str,
                      image_size: int | None = None) -> tuple[Path, Any]:
    """A random DINOv2 of a hub size under ``root/model`` and ``stored`` train images of
    ``data`` ingested with it as collection ``bench`` under ``root/data``.

    Returns:
        The model's folder and the QdrantSettings of the store.
    """
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.settings import QdrantSettings

    model = random_dinov2(size, root / "model")
    q = QdrantSettings(data_dir=root / "data")
    extra = {} if image_size is None else {"image_size": image_size}
    run_ingest(IngestSettings(dataset=str(data), splits=["train"], limit=stored, model=str(model),
                              device=device, progress=False, collection="bench", **extra), q)
    return model, q


#: SigLIP base (google/siglip-base-patch16-224) text tower sizes: the real size, random weights.
SIGLIP_BASE_TEXT = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, vocab_size=32000, max_position_embeddings=64)
#: Words the benchmark tokenizer learns (offline; the token ids fall inside the real vocabulary).
CORPUS = ["a photo of a sandal with a heel", "an ankle boot with laces", "a white sneaker",
          "a striped t-shirt", "a long dress with flowers", "a leather bag", "a wool coat",
          "a pullover with a hood", "a pair of trousers", "a shirt with buttons"]


def random_siglip(path: Path) -> Path:
    """Save a SiglipModel whose text tower has SigLIP base's real size (random weights; a vision
    tower of one layer at the same width), with a Gemma tokenizer trained offline and SigLIP's
    64-token maximum length."""
    import json

    import torch
    import transformers as tf
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    special = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(CORPUS * 8, trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                                            show_progress=False))
    data = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["merges"]]
    tokenizer = tf.GemmaTokenizer(vocab=data["vocab"], merges=merges, model_max_length=64,
                                  padding_side="right")
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=1, num_attention_heads=12,
                  image_size=32, patch_size=16)
    torch.manual_seed(0)
    text = dict(SIGLIP_BASE_TEXT, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    model = tf.SiglipModel(tf.SiglipConfig(text_config=text, vision_config=vision))
    model.eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3,
                                                               "image_std": [0.5] * 3}))
    return path
