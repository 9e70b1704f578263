"""The one validated settings object: built once (CLI flags over TICKERTAPE_* env), passed in."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Every field is a `tickertape serve --flag` and a `TICKERTAPE_<NAME>` variable."""

    model_config = SettingsConfigDict(env_prefix="TICKERTAPE_", extra="forbid")

    # where it listens and what it stores into
    host: str = Field("127.0.0.1", description="interface to bind")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    database_url: str = Field(
        "sqlite+aiosqlite:///./tickertape.db",
        description="SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg)",
    )
    migrate_on_start: bool = Field(True, description="apply pending migrations before listening")

    # the model and the generation loop
    engine: Literal["local", "remote"] = Field("local", description="local model or upstream")
    model: str = Field(
        "demo", description="'demo' (embedded), a local HF checkpoint dir or a hub id"
    )
    upstream_url: str | None = Field(None, description="OpenAI-compatible base URL (remote)")
    upstream_model: str | None = Field(None, description="model name at the upstream")
    upstream_api_key: SecretStr | None = Field(None, description="bearer key for the upstream")
    upstream_timeout_s: float = Field(30.0, gt=0, description="upstream connect/read timeout")
    torch_threads: int = Field(1, ge=1, le=256, description="torch intra-op threads")
    max_batch: int = Field(8, ge=1, le=256, description="replies decoded together per step")
    max_waiting: int = Field(64, ge=0, description="replies waiting for a batch slot")
    prefill_chunk: int = Field(256, ge=16, description="prompt tokens prefilled per step")
    max_context: int | None = Field(None, ge=64, description="cap on tokens per sequence")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="model and KV cache precision; auto = the checkpoint's"
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto|cpu|cuda")
    linear_kernel: Literal["auto", "onednn", "torch"] = Field(
        "auto", description="CPU linear layers: prepacked oneDNN weights, or torch's F.linear"
    )
    kv_cache_bytes: int | None = Field(None, ge=1, description="KV block pool size in bytes")
    kv_cache_fraction: float | None = Field(
        None, gt=0, le=1, description="or this share of the memory free after loading"
    )
    block_size: int = Field(16, ge=1, le=256, description="token positions per KV block")
    prefix_caching: bool = Field(True, description="reuse the KV blocks of shared prefixes")
    max_tokens: int = Field(512, ge=1, description="upper bound of params.max_tokens")
    default_max_tokens: int = Field(256, ge=1, description="max_tokens when none is given")
    system_prompt: str | None = Field(None, description="system prompt for every conversation")

    # who may connect
    auth: Literal["none", "token"] | None = Field(
        None, description="'none' (loopback only) or 'token'; default by bind address"
    )
    force_auth_none: bool = Field(False, description="allow auth 'none' on a public bind")
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="extra allowed Origins, comma-separated"
    )
    secure_cookies: bool = Field(False, description="serve behind HTTPS (__Host- cookies)")
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1", "::1"],
        description=(
            "proxies whose X-Forwarded-Proto/-For are believed: IPs or networks, "
            "comma-separated; '' for none, '*' for any"
        ),
    )

    # limits
    max_frame_bytes: int = Field(65536, ge=1024, description="largest WebSocket frame")
    max_content_chars: int = Field(16000, ge=1, description="largest chat message")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="largest HTTP request body")
    max_concurrent_replies: int = Field(4, ge=1, description="replies in flight per user")
    max_connections_per_user: int = Field(16, ge=1, description="open WebSockets per user")
    max_control_bytes: int = Field(
        1024 * 1024, ge=65536, description="unsent control frames (pongs...) per WebSocket"
    )
    messages_per_minute: int = Field(30, ge=1, description="chat messages per user per minute")
    handshakes_per_minute: int = Field(60, ge=1, description="WebSocket handshakes per IP/min")
    slow_client_timeout_s: float = Field(15.0, gt=0, description="disconnect a stalled reader")
    auth_timeout_s: float = Field(5.0, gt=0, description="time for the first-frame auth")
    resume_retention_s: float = Field(300.0, ge=0, description="frame log kept after a reply")
    responses_retention_s: float = Field(
        30 * 86400.0,
        ge=0,
        description="how long /v1/responses serves a response after its creation (0: forever)",
    )
    tool_wait_s: float = Field(
        300.0, gt=0, description="how long a reply waits for its tool results (WebSocket)"
    )
    checkpoint_interval_ms: int = Field(250, ge=10, description="reply checkpoint cadence")
    checkpoint_tokens: int = Field(32, ge=1, description="checkpoint after this many frames")
    ws_ping_interval_s: float = Field(20.0, gt=0, description="protocol ping interval")
    shutdown_timeout_s: float = Field(10.0, ge=0, description="graceful shutdown deadline")

    # several replicas: the live layer they share (docs/scaling.md)
    redis_url: SecretStr | None = Field(
        None, description="Redis URL shared by every replica (resume, stop, limits, notices)"
    )
    redis_prefix: str = Field("tt:", min_length=1, description="prefix of Redis keys/channels")
    redis_mirror_interval_ms: int = Field(
        50, ge=5, le=1000, description="how often a reply's new frames are written to Redis"
    )
    redis_owner_timeout_s: float = Field(
        5.0, ge=1, le=300, description="a replica silent this long in Redis is taken for dead"
    )

    # logs
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="level")
    log_format: Literal["text", "json"] = Field("text", description="log line format")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        # Uvicorn would take a typo for a literal name that no peer ever has, or honour "*"
        # only when it stands alone: refuse both here rather than trust the wrong peers.
        if "*" in value:
            if len(value) > 1:
                raise ValueError("'*' trusts every address and cannot be combined")
            return value
        for entry in value:
            try:
                ipaddress.ip_network(entry)  # an address is a one-address network
            except ValueError as exc:
                detail = str(exc) if "/" in entry else "not an IP address or network"
                raise ValueError(f"{entry!r}: {detail}") from exc
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.engine == "remote" and not self.upstream_url:
            raise ValueError("--upstream-url is required with --engine remote")
        if self.default_max_tokens > self.max_tokens:
            self.default_max_tokens = self.max_tokens
        if self.auth == "none" and not is_loopback(self.host) and not self.force_auth_none:
            raise ValueError(
                "--auth none on a non-loopback bind exposes every conversation; "
                "use --auth token or add --force-auth-none"
            )
        return self

    @property
    def auth_mode(self) -> Literal["none", "token"]:
        if self.auth is not None:
            return self.auth
        return "none" if is_loopback(self.host) else "token"
