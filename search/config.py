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
        "collection's own model and preprocessing). Give this, --text or --id.",
    )
    text: str | None = Field(
        default=None, description="Query by a phrase, embedded by the text tower of the "
        "collection's model (CLIP, SigLIP) or of the --via collection. Give this, --image or --id.",
    )
    point_id: str | None = Field(
        default=None, description="Query by a stored point (left out of its own neighbours). "
        "Give this, --image or --text.", json_schema_extra={"flag": "--id"},
    )
    via: str | None = Field(
        default=None, description="Run the query in this collection of the same dataset (e.g. "
        "one whose model embeds text) and show its hits with --collection's payloads; hits "
        "missing from --collection are named.",
    )
    k: int = Field(default=10, ge=1, description="Number of neighbours.", json_schema_extra={"flag": "-k"})
    split: str | None = Field(default=None, description="Only neighbours from this split.")
    label: str | None = Field(
        default=None, description="Only neighbours of this class (id or name; search only)."
    )
    exact: bool = Field(default=False, description="Exact (brute-force) search instead of HNSW.")
    oversampling: float | None = Field(
        default=None, gt=0,
        description="Searches of a quantized collection draw this many times k candidates by "
        "their compressed vectors, then rescore them with the original vectors (higher: better "
        "recall, slower). Default: the collection's quantization's own (int8 2, binary 4, turbo4 "
        "2; below 1 counts as 1). No effect on an unquantized collection or an exact search.",
    )
    text_int8: bool = Field(
        default=False, description="--text: run the text tower's linear layers in int8 (dynamic "
        "quantization on the CPU): several times faster, the phrase's vector near the fp32 one.",
    )

    def check(self) -> None:
        """A collection and exactly one of image / text / point id.

        Raises:
            UsageError: none is given, or several query kinds are.
        """
        from embedscope.errors import UsageError

        super().check()
        if sum(x is not None for x in (self.image, self.text, self.point_id)) != 1:
            raise UsageError("give exactly one query: --image FILE, --text PHRASE or --id POINT_ID")
        if self.text is not None and not self.text.strip():
            raise UsageError("--text is empty: give a phrase, e.g. --text 'an ankle boot'")


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
    zero_shot: bool = Field(
        default=False, description="Also classify the query split zero-shot: each class name "
        "put into the prompts, embedded by the text tower (the collection's, or --via's), "
        "argmax of cosine; printed beside the k-NN figures.",
    )
    prompts: list[str] = Field(
        default_factory=lambda: ["a photo of a {}."], description="Zero-shot prompt template "
        "with {} for the class name; give the flag once per template to average several "
        "(CLIP's prompt ensembling).", json_schema_extra={"flag": "--prompt"},
    )
    via: str | None = Field(
        default=None, description="Zero-shot in this collection of the same dataset (one whose "
        "model embeds text) when --collection cannot embed text.",
    )
    knn: bool = Field(default=True, description="Run the k-NN evaluation (--no-knn: zero-shot alone).")


