"""Settings of the search commands: `search`, `classify` and `evaluate`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class _OneCollection(BaseSettings):
    """A command that works on one named collection."""

    collection: str | None = Field(
        default=None, description="The collection (`embedscope collections` lists them)."
    )

    def check(self) -> None:
        """A collection must be named.

        Raises:
            UsageError: none is.
        """
        from embedscope.errors import UsageError

        if not self.collection:
            raise UsageError("no collection given: pass --collection NAME "
                             "(`embedscope collections` lists them)")


class QuerySettings(_OneCollection):
    """What `embedscope search` and `classify` ask: a query image or point, k and filters."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_SEARCH_", extra="ignore")

    image: str | None = Field(
        default=None, description="Query image file (any mode or size; embedded with the "
        "collection's own model and preprocessing). Give this or --id.",
    )
    point_id: str | None = Field(
        default=None, description="Query by a stored point (left out of its own neighbours). "
        "Give this or --image.", json_schema_extra={"flag": "--id"},
    )
    k: int = Field(default=10, ge=1, description="Number of neighbours.", json_schema_extra={"flag": "-k"})
    split: str | None = Field(default=None, description="Only neighbours from this split.")
    label: str | None = Field(
        default=None, description="Only neighbours of this class (id or name; search only)."
    )
    exact: bool = Field(default=False, description="Exact (brute-force) search instead of HNSW.")

    def check(self) -> None:
        """A collection and exactly one of image / point id.

        Raises:
            UsageError: either is missing, or both query kinds are given.
        """
        from embedscope.errors import UsageError

        super().check()
        if (self.image is None) == (self.point_id is None):
            raise UsageError("give exactly one query: --image FILE or --id POINT_ID")


class EvaluateSettings(_OneCollection):
    """What `embedscope evaluate` measures."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_EVALUATE_", extra="ignore")

    query_split: str | None = Field(
        default=None, description="Split to classify (default: test, else validation)."
    )
    reference_split: str | None = Field(default=None, description="Split that votes (default: train).")
    ks: str = Field(default="1,5,10,20", description="Numbers of neighbours k to evaluate, comma-separated.",
                    json_schema_extra={"flag": "-k"})
    approximate: bool = Field(
        default=False, description="HNSW search instead of exact; also measures HNSW recall."
    )
    batch_size: int = Field(default=256, ge=1, description="Queries per request.")
    exclude_leaks: bool = Field(
        default=False, description="Also give every figure without the leaked query points "
        "(those whose nearest reference point is at cosine ≥ --leak-threshold), side by side.",
    )
    leak_threshold: float = Field(
        default=0.98, gt=-1.0, le=1.0, description="--exclude-leaks: cosine from which a query "
        "point's nearest reference point makes it a leak (the analysis's near-duplicate "
        "threshold by default).",
    )
    progress: bool = Field(default=True, description="Show a progress bar (on a terminal).")


