"""Creating a collection, or checking that an existing one is in the same vector space
(`Store.ensure_collection`): what a sibling worker racing to create it, a foreign collection and
a changed class list each get."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedscope.contract import CollectionMeta
from embedscope.errors import CollectionBusyError, UsageError
from embedscope.store.points import check_name

if TYPE_CHECKING:
    from embedscope.store.base import Store


def ensure(store: Store, name: str, meta: CollectionMeta, recreate: bool = False,
           shard_number: int | None = None, replication_factor: int | None = None) -> CollectionMeta:
    """:meth:`Store.ensure_collection`: create ``name``, or check the stored one against ``meta``
    and return its metadata (keeping its class names where ``meta`` has none)."""
    check_name(name)
    if meta.dimension < 1:
        raise UsageError(f"collection {name!r}: a vector dimension must be at least 1, "
                         f"got {meta.dimension}")
    store._forget(name)
    if recreate and store.collection_exists(name):
        store.delete_collection(name)
    if not store.collection_exists(name):
        try:
            store._create(name, meta, shard_number, replication_factor)
        except CollectionBusyError:
            raise  # another process is creating or using it: "busy", never "not ours"
        except Exception:
            # Another worker (a sibling SLURM array task) created it at the same moment.
            if not store.collection_exists(name):
                raise
        else:
            store._write_meta(name, meta)
            return meta
    stored = store._read_meta(name)
    if stored is None:
        raise UsageError(
            f"collection {name!r} exists but was not created by embedscope; "
            "use --collection NAME for a new one, or --recreate to replace it."
        )
    stored.check_same_space(meta, name)
    if meta.labels and meta.labels != stored.labels:
        if stored.labels and store.count(name) > 0:
            raise UsageError(
                f"collection {name!r} has class names {stored.labels}; this dataset has "
                f"{meta.labels}. Use --collection NAME for a separate collection."
            )
        stored = store.update_meta(name, labels=meta.labels)
    if meta.text and not stored.text:  # a collection made before the metadata said so
        stored = store.update_meta(name, text=True)
    store.ensure_indexes(name)  # a collection made before an index was in the contract
    return stored
