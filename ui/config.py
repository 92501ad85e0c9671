"""Settings of the web interface: one pydantic-settings class fed by EMBEDSCOPE_UI_* and flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from embedscope.errors import UsageError


class ServingSettings(BaseSettings):
    """What the page (`embedscope ui`) and the API alone (`embedscope serve`) share."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(
        default="127.0.0.1",
        description="Interface to listen on. Any other than 127.0.0.1 / localhost / ::1 requires "
        "--api-key (or, for `ui`, --auth), which then guards every route (the page, its files "
        "and the API), or --insecure. On loopback, requests naming another host (DNS "
        "rebinding) or sent by another site's page are refused.",
    )
    port: int = Field(default=7860, ge=0, le=65535, description="TCP port.")
    api_key: SecretStr | None = Field(
        default=None,
        description="The key every route requires once set, loopback included: "
        "`Authorization: Bearer KEY` from a service, or typed into the login form (/login) by a "
        "browser. Needed on any interface but loopback (unless --auth or --insecure); an empty "
        "key is refused.",
    )
    insecure: bool = Field(
        default=False,
        description="Serve on a non-loopback interface with no API key and no login: anyone who "
        "reaches the port can use the page and the API. It opens nothing that a key or a login "
        "guards. Only on a trusted network.",
    )
    oversampling: float | None = Field(
        default=None, gt=0,
        description="The page's and the API's searches of a quantized collection draw this many times k candidates by "
        "their compressed vectors, then rescore them with the original vectors (higher: better "
        "recall, slower). Default: the collection's quantization's own (int8 2, binary 4, turbo4 "
        "2; below 1 counts as 1). No effect on an unquantized collection or an exact search.",
    )
    max_upload_mb: float = Field(
        default=10.0, gt=0, description="Largest query image accepted, in megabytes."
    )
    k: int = Field(default=10, ge=1, description="Neighbours shown (and voting) by default.",
                   json_schema_extra={"flag": "-k"})
    max_k: int = Field(default=50, ge=1, description="Largest k a query may ask for.")
    device: str = Field(default="auto", description="Device of the query model: auto | cpu | cuda.")
    idle_release_seconds: float = Field(
        default=2.0, ge=0,
        description="An embedded collection is let go after this many idle seconds (at once when "
        "a job asks for it), so ingest / analyze / snapshot / restore can take it; it reopens in "
        "milliseconds when its integrity record matches.",
    )
    batch_window_ms: float = Field(
        default=5.0, ge=0,
        description="How long the first of concurrent query images waits for others to share "
        "one model call (milliseconds).",
    )
    max_batch: int = Field(default=32, ge=1, description="Most images in one model call.")

    def loopback(self) -> bool:
        """Whether the server listens on the loopback interface only."""
        return self.host in LOOPBACK

    def check_exposure(self, login: bool = False) -> None:
        """Refuse an empty API key, and serving on another interface with no API key and no
        login unless --insecure (the key or the login guards every route, the page included).

        Raises:
            UsageError: an empty key; non-loopback host, no key, no login and not --insecure.
        """
        if self.api_key is not None and not self.api_key.get_secret_value().strip():
            raise UsageError(
                "the API key is empty (--api-key \"\" or an empty EMBEDSCOPE_*_API_KEY): an empty "
                "key would let anyone in. Set a real one, e.g. from `python -c \"import secrets; "
                "print(secrets.token_urlsafe(32))\"`, or unset the variable."
            )
        if self.loopback() or self.api_key is not None or login or self.insecure:
            return
        raise UsageError(
            f"refusing to serve on {self.host} without an API key: anyone on the network could "
            "use the page and the API. Set --api-key KEY (or the variable; for `ui` also "
            "--auth user:password), or --insecure on a trusted network."
        )


