"""Hugging Face hub access that fails fast, with a way out, when the hub cannot be reached."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from embedscope.ingest.errors import OfflineError

#: Short names users type for well-known hub datasets.
DATASET_ALIASES = {
    "fashion_mnist": "zalando-datasets/fashion_mnist",
    "fashion-mnist": "zalando-datasets/fashion_mnist",
    "mnist": "ylecun/mnist",
    "cifar10": "uoft-cs/cifar10",
    "cifar-10": "uoft-cs/cifar10",
    "cifar100": "uoft-cs/cifar100",
    "cifar-100": "uoft-cs/cifar100",
}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub endpoint accepts a TCP connection within ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def offline_error(kind: str, name: str) -> OfflineError:
    """The error for a hub ``kind`` ('model' or 'dataset') that is neither cached nor reachable."""
    flag = "--model" if kind == "model" else "--dataset"
    repo_type = "" if kind == "model" else " --repo-type dataset"
    return OfflineError(
        f"the {kind} {name!r} is not in the local Hugging Face cache and the hub cannot be reached "
        f"from this machine. On a machine with access run `hf download {name}"
        f"{repo_type} --local-dir ./{name.split('/')[-1]}`, copy that folder here and pass "
        f"{flag} ./{name.split('/')[-1]} (or point HF_HOME at a cache that holds it)."
    )


def download_dataset_parquet(name: str, revision: str | None = None) -> Path:
    """Local directory with the parquet files of hub dataset ``name`` (cached, else downloaded).

    Datasets stored as parquet are fetched from their main branch; others from the hub's
    automatic parquet conversion (``refs/convert/parquet``).
    """
    from huggingface_hub import snapshot_download

    repo = DATASET_ALIASES.get(name.lower(), name)
    patterns = ["*.parquet", "**/*.parquet"]
    for rev in ([revision] if revision else [None, "refs/convert/parquet"]):
        try:
            path = Path(snapshot_download(
                repo, repo_type="dataset", revision=rev, allow_patterns=patterns,
                local_files_only=True,
            ))
            if any(path.rglob("*.parquet")):
                return path
        except Exception:  # not cached: try the next revision, then the network
            pass
    if not hub_reachable():
        raise offline_error("dataset", repo)
    for rev in ([revision] if revision else [None, "refs/convert/parquet"]):
        path = Path(snapshot_download(repo, repo_type="dataset", revision=rev, allow_patterns=patterns))
        if any(path.rglob("*.parquet")):
            return path
    raise OfflineError(f"hub dataset {repo!r} has no parquet files (neither on main nor converted)")
