"""The k-NN library API in one place: neighbours, vote, classify, evaluate."""

from embedscope.search.evaluate import Evaluation, KResult, choose_splits, evaluate, parse_ks
from embedscope.search.neighbors import (
    Vote,
    classify,
    hit_json,
    label_name,
    neighbours,
    resolve_label,
    shortfall,
    vote,
    vote_arrays,
)

__all__ = [
    "Evaluation", "KResult", "Vote", "choose_splits", "classify", "evaluate", "hit_json",
    "label_name", "neighbours", "parse_ks", "resolve_label", "shortfall", "vote", "vote_arrays",
]
