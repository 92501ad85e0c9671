"""Tiny random CLIP and SigLIP image–text checkpoints with tokenizers made offline, saved like hub ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
              image_size=32, patch_size=8)
#: Words the tokenizers learn (Fashion-MNIST's classes and the usual prompts).
CORPUS = [
    "a photo of a t-shirt/top.", "a photo of the trouser.", "a photo of a pullover.",
    "a photo of a dress.", "a photo of a coat.", "a photo of a sandal with a heel.",
    "a photo of a shirt.", "a photo of a sneaker.", "a photo of a bag.",
    "an ankle boot with laces.", "a blurry photo of a {}.", "a sketch of the item.",
    "T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag Ankle boot",
]
VOCAB_SIZE = 300


def _bpe(special: list[str], suffix: str | None,
         metaspace: bool = False) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A small byte-level BPE vocabulary and merges trained on `CORPUS` (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    model = models.BPE(end_of_word_suffix=suffix) if suffix else models.BPE()
    tok = Tokenizer(model)
    tok.pre_tokenizer = (pre_tokenizers.Metaspace() if metaspace
                         else pre_tokenizers.ByteLevel(add_prefix_space=False))
    kw: dict[str, Any] = {"end_of_word_suffix": suffix} if suffix else {}
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), **kw)
    tok.train_from_iterator(CORPUS * 4 + [c.lower() for c in CORPUS] * 4, trainer)
    data = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["merges"]]
    return data["vocab"], merges


def save_clip(path: Path, max_length: int = 16) -> Path:
    """A tiny random CLIPModel with a CLIPTokenizer of its own, saved like a hub checkout."""
    import torch
    import transformers as tf

    vocab, merges = _bpe(["<|startoftext|>", "<|endoftext|>"], "</w>")
    tokenizer = tf.CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                vocab_size=len(vocab), max_position_embeddings=max_length,
                bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                pad_token_id=vocab["<|endoftext|>"])
    torch.manual_seed(5)
    tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=VISION, projection_dim=24)).eval() \
        .save_pretrained(path)
    tokenizer.save_pretrained(path)
    _processor(path, CLIP_MEAN, CLIP_STD)
    return path


def save_siglip(path: Path, max_length: int = 16) -> Path:
    """A tiny random SiglipModel with a Gemma tokenizer (the SigLIP 2 fixed-resolution layout)."""
    import torch
    import transformers as tf

    vocab, merges = _bpe(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"], None, metaspace=True)
    tokenizer = tf.GemmaTokenizer(vocab=vocab, merges=merges, model_max_length=max_length,
                                  padding_side="right")
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                vocab_size=len(vocab), max_position_embeddings=max_length,
                pad_token_id=vocab["<pad>"], eos_token_id=vocab["<eos>"], bos_token_id=vocab["<bos>"])
    torch.manual_seed(6)
    tf.SiglipModel(tf.SiglipConfig(text_config=text, vision_config=VISION)).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    _processor(path, SIGLIP_MEAN, SIGLIP_STD)
    return path


def _processor(path: Path, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    (path / "preprocessor_config.json").write_text(json.dumps({"image_mean": list(mean),
                                                                "image_std": list(std)}))
