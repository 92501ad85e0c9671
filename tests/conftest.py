"""Shared fixtures: every store backend available here, a tiny random DINOv2, the shared sample."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# What a test writes under the data directory without naming one (map files, reports) stays in
# a temporary folder, never in the user's.
if "EMBEDSCOPE_DATA_DIR" not in os.environ:
    _DATA_DIR = tempfile.mkdtemp(prefix="embedscope-tests-")
    os.environ["EMBEDSCOPE_DATA_DIR"] = _DATA_DIR
    atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EMBEDSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))
SAMPLE = SHARED_DATA / "fashion_mnist_sample"
QDRANT_IMAGE = os.environ.get("EMBEDSCOPE_QDRANT_IMAGE", "qdrant/qdrant:v1.16.3")


def docker_unavailable_reason() -> str | None:
    """None when a Docker daemon answers, else why not."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # any failure means: no daemon here
        return f"no Docker daemon answers ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The shared Fashion-MNIST sample (3,000 train + 615 test, HF parquet layout)."""
    if not (SAMPLE / "train.parquet").exists():
        pytest.skip(f"shared sample not found at {SAMPLE}")
    return SAMPLE


@pytest.fixture(scope="session")
def qdrant_server() -> Iterator[tuple[str, int]]:
    """A real Qdrant server started with testcontainers: its REST URL and its host gRPC port
    (skipped without Docker)."""
    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from testcontainers.qdrant import QdrantContainer

    with QdrantContainer(QDRANT_IMAGE) as container:
        yield (f"http://{container.get_container_host_ip()}:{container.exposed_rest_port}",
               int(container.exposed_grpc_port))


@pytest.fixture(scope="session")
def qdrant_server_url(qdrant_server: tuple[str, int]) -> str:
    """URL of a real Qdrant server started with testcontainers (skipped without Docker)."""
    return qdrant_server[0]


BACKENDS = ["embedded", "memory", pytest.param("server", marks=pytest.mark.docker)]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """The same test body against every Qdrant backend available here."""
    from embedscope.store.edge import EdgeStore
    from embedscope.store.remote import RemoteStore

    if request.param == "embedded":
        s: object = EdgeStore(tmp_path / "qdrant")
    elif request.param == "memory":
        s = RemoteStore(":memory:")
    else:
        url = request.getfixturevalue("qdrant_server_url")
        s = RemoteStore(url, retry_seconds=5)
        for name in s.list_collections():
            s.delete_collection(name)
    try:
        yield s
    finally:
        s.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised DINOv2 saved like a hub checkpoint (config + weights + processor)."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-dinov2")
    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        patch_size=14, image_size=56,
    )
    Dinov2Model(config).eval().save_pretrained(path)
    BitImageProcessor(
        size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56},
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(path)
    return path


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated EMBEDSCOPE_DATA_DIR (embedded Qdrant) for CLI-level tests."""
    data = tmp_path / "data"
    monkeypatch.setenv("EMBEDSCOPE_DATA_DIR", str(data))
    monkeypatch.delenv("EMBEDSCOPE_QDRANT_URL", raising=False)
    return data


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIPModel (image and text towers) with a CLIPTokenizer made offline."""
    from tests.textmodels import save_clip

    return save_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SiglipModel with a Gemma tokenizer (the SigLIP 2 layout), made offline."""
    from tests.textmodels import save_siglip

    return save_siglip(tmp_path_factory.mktemp("tiny-siglip"))
