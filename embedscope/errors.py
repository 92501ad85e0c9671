"""The error hierarchy every embedscope package raises; the CLI and the UI translate it once each."""

from __future__ import annotations


class EmbedscopeError(Exception):
    """Base class: a problem the user can act on. The message says what to do."""

    exit_code = 1


class UsageError(EmbedscopeError):
    """Bad arguments or settings."""

    exit_code = 2


class CollectionNotFoundError(EmbedscopeError):
    """The named collection does not exist."""

    exit_code = 3


class EmptyCollectionError(EmbedscopeError):
    """The collection holds no points (or none that match the filter)."""

    exit_code = 3


class MissingLabelsError(EmbedscopeError):
    """An operation needs labels and the collection has none."""

    exit_code = 3


class MixedSpaceError(EmbedscopeError):
    """Vectors from another model, pooling, image size or dimension would mix spaces."""

    exit_code = 4


class CollectionBusyError(EmbedscopeError):
    """An embedded collection is open in another process."""

    exit_code = 5


class QdrantUnavailableError(EmbedscopeError):
    """The Qdrant server cannot be reached (after retrying)."""

    exit_code = 6


class DiskFullError(EmbedscopeError):
    """Too little free disk space to store what was asked; what is stored stays intact."""

    exit_code = 9


class DamagedCollectionError(EmbedscopeError):
    """A collection's files or metadata are damaged: it is never served silently."""

    exit_code = 10


class TransferMismatchError(EmbedscopeError):
    """A copied collection does not match its source (count, ids, payloads, vectors or metadata)."""

    exit_code = 8


class RegistrationError(UsageError, ValueError):
    """A registry entry (model family, projection, tab, command, …) with a bad or taken name."""
