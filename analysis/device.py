"""Where the vector maths runs: torch on CUDA when available (device auto), else the CPU.

The blocked products of the k-NN graph, the sampled figures and the GPU k-means take plain numpy
arrays and a device name; torch is imported inside the functions (it is a core dependency, but
loading it costs a second that `embedscope --help` should not pay).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedscope.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(setting: str = "auto") -> str:
    """``"cuda"`` or ``"cpu"`` for a --device setting (auto: CUDA when torch sees a GPU).

    Raises:
        UsageError: An unknown name, or ``cuda`` asked for on a machine without one.
    """
    value = (setting or "auto").strip().lower()
    if value not in DEVICES:
        raise UsageError(f"--device {setting!r}: choose auto, cpu or cuda")
    if value == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if value == "cuda":
        raise UsageError("--device cuda: torch sees no CUDA GPU here; use --device auto or cpu")
    return "cpu"


def tensor(X: np.ndarray, device: str) -> Any:
    """``X`` as a float32 torch tensor on ``device`` (no copy on the CPU when already float32).

    A read-only array (a block of vectors streamed from their scratch file) is shared too: the
    tensors made here are only read.
    """
    import warnings

    import torch

    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.flags.writeable:
        return torch.from_numpy(X).to(device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writable.*", category=UserWarning)
        return torch.from_numpy(X).to(device)


def cuml_umap() -> Any | None:
    """cuML's UMAP class when cuML is importable (the optional ``gpu-umap`` extra), else None."""
    try:
        from cuml.manifold import UMAP  # type: ignore[import-not-found]
    except ImportError:
        return None
    return UMAP