#: Host names that only this machine reaches.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ServeSettings(ServingSettings):
    """Everything `embedscope serve` (the JSON API alone) can be told."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_SERVE_", extra="ignore")

    port: int = Field(default=7870, ge=0, le=65535, description="TCP port of the API.")


class UISettings(ServingSettings):
    """Everything `embedscope ui` and `python -m embedscope.ui` can be told."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_UI_", extra="ignore")

    port: int = Field(default=7860, ge=0, le=65535, description="TCP port of the page (and its API).")
    auth: SecretStr | None = Field(
        default=None, description="'user:password' that opens the login form (/login), which "
        "gives a browser a cookie for every route, page and API (--api-key opens it too). "
        "Unset: the API key alone, or no login."
    )
    share: bool = Field(
        default=False,
        description="Ask Gradio for a public *.gradio.live link. Off unless explicitly enabled.",
    )
    collection: str | None = Field(
        default=None,
        description="Collection selected when the page opens (default: the most recently "
        "analysed one, else the first).",
    )
    analysis_projections: str = Field(
        default="pca",
        description="Maps computed by the page's 'Run analysis' button, comma-separated names of "
        "registered projections (pca is fast). `embedscope analyze` runs the full analysis.",
    )
    analysis_clusterers: str = Field(
        default="kmeans", description="Clusterings computed by the page's 'Run analysis' button."
    )
    analysis_sample: int = Field(
        default=20000, ge=0,
        description="The 'Run analysis' button analyses at most this many points (0 = all).",
    )
    map_density_from: int = Field(
        default=200_000, ge=0,
        description="Maps of at least this many points open on a density overview coloured by "
        "the chosen field, drawn at once; the points fade in as you zoom in (0: always points).",
    )
    text_int8: bool = Field(
        default=False, description="Search by words and colour by a phrase with the text tower's "
        "linear layers in int8 (dynamic quantization on the CPU): several times faster, the "
        "phrase's vector near the fp32 one.",
    )

    def credentials(self) -> tuple[str, str] | None:
        """The (user, password) pair that opens the door's login form, or None.

        Raises:
            UsageError: the value is not of the form user:password.
        """
        if self.auth is None:
            return None
        user, sep, password = self.auth.get_secret_value().partition(":")
        if not sep or not user or not password:
            raise UsageError(
                "--auth / EMBEDSCOPE_UI_AUTH must look like user:password (both non-empty)."
            )
        return user, password


class ExportMapSettings(BaseSettings):
    """Everything `embedscope export-map` can be told."""

    model_config = SettingsConfigDict(env_prefix="EMBEDSCOPE_EXPORT_MAP_", extra="ignore")

    collection: str | None = Field(default=None, description="Collection whose map is exported "
                                   "(required; `embedscope analyze` must have drawn it).")
    out: Path | None = Field(
        default=None, description="Folder written (required): index.html opens from disk "
        "(file://) or any static host, with no server and no store.",
    )
    projection: str = Field(
        default="", description="The map exported (a stored projection: umap, pca, …; empty: "
        "the first one stored).",
    )
    thumbnail_size: int = Field(
        default=32, ge=4, le=256,
        description="Pixels of a thumbnail's tile in the atlas images (100k Fashion-MNIST "
        "thumbnails at 32 px: 29 MB of JPEG).",
    )
    atlas_columns: int = Field(
        default=64, ge=1, le=256, description="Thumbnails per row (and rows) of one atlas image.",
    )
    atlas_quality: int = Field(default=80, ge=1, le=95, description="JPEG quality of the atlases.")
    max_points: int = Field(
        default=1_000_000, ge=1,
        description="Past this many points a seeded sample of them is exported (thumbnails, "
        "captions, the points drawn); the density overview and the legend count every point.",
    )
    density_from: int = Field(
        default=200_000, ge=0,
        description="Maps of at least this many points open on a density overview, the points "
        "fading in as you zoom in (0: always points).",
    )
    progress: bool = Field(default=True, description="Progress lines on stderr.")

    def check(self) -> None:
        """Fail early without a collection or a folder."""
        if not self.collection:
            raise UsageError("no collection given: pass --collection NAME (`embedscope "
                             "collections` lists them)")
        if self.out is None:
            raise UsageError("no folder given: pass --out DIR (it is created; index.html opens "
                             "from disk)")
