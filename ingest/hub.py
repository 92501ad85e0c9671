"""Hugging Face hub access that fails fast, with a way out, when the hub cannot be reached."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from embedscope.ingest.errors import OfflineError


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


def cached_dataset(name: str, revision: str | None = None) -> Path | None:
    """The local snapshot folder of hub dataset ``name`` in the Hugging Face cache, or None.

    ``name`` may be the repository id (``zalando-datasets/fashion_mnist``) or a bare name
    (``fashion_mnist``) that one cached repository carries, as the hub's redirects allow online.
    The main branch comes first, then the hub's parquet conversion (``refs/convert/parquet``).
    """
    from huggingface_hub import constants, snapshot_download

    repos = [name]
    if "/" not in name:
        cache = Path(constants.HF_HUB_CACHE)
        found = sorted(p.name for p in cache.glob(f"datasets--*--{name}") if p.is_dir()) if cache.is_dir() else []
        repos += [f[len("datasets--"):].replace("--", "/", 1) for f in found]
    for repo in repos:
        for rev in ([revision] if revision else [None, "refs/convert/parquet"]):
            try:
                path = Path(snapshot_download(repo, repo_type="dataset", revision=rev, local_files_only=True))
            except Exception:  # not cached under this name or revision: try the next
                continue
            if any(f.is_file() and f.name != ".gitattributes" and not f.name.endswith(".md")
                   for f in path.rglob("*")):
                return path
    return None
