"""Linked spaces: the collections of one dataset under several models, which share point ids.

Point ids derive from the data (dataset, split, row — or the file's path), never from the model,
so two collections of one dataset name the same image with the same id. A query answered in one
space (say SigLIP, which embeds text) can be shown in another (say DINOv2) by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from embedscope.errors import UsageError
from embedscope.store import Store
from embedscope.store.points import Hit

#: How the command line points a phrase at a linked text space (``{}``: the collection).
VIA_FLAG = "--via {}"


class TextSpaceError(UsageError):
    """No space embeds the phrase, or `via` holds another dataset. The message names the way
    out as the command line's flag; ``worded`` says it in another front end's terms (the API's
    request field), from the same message."""

    def __init__(self, head: str, via: str, tail: str) -> None:
        self.head, self.via, self.tail = head, via, tail
        super().__init__(self.worded(VIA_FLAG))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.head, self.via, self.tail))

    def worded(self, via: str) -> str:
        """The message with ``via`` (a template, ``{}``: the collection) as the way to name a
        text space."""
        return f"{self.head}{via.format(self.via)}{self.tail}"


#: How a user gets a space that embeds text (named in every "cannot embed text" message).
TEXT_MODEL_HINT = ("ingest the dataset with an image–text model too, e.g. `embedscope ingest "
                   "--dataset {dataset} --model google/siglip-base-patch16-224`")


def linked(store: Store, collection: str) -> list[str]:
    """The other collections of ``collection``'s dataset (sorted; they share point ids)."""
    key = store.get_meta(collection).dataset_key()
    if not key:
        return []
    out = []
    for name in store.list_collections():
        if name == collection:
            continue
        summary = store.summary(name)
        if summary.meta is not None and summary.meta.dataset_key() == key:
            out.append(name)
    return sorted(out)


def text_spaces(store: Store, collection: str) -> list[str]:
    """``collection`` itself when it embeds text, then its linked collections that do."""
    own = [collection] if store.get_meta(collection).text else []
    return own + [n for n in linked(store, collection) if store.get_meta(n).text]


def text_space(store: Store, collection: str, via: str | None = None) -> str:
    """The collection whose model embeds a text query for ``collection``.

    ``via`` names it; without it, ``collection`` must embed text itself.

    Raises:
        TextSpaceError: the space cannot embed text, or ``via`` holds another dataset; the message
            names the collections of the same dataset that can (exit code 2).
    """
    name = via or collection
    meta = store.get_meta(name)
    if via is not None and via != collection:
        check_linked(store, collection, via)
    if meta.text:
        return name
    can = [n for n in text_spaces(store, collection) if n != name]
    head = f"collection {name!r} ({meta.model}) cannot embed text (its model has no text tower); "
    if can:
        raise TextSpaceError(f"{head}collections of the same dataset that can: {', '.join(can)} "
                             "— search with ", can[0], ".")
    raise UsageError(f"{head}no collection of the same dataset can: "
                     + TEXT_MODEL_HINT.format(dataset=store.get_meta(collection).dataset or "D") + ".")


def check_linked(store: Store, collection: str, other: str) -> None:
    """Raise UsageError unless ``other`` holds the same dataset as ``collection``.

    Raises:
        TextSpaceError: naming both datasets and the collections that are linked.
    """
    mine, theirs = store.get_meta(collection).dataset_key(), store.get_meta(other).dataset_key()
    if mine and mine == theirs:
        return
    options = linked(store, collection)
    raise TextSpaceError(
        "", other, f": it holds dataset {theirs or '?'!r}, {collection} holds {mine or '?'!r}; "
        "only collections of one dataset share point ids. "
        + (f"Linked to {collection}: {', '.join(options)}." if options else
           f"No other collection holds {mine or 'its dataset'}."))


@dataclass
class Shown:
    """Hits found in one space, shown with another collection's payloads.

    Attributes:
        hits: the hits present in ``target``, in the query space's order, with its scores and
            the target's payloads.
        space: the collection the query ran in.
        target: the collection the hits are shown in.
        missing: ids the query space found that ``target`` does not hold (never silently
            dropped: the command names them).
    """

    hits: list[Hit]
    space: str
    target: str
    missing: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The hits (``hit_json``), the two collections and the missing ids."""
        from embedscope.search.neighbors import hit_json

        return {"space": self.space, "target": self.target,
                "hits": [hit_json(h) for h in self.hits], "missing": self.missing}


def show_in(store: Store, hits: Sequence[Hit], space: str, target: str,
            fields: Sequence[str] | None = None) -> Shown:
    """``hits`` of ``space`` with the payloads ``target`` stores for the same ids.

    Args:
        store: An open store.
        hits: Hits found in ``space``, best first.
        space: The collection that answered the query.
        target: The collection to show them in (the same as ``space``: the hits unchanged).
        fields: Payload fields to read from ``target`` (None: the hit fields).
    """
    if target == space:
        return Shown(list(hits), space, target)
    from embedscope.search.neighbors import HIT_FIELDS

    records = {r.id: r for r in store.retrieve(target, [h.id for h in hits],
                                                 list(fields or HIT_FIELDS))}
    shown = [Hit(h.id, h.score, records[h.id].payload) for h in hits if h.id in records]
    return Shown(shown, space, target, [h.id for h in hits if h.id not in records])
