"""The one settings object. Built at start-up from OPENDANCE_* variables (and CLI flags) and
passed in; nothing reads the environment at import time."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The settings that take one of a few words, and those words.
CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": ("auto", "bf16", "fp16", "fp32"),
    "engine_process": ("auto", "process", "thread"),
    "log_format": ("text", "json"),
    "recipe": ("quality", "balanced", "fast"),
    "step_cache": ("none", "first-block", "mag", "taylorseer", "sea"),
    "compile": ("none", "regional", "full"),
    "quantization": ("none", "int8", "fp8", "nf4"),
    "parallel_attention": ("ulysses", "ring"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENDANCE_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".opendance"),
        description="Where the embedded SQLite file (opendance.db) and the local store's "
        "objects (objects/) live.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "A SQLAlchemy URL: sqlite:///path.db, or PostgreSQL as "
            "postgresql://user:password@host:5432/db (postgresql+asyncpg://… is the same); "
            "default: sqlite+aiosqlite:///<data_dir>/opendance.db"
        ),
    )
    public_url: str | None = Field(
        default=None,
        description="Base of the video URLs in responses (set it behind a proxy); "
        "default: http://<host>:<port>",
    )
    host: str = Field(default="127.0.0.1", description="The address the API listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="The port the API listens on.")
    secret_key: str | None = Field(
        default=None,
        description="Signs video URLs; default: generated once and kept in the database.",
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Let image_urls and callback_url reach private/loopback addresses (dev only).",
    )
    blocked_networks: str = Field(
        default="",
        description="More ranges image_urls and callback_url (and webhooks, upstream video "
        "URLs) may never reach, beyond the built-in block list: comma-separated CIDR networks, "
        "e.g. 203.0.114.0/24, 2a00:1450:4001::/48 (a routable corporate range); checked at "
        "start, they hold even with allow_private_urls.",
    )
    rate_limit_per_minute: int = Field(
        default=1200,
        ge=0,
        description="Requests per API key per minute, counted per API process; 0 turns it off.",
    )
    account_rate_limit_per_minute: int = Field(
        default=2400,
        ge=0,
        description="Requests per account per minute, all its API keys together (two keys' "
        "worth: one runaway key cannot use up its account), counted per API process; 0 turns "
        "it off.",
    )
    auth_failures_per_minute: int = Field(
        default=60,
        ge=0,
        description="Failed API authentications per client address (IPv6: per /64) per "
        "minute; beyond them the address is refused before any key lookup. 0 turns it off.",
    )
    engine: str = Field(default="preview", description="preview, ltx2, wan or upstream.")
    # --- model engines (ltx2, wan): local diffusers directories, never a hub download ---
    model_path: Path | None = Field(
        default=None, description="The engine's diffusers pipeline directory (ltx2, wan)."
    )
    image_model_path: Path | None = Field(
        default=None,
        description="wan only: a WanImageToVideoPipeline directory for image-to-video "
        "(not needed for a Wan 2.2 TI2V model, which does both).",
    )
    audio_model_path: Path | None = Field(
        default=None,
        description="wan only: a StableAudioPipeline directory that adds the soundtrack.",
    )
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:N or mps.")
    dtype: str = Field(default="auto", description="auto, bf16, fp16 or fp32.")
    cpu_offload: bool = Field(
        default=False, description="Keep idle model parts in host memory (slower, less VRAM)."
    )
    vae_tiling: bool | None = Field(
        default=None, description="Decode in tiles (less VRAM); default: on for CUDA."
    )
    vae_slicing: bool = Field(
        default=False, description="Decode the VAE's batch in slices (less memory)."
    )
    attention_backend: str | None = Field(
        default=None, description="A diffusers attention backend, e.g. flash, sage, native."
    )
    # --- acceleration recipe: a preset, and settings that override its parts (docs/performance.md)
    recipe: str = Field(
        default="quality",
        description="quality (the model's full schedule, nothing skipped), balanced (a step "
        "cache, regional compile on CUDA) or fast (a distilled schedule when "
        "OPENDANCE_DISTILLED or OPENDANCE_LORA_PATH is set, else a bolder step cache; regional "
        "compile on CUDA). The settings below override the preset's parts.",
    )
    step_cache: str | None = Field(
        default=None,
        description="none, first-block, mag, taylorseer or sea: reuse transformer work between "
        "denoising steps (wan: all four; ltx2: taylorseer); default: the recipe's.",
    )
    cache_threshold: float | None = Field(
        default=None,
        ge=0,
        description="first-block, mag, sea: how much change still counts as 'the same' "
        "(higher skips more); default: the recipe's, else the cache's own.",
    )
    cache_interval: int | None = Field(
        default=None,
        ge=1,
        le=50,
        description="taylorseer: compute fully every N-th step, predict the others; "
        "default: the recipe's.",
    )
    cache_mag_ratios: str | None = Field(
        default=None,
        description="mag: the model's calibrated magnitude ratios, comma-separated (one per "
        "step; MagCacheConfig(calibrate=True) prints them); mag is refused without them.",
    )
    compile: str | None = Field(
        default=None,
        description="none, regional (torch.compile each repeated transformer block: short "
        "warm-up) or full (the whole transformer); default: the recipe's.",
    )
    parallel_devices: str | None = Field(
        default=None,
        description="Make each video over several devices at once (context parallelism), "
        "e.g. cuda:0,cuda:1: one process per device, started by the engine's process. "
        "Replaces OPENDANCE_DEVICE; needs a model engine, one task per worker and no "
        "cpu_offload.",
    )
    parallel_attention: str = Field(
        default="ulysses",
        description="With parallel_devices: 'ulysses' (heads split over the devices; their "
        "count must divide the heads) or 'ring' (GPUs only).",
    )
    compile_transformer: bool = Field(
        default=False,
        description="Older name for OPENDANCE_COMPILE=full (used when OPENDANCE_COMPILE is unset).",
    )
    distilled: bool = Field(
        default=False,
        description="OPENDANCE_MODEL_PATH holds a step-distilled checkpoint (LTX-2 distilled, "
        "FastWan): its few-step schedule with guidance off becomes the default.",
    )
    lora_path: Path | None = Field(
        default=None,
        description="A local directory with a few-step distillation LoRA, loaded with "
        "load_lora_weights (needs peft); its schedule becomes the default as with "
        "OPENDANCE_DISTILLED.",
    )
    lora_scale: float = Field(
        default=1.0, ge=0, le=4, description="The LoRA's weight (OPENDANCE_LORA_PATH)."
    )
    quantization: str = Field(
        default="none",
        description="Transformer weights: none, int8 (torchao weight-only), fp8 (torchao, "
        "CUDA compute capability 8.9+) or nf4 (bitsandbytes 4-bit, CUDA).",
    )
    inference_steps: int | None = Field(
        default=None,
        ge=1,
        le=200,
        description="Denoising steps; default: the model's own (ltx2 40, wan 50), or its "
        "distilled schedule's (ltx2 8, wan 4) with OPENDANCE_DISTILLED or OPENDANCE_LORA_PATH.",
    )
    guidance_scale: float | None = Field(
        default=None,
        ge=0,
        le=30,
        description="Guidance scale; default: the pipeline's own, or 1 (guidance off) with "
        "distilled weights.",
    )
    engine_process: str = Field(
        default="auto",
        description="Where the engine runs: 'process' (a child process; a crash or an "
        "out-of-memory kill fails one task, not the worker), 'thread', or 'auto' (model "
        "engines in a process, the others in a thread).",
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A worker's lease on its task; a silent worker loses it after this.",
    )
    heartbeat_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often a worker renews its lease and reports progress (at most a "
        "third of lease_seconds).",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Lease losses (crashes) before a task fails and is refunded."
    )
    retention_days: float | None = Field(
        default=None,
        gt=0,
        description="Days after which a finished task's files are deleted (the task stays "
        "readable, marked expired); default: keep them.",
    )
    poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often an idle worker looks for work (only the fallback: a NOTIFY on "
        "PostgreSQL, a datagram on SQLite's wake channel wakes it at once).",
    )
    queue_notify: bool = Field(
        default=True,
        description="Idle workers are woken when a task is queued and claim at once: on "
        "PostgreSQL they LISTEN, on SQLite they join the wake channel (Unix datagram sockets "
        "in <database file>-wake/). false: they only poll every poll_seconds (no listening "
        "connection, e.g. behind a connection pooler that cannot carry LISTEN; no socket, e.g. "
        "on a filesystem without Unix sockets).",
    )
    drain_seconds: float = Field(
        default=120.0, ge=0, description="On SIGTERM, how long a worker may finish its task."
    )
    worker_seen_seconds: float = Field(
        default=60.0, gt=0, description="/readyz counts workers that reported within this time."
    )
    # --- fleets: how many tasks a worker runs at once, what a preview worker offers ---
    worker_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Tasks one worker process runs at once (model engines: one model copy "
        "in a child process each).",
    )
    pipeline_tail: bool = Field(
        default=True,
        description="Model engines: generate the next task while the last one is encoded, "
        "checked and stored, at most one finished video waiting per engine process; off, "
        "each engine process waits for its task's whole tail.",
    )
    preview_audio: bool = Field(
        default=True,
        description="The preview engine offers audio (off: stands in for a "
        "worker without sound when trying a mixed fleet).",
    )
    preview_image_to_video: bool = Field(
        default=True,
        description="The preview engine accepts an input image.",
    )
    supervisor_pid: int | None = Field(
        default=None,
        description="Set by 'opendance serve' for its workers: they stop when it is gone.",
    )
    webhook_retry_schedule: str = Field(
        default="5s,5m,30m,2h,5h,10h,10h",
        description="Waits before each webhook retry (±10 % jitter), e.g. 1s,1s,2s; after the "
        "last, the delivery is marked failed.",
    )
    webhook_timeout_seconds: float = Field(
        default=15.0, gt=0, description="The deadline of one webhook attempt."
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="The largest request body: a 20 MB image as base64 (27 MB) plus the rest.",
    )
    large_bodies_in_flight: int = Field(
        default=4,
        ge=0,
        description="How many requests with a body over 1 MiB the API handles at once (each "
        "holds a few copies of it); others wait up to 5 s, then get 503. 0: no bound.",
    )
    body_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A request body must arrive whole within this time after its headers, "
        "or the answer is 408 REQUEST_TIMEOUT and the connection is closed (60 s: a 32 MiB "
        "body at about 4.5 Mbit/s).",
    )
    limit_concurrency: int = Field(
        default=1000,
        ge=1,
        description="Open connections one API process serves; over it, new requests get a "
        "plain 503 from the HTTP server at once (1000: below the common 1,024 "
        "file-descriptor limit).",
    )
    # The dashboard and playground (/dashboard, /playground).
    session_hours: float = Field(
        default=168.0, gt=0, description="How long a dashboard sign-in lasts (7 days)."
    )
    invite_hours: float = Field(
        default=72.0, gt=0, description="How long an invite link printed by the CLI works."
    )
    signin_attempts_per_15_minutes: int = Field(
        default=10,
        ge=0,
        description=(
            "Sign-in attempts (all but the successful ones) per client address and per account "
            "name; 0 turns it off."
        ),
    )
    # The upstream engine: forwards tasks to another Seedance-compatible API.
    upstream_url: str | None = Field(
        default=None,
        description="Base URL of the Seedance-compatible API the upstream engine forwards to "
        "(without /v1).",
    )
    # A plain string like secret_key: 'opendance serve' hands every setting to its workers
    # through the environment, and a SecretStr would arrive there masked.
    upstream_api_key: str | None = Field(
        default=None, description="Bearer API key for upstream_url (never logged or shown)."
    )
    upstream_timeout_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="Overall deadline of one upstream task (submit, wait, download).",
    )
    upstream_poll_seconds: float = Field(
        default=2.0, gt=0, description="First wait between status polls (it backs off to 5x)."
    )
    upstream_audio: bool = Field(
        default=True,
        description="The upstream can generate audio; false makes the API refuse "
        "generate_audio (UNSUPPORTED_OPTION).",
    )
    upstream_image_to_video: bool = Field(
        default=True,
        description="The upstream accepts an input image (first frame); false makes the API "
        "refuse image_urls (UNSUPPORTED_OPTION).",
    )
    # --- object storage: the local directory (default) or an S3-compatible bucket ---
    storage_url: str | None = Field(
        default=None,
        description="s3://BUCKET[/PREFIX] keeps videos, posters and uploaded images in S3; "
        "unset: the local objects dir.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Another S3-compatible service (MinIO, Ceph, R2, ...); unset: AWS.",
    )
    s3_public_endpoint_url: str | None = Field(
        default=None,
        description="Presign URLs for this endpoint: where clients reach the store, when the "
        "servers reach it under another address (a private network name); uploads still go "
        "to s3_endpoint_url.",
    )
    s3_region: str | None = Field(
        default=None,
        description="The bucket's region (on AWS set it: presigned URLs are signed for it); "
        "default: boto3's.",
    )
    # Both optional: without them boto3's credential chain applies (AWS_* variables, config
    # files, instance roles). Plain strings like upstream_api_key, for the workers' environment.
    s3_access_key_id: str | None = Field(
        default=None,
        description="Both or neither; without them AWS_* variables, ~/.aws profiles and "
        "instance roles apply (boto3's credential chain).",
    )
    s3_secret_access_key: str | None = Field(
        default=None, repr=False, description="The secret of s3_access_key_id."
    )
    s3_url_expiry_seconds: int = Field(
        default=604800,
        ge=1,
        le=604800,  # SigV4's maximum: 7 days
        description="Lifetime of the presigned video and poster URLs (7 days at most: SigV4's "
        "maximum).",
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto",
        description="path (endpoint/bucket/key, MinIO's usual) or virtual (bucket.endpoint/key).",
    )
    s3_public_base_url: str | None = Field(
        default=None,
        description="A public bucket or CDN: unsigned {base}/{prefix}/{key} URLs, never expiring.",
    )
    hsts_seconds: int = Field(
        default=31536000,
        ge=0,
        description="Strict-Transport-Security max-age sent on every answer when public_url "
        "is https (a year, as browsers' preload lists ask); 0 sends none.",
    )
    log_level: str = Field(
        default="info",
        description="A Python logging level: debug, info, warning, error or critical; at info "
        "the API logs one access line per request.",
    )
    # Observability: GET /metrics and the log format.
    log_format: str = Field(
        default="text",
        description="text (one readable line) or json (one object per line), on stderr; "
        "--log-format on serve and worker.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="GET /metrics needs 'Authorization: Bearer <token>'; unset, /metrics is "
        "open when the server listens on loopback only (host), and closed otherwise.",
    )
    metrics_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a scrape's fleet figures (whole-table scans) are reused by the "
        "next scrapes of this process; 0 reads them at every scrape.",
    )

    @field_validator("s3_public_base_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("s3_public_base_url must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator(*CHOICES)
    @classmethod
    def _one_of_choices(cls, value: str | None, info: ValidationInfo) -> str | None:
        choices = CHOICES[info.field_name or ""]
        if value is not None and value not in choices:
            listed = ", ".join(choices[:-1]) + " or " + choices[-1]
            raise ValueError(f"{info.field_name} must be {listed}")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _empty_token_is_none(cls, value: str | None) -> str | None:
        # OPENDANCE_METRICS_TOKEN= (empty) must not become a token that "Bearer " matches
        return value or None

    @field_validator("blocked_networks")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        from opendance.net.addresses import parse_networks

        return ", ".join(str(net) for net in parse_networks(value))

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        from opendance.domain.webhook_signing import parse_retry_schedule

        parse_retry_schedule(value)
        return value

    @model_validator(mode="after")
    def _heartbeat_well_within_lease(self) -> Settings:
        if self.heartbeat_seconds * 3 > self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds:g}) must be at most a third of "
                f"lease_seconds ({self.lease_seconds:g}), or leases run out between heartbeats"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'opendance.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def extra_blocked(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The operator's ``blocked_networks``, parsed (validated when the settings were made)."""
        from opendance.net.addresses import parse_networks

        return parse_networks(self.blocked_networks)

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"
