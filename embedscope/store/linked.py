"""Collections grouped by dataset: the spaces of one dataset share point ids (a query in one shows in another)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from embedscope.store.base import Store


@dataclass
class DatasetGroup:
    """The collections of one dataset and how many points each pair shares."""

    dataset: str
    collections: list[str]
    shared: dict[tuple[str, str], int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Dataset, collections, and ``shared`` as a list of {a, b, points}."""
        return {"dataset": self.dataset, "collections": self.collections,
                "shared": [{"a": a, "b": b, "points": n} for (a, b), n in self.shared.items()]}


def dataset_groups(store: Store, names: Sequence[str] | None = None) -> list[DatasetGroup]:
    """Collections grouped by dataset, with the points each pair of a group shares (by id).

    A collection whose dataset is unknown (no embedscope metadata, or none recorded) is a group
    of its own (dataset '?').
    """
    by_key: dict[str, list[str]] = {}
    alone: list[str] = []
    for name in names if names is not None else store.list_collections():
        meta = store.summary(name).meta
        key = meta.dataset_key() if meta is not None else ""
        if key:
            by_key.setdefault(key, []).append(name)
        else:
            alone.append(name)
    groups = []
    for key, members in [*sorted(by_key.items()), *(("?", [n]) for n in sorted(alone))]:
        members = sorted(members)
        group = DatasetGroup(key, members)
        if len(members) > 1:
            ids = {n: {r.id for r in store.scroll(n, with_payload=False)} for n in members}
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    group.shared[(a, b)] = len(ids[a] & ids[b])
        groups.append(group)
    return groups
