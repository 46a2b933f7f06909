"""Settings: every one has a CLI flag and an environment variable (the table in README.md, "Configuration").

Precedence is flag > environment > default. ``Settings.from_env`` is what
``trioflix.asgi`` uses under plain hypercorn; ``trioflix serve`` layers its flags
on top with ``Settings.from_env(overrides)``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

MIN_SECRET_LENGTH = 32  # HS256 wants a key at least as long as its 256-bit hash (RFC 7518 3.2)


# x264 presets fast enough for live; slower ones cannot keep a ladder in real time.
HLS_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
MAX_RTMP_READ_INTERVAL_MS = 1000  # past a second the added delay is no longer "live"


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its field name, environment variable, CLI flag and help text."""

    field: str
    env: str
    flag: str
    help: str


OPTIONS: tuple[Option, ...] = (
    Option(
        "data_dir",
        "TRIOFLIX_DATA_DIR",
        "--data-dir",
        "directory for the SQLite database, media and uploads",
    ),
    Option(
        "database_url",
        "DATABASE_URL",
        "--database-url",
        "postgresql://user:pass@host/db to use PostgreSQL; unset means SQLite in the data dir",
    ),
    Option(
        "jwt_secret",
        "JWT_SECRET",
        "--jwt-secret",
        "HMAC secret for tokens; unset means one generated once and kept in the data dir",
    ),
    Option("http", "TRIOFLIX_HTTP", "--http", "HTTP listen address HOST:PORT"),
    Option("rtmp", "TRIOFLIX_RTMP", "--rtmp", "RTMP listen address HOST:PORT"),
    Option(
        "reconnect_grace",
        "TRIOFLIX_RECONNECT_GRACE",
        "--reconnect-grace",
        "seconds a dropped publisher has to reconnect and continue the same live session",
    ),
    Option(
        "rtmp_read_interval_ms",
        "TRIOFLIX_RTMP_READ_INTERVAL_MS",
        "--rtmp-read-interval-ms",
        "with two or more publishers, their sockets are read together every this many"
        " milliseconds (less CPU per stream, up to this much added delay); 0 reads each as"
        " soon as data arrives",
    ),
    Option(
        "webhook_urls",
        "TRIOFLIX_WEBHOOK_URLS",
        "--webhook-urls",
        "comma-separated http(s) URLs told of publish start/end and play start/end"
        " (a non-2xx answer to publish start refuses the stream)",
    ),
    Option(
        "webhook_secret",
        "TRIOFLIX_WEBHOOK_SECRET",
        "--webhook-secret",
        "HMAC-SHA256 key signing webhook bodies (X-Trioflix-Signature); needed with webhook URLs",
    ),
    Option(
        "token_ttl", "TRIOFLIX_TOKEN_TTL", "--token-ttl", "lifetime of a login token in seconds"
    ),
    Option("log_level", "TRIOFLIX_LOG_LEVEL", "--log-level", "DEBUG, INFO, WARNING or ERROR"),
    Option("max_upload", "TRIOFLIX_MAX_UPLOAD", "--max-upload", "largest upload in bytes"),
    Option(
        "upload_expiry",
        "TRIOFLIX_UPLOAD_EXPIRY",
        "--upload-expiry",
        "seconds an unfinished upload is kept after its last byte arrived",
    ),
    Option(
        "media_workers",
        "TRIOFLIX_MEDIA_WORKERS",
        "--media-workers",
        "video processing jobs run at once (each in its own low-priority process)",
    ),
    Option(
        "redis_url",
        "REDIS_URL",
        "--redis-url",
        "redis://host:port/db shares chat and viewer counts between processes; unset: in-process",
    ),
    Option(
        "hls",
        "TRIOFLIX_HLS",
        "--hls",
        "'off' serves live channels over RTMP, HTTP-FLV and WS-FLV only (no live HLS)",
    ),
    Option(
        "hls_ladder",
        "TRIOFLIX_HLS_LADDER",
        "--hls-ladder",
        "live ABR rungs transcoded below the source, e.g. 1080p,720p:2500k,480p,360p; or off",
    ),
    Option(
        "hls_segment",
        "TRIOFLIX_HLS_SEGMENT",
        "--hls-segment",
        "live HLS target segment duration in seconds (cut on the next keyframe after it)",
    ),
    Option(
        "hls_preset",
        "TRIOFLIX_HLS_PRESET",
        "--hls-preset",
        "x264 preset of the live ladder (ultrafast ... medium)",
    ),
    Option(
        "payment_webhook_secret",
        "TRIOFLIX_PAYMENT_WEBHOOK_SECRET",
        "--payment-webhook-secret",
        "HMAC secret the payment provider signs wallet top-up webhooks with; unset: no webhook",
    ),
    Option(
        "dev_payments",
        "TRIOFLIX_DEV_PAYMENTS",
        "--dev-payments",
        "'on' enables the development payment provider (every top-up succeeds: fake money only)",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The server's configuration. Immutable; build it with :meth:`from_env`."""

    data_dir: Path = Path("./trioflix-data")
    database_url: str | None = None
    jwt_secret: str | None = None
    http: str = "127.0.0.1:8000"
    rtmp: str = "127.0.0.1:1935"
    reconnect_grace: float = 10.0
    rtmp_read_interval_ms: int = 30
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    token_ttl: int = 24 * 3600
    log_level: str = "INFO"
    max_upload: int = 10 * 1024**3
    upload_expiry: int = 24 * 3600
    media_workers: int = 1
    redis_url: str | None = None
    hls: bool = True
    hls_ladder: str = "1080p,720p,480p,360p"
    hls_segment: float = 2.0
    hls_preset: str = "veryfast"
    payment_webhook_secret: str | None = None
    dev_payments: bool = False

    @classmethod
    def from_env(
        cls,
        overrides: Mapping[str, str | None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read the environment, then apply non-``None`` ``overrides`` (CLI flags) by field name.

        Raises:
            ConfigError: a value does not parse.
        """
        environ = os.environ if environ is None else environ
        raw: dict[str, str] = {}
        for option in OPTIONS:
            value = environ.get(option.env)
            if value:
                raw[option.field] = value
        for field, value in (overrides or {}).items():
            if value is not None:
                raw[field] = value
        settings = cls(**{field: _convert(field, value) for field, value in raw.items()})
        if settings.webhook_urls and not settings.webhook_secret:
            raise ConfigError("TRIOFLIX_WEBHOOK_URLS needs TRIOFLIX_WEBHOOK_SECRET to sign with")
        return settings

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "trioflix.sqlite3"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _convert(field: str, value: str) -> Any:
    env = next(o.env for o in OPTIONS if o.field == field)
    if field == "data_dir":
        return Path(value)
    if field in ("token_ttl", "max_upload", "upload_expiry", "media_workers"):
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{env} must be a whole number, got {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{env} must be positive, got {number}")
        return number
    if field == "reconnect_grace":
        try:
            seconds = float(value)
        except ValueError:
            raise ConfigError(f"{env} must be a number of seconds, got {value!r}") from None
        if not 0 <= seconds <= 3600:
            raise ConfigError(f"{env} must be between 0 and 3600 seconds, got {seconds}")
        return seconds
    if field == "rtmp_read_interval_ms":
        try:
            interval = int(value)
        except ValueError:
            raise ConfigError(
                f"{env} must be a whole number of milliseconds, got {value!r}"
            ) from None
        if not 0 <= interval <= MAX_RTMP_READ_INTERVAL_MS:
            raise ConfigError(
                f"{env} must be between 0 and {MAX_RTMP_READ_INTERVAL_MS} ms, got {interval}"
            )
        return interval
    if field == "webhook_urls":
        urls = tuple(url.strip() for url in value.split(",") if url.strip())
        bad = [url for url in urls if not url.startswith(("http://", "https://"))]
        if bad:
            raise ConfigError(f"{env} must list http(s) URLs, got {bad[0]!r}")
        return urls
    if field == "webhook_secret" and len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{env} must be at least {MIN_SECRET_LENGTH} characters")
    if field == "hls":
        if value.lower() not in ("on", "off"):
            raise ConfigError(f"{env} must be on or off, got {value!r}")
        return value.lower() == "on"
    if field == "hls_ladder":
        from trioflix.live.hls.ladder_spec import parse_ladder

        try:
            parse_ladder(value)
        except ValueError as exc:
            raise ConfigError(f"{env}: {exc}") from None
        return value.strip().lower()
    if field == "hls_segment":
        try:
            segment = float(value)
        except ValueError:
            raise ConfigError(f"{env} must be a number of seconds, got {value!r}") from None
        if not 1 <= segment <= 10:
            raise ConfigError(f"{env} must be between 1 and 10 seconds, got {segment}")
        return segment
    if field == "hls_preset":
        if value not in HLS_PRESETS:
            raise ConfigError(f"{env} must be one of {', '.join(HLS_PRESETS)}, got {value!r}")
        return value
    if field in ("http", "rtmp"):
        parse_address(value, env)
        return value
    if field == "database_url" and not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{env} must be a postgresql:// URL, got {value.split(':')[0]!r}")
    if field == "redis_url" and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{env} must be a redis:// URL, got {value.split(':')[0]!r}")
    if field == "payment_webhook_secret" and len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{env} must be at least {MIN_SECRET_LENGTH} characters")
    if field == "dev_payments":
        if value.lower() not in ("on", "off"):
            raise ConfigError(f"{env} must be on or off, got {value!r}")
        return value.lower() == "on"
    if field == "jwt_secret" and len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{env} must be at least {MIN_SECRET_LENGTH} characters")
    if field == "log_level":
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"{env} must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return level
    return value


def parse_address(value: str, name: str = "address") -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:PORT`` for IPv6) into its parts.

    Raises:
        ConfigError: not of that form, or the port is out of range.
    """
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{name} must be HOST:PORT, got {value!r}")
    return host, int(port_text)
