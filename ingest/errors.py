"""Errors of the ingestion side: datasets, models, images and the hub."""

from __future__ import annotations

from embedscope.errors import EmbedscopeError


class OfflineError(EmbedscopeError):
    """A hub model or dataset is needed and the Hugging Face hub cannot be reached."""

    exit_code = 7


class DatasetError(EmbedscopeError):
    """The dataset cannot be read (missing path, no image column, unknown split …)."""

    exit_code = 2


class ModelError(EmbedscopeError):
    """The model cannot be loaded or does not produce image embeddings."""

    exit_code = 2


class BadImageError(EmbedscopeError):
    """A single image cannot be decoded; the reason is the message."""

    exit_code = 2
