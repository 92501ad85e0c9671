"""What a search leaves on the page: its result, the filters it ran with, notes on its vote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedscope.store import Hit
from embedscope.ui.binding import escape
from embedscope.ui.images import Tile

#: The dropdown choice that means "no filter".
ALL = "(all)"


@dataclass
class SearchResult:
    """What one search shows: the query, the neighbours, the k-NN prediction and its votes."""

    query: Any  # PIL image or None
    gallery: list[Tile]
    prediction: str
    votes: list[dict[str, Any]] = field(default_factory=list)  # rows: class, share
    hits: list[Hit] = field(default_factory=list)
    #: The stored point searched by (None for an uploaded image).
    query_id: str | None = None
    #: What the query is: "Shirt · test #0" for a stored point, "" for an upload.
    query_caption: str = ""

    def linked(self, collection: str) -> dict[str, Any]:
        """The ``search_result`` value other tabs read (see ui/tabs.py ``TabContext.shared``)."""
        return {"collection": collection, "query_id": self.query_id,
                "neighbour_ids": [h.id for h in self.hits]}


@dataclass(frozen=True)
class Filters:
    """The k and filters a search ran with, to tell when the results on screen are stale."""

    k: int
    split: str = ALL
    label: str = ALL
    tag: str = ALL

    @classmethod
    def of(cls, k: Any, split: str | None, label: str | None, tag: str | None) -> Filters:
        """Filters from the page's widgets (an empty choice is '(all)')."""
        return cls(int(k), split or ALL, label or ALL, tag or ALL)

    def describe(self) -> str:
        """'k=10, split test, class (all), tag (all)'."""
        return (f"k={self.k}, split {escape(self.split)}, class {escape(self.label)}, "
                f"tag {escape(self.tag)}")


def stale_note(searched: Filters | None, now: Filters) -> str:
    """A note when the k or filters on screen differ from the ones the results were made with."""
    if searched is None or searched == now:
        return ""
    return (f"⚠️ These results are for {searched.describe()}; you chose {now.describe()}. "
            "Press **Search** to update them.")


def vote_notes(counts: dict[str, int], label: str | None) -> list[str]:
    """Notes on a k-NN vote: a tie for first place, and a class filter that decides it.

    Args:
        counts: Class name → votes, largest first (``Vote.counts``).
        label: The class filter ('(all)' or empty: none).
    """
    notes = []
    if counts:
        top = max(counts.values())
        tied = [name for name, n in counts.items() if n == top]
        if len(tied) > 1:
            shown = [escape(name) for name in tied]
            names = " and ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 2 else \
                " and ".join(shown)
            notes.append(f"⚖️ **Tie between {names}** ({top} vote{'' if top == 1 else 's'} each): the majority vote "
                         "takes the class with the smallest id; the similarity-weighted vote "
                         "breaks the tie by similarity.")
    if label and label != ALL:
        notes.append(f"ℹ️ The class filter keeps only **{escape(label)}** neighbours, so the "
                     f"prediction is {escape(label)} by construction: clear the filter for a real "
                     "k-NN vote.")
    return notes
