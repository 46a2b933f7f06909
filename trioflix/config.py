"""Settings: every one has a CLI flag and an environment variable, declared together.

Precedence is flag > environment > default. ``Settings.from_env`` is what
``trioflix.asgi`` uses under plain hypercorn; ``trioflix serve`` layers its flags
on top with ``Settings.from_env(overrides)``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit

from trioflix.forwarded import TrustedProxies, trusted_networks

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trioflix.storage import StorageConfig

MIN_SECRET_LENGTH = 32  # HS256 wants a key at least as long as its 256-bit hash (RFC 7518 3.2)


# x264 presets fast enough for live; slower ones cannot keep a ladder in real time.
HLS_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
# LL-HLS parts: hls.js keeps PART-HOLD-BACK (three parts) behind the live edge, so the
# part target sets the latency; below 100 ms the requests per second cost more than
# they win, above 1 s it is no longer low latency. 300 ms: see docs/hls.md.
DEFAULT_HLS_PART_MS: Final[int | None] = 300  # typed so that "off" (None) fits
HLS_PART_MIN_MS = 100
HLS_PART_MAX_MS = 1000
MAX_READ_INTERVAL_MS = 1000  # past a second the added delay is no longer "live"


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


T = TypeVar("T")

#: Turns a setting's text into its value: ``convert(text, env)``, where ``env``
#: names the variable in the :class:`ConfigError` it raises for a bad value.
Converter = Callable[[str, str], T]


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its field, environment variable, CLI flag, help text and default.

    Declared once, as a :class:`Settings` field with :func:`_setting`; the
    ``serve`` flags, the environment reading and the validation all follow from it.
    """

    field: str
    env: str
    flag: str
    help: str
    default: Any
    convert: Converter[Any]


def _setting(default: T, env: str, help: str, convert: Converter[T]) -> T:
    """A :class:`Settings` field read from ``env`` or the flag named after the field."""
    return dataclasses.field(
        default=default, metadata={"env": env, "help": help, "convert": convert}
    )


# --- converters: text in, value out, or ConfigError naming the variable -----------


def _path(value: str, env: str) -> Path:
    return Path(value)


def _positive_int(value: str, env: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{env} must be a whole number, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{env} must be positive, got {number}")
    return number


def _part_size(value: str, env: str) -> int:
    from trioflix.storage import MIN_PART_SIZE

    size = _positive_int(value, env)
    if size < MIN_PART_SIZE:
        raise ConfigError(f"{env} must be at least {MIN_PART_SIZE} (5 MiB, S3's least), got {size}")
    return size


def _seconds_between(low: int, high: int) -> Converter[float]:
    def convert(value: str, env: str) -> float:
        try:
            seconds = float(value)
        except ValueError:
            raise ConfigError(f"{env} must be a number of seconds, got {value!r}") from None
        if not low <= seconds <= high:
            raise ConfigError(f"{env} must be between {low} and {high} seconds, got {seconds}")
        return seconds

    return convert


def _milliseconds_between(low: int, high: int) -> Converter[int]:
    def convert(value: str, env: str) -> int:
        try:
            interval = int(value)
        except ValueError:
            raise ConfigError(
                f"{env} must be a whole number of milliseconds, got {value!r}"
            ) from None
        if not low <= interval <= high:
            raise ConfigError(f"{env} must be between {low} and {high} ms, got {interval}")
        return interval

    return convert


def _window(value: str, env: str) -> tuple[float, float]:
    """``BEFORE,AFTER``: seconds before and after a moment, each 0 to a day."""
    parts = value.split(",")
    if len(parts) != 2:
        raise ConfigError(f"{env} must be BEFORE,AFTER in seconds (e.g. 1800,3600), got {value!r}")
    seconds = _seconds_between(0, 86400)
    before, after = (seconds(part.strip(), env) for part in parts)
    return before, after


def _url(*schemes: str) -> Converter[str]:
    """A URL with one of ``schemes``; the first names them in the error."""

    def convert(value: str, env: str) -> str:
        if not value.startswith(schemes):
            raise ConfigError(f"{env} must be a {schemes[0]} URL, got {value.split(':')[0]!r}")
        return value

    return convert


def _http_urls(value: str, env: str) -> tuple[str, ...]:
    urls = tuple(url.strip() for url in value.split(",") if url.strip())
    bad = [url for url in urls if not url.startswith(("http://", "https://"))]
    if bad:
        raise ConfigError(f"{env} must list http(s) URLs, got {bad[0]!r}")
    return urls


def _base_url(value: str, env: str) -> str:
    """An absolute http(s) URL that paths are appended to: no trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{env} must be an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{env} must have no query or fragment, got {value!r}")
    return value.rstrip("/")


def _text(value: str, env: str) -> str:
    return value


def _secret(value: str, env: str) -> str:
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{env} must be at least {MIN_SECRET_LENGTH} characters")
    return value


def _secrets(value: str, env: str) -> tuple[str, ...]:
    return tuple(_secret(secret.strip(), env) for secret in value.split(",") if secret.strip())


def _networks(value: str, env: str) -> TrustedProxies:
    try:
        return trusted_networks(entry for entry in value.split(",") if entry.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{env} must list addresses or networks like 10.0.0.5 or 10.0.0.0/24: {exc}"
        ) from None


def _origins(value: str, env: str) -> tuple[str, ...]:
    """Browser origins: ``scheme://host[:port]``, exactly as an ``Origin`` header has them."""
    origins = tuple(origin.strip() for origin in value.split(",") if origin.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or origin != (f"{parts.scheme}://{parts.netloc}")
        ):
            raise ConfigError(
                f"{env} must list origins like https://app.example.com (no path), got {origin!r}"
            )
    return origins


def _on_off(value: str, env: str) -> bool:
    if value.lower() not in ("on", "off"):
        raise ConfigError(f"{env} must be on or off, got {value!r}")
    return value.lower() == "on"


def _address(value: str, env: str) -> str:
    parse_address(value, env)
    return value


def _log_level(value: str, env: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{env} must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
    return level


def _ladder(value: str, env: str) -> str:
    from trioflix.live.hls.ladder_spec import parse_ladder

    try:
        parse_ladder(value)
    except ValueError as exc:
        raise ConfigError(f"{env}: {exc}") from None
    return value.strip().lower()


def _ice_servers(value: str, env: str) -> tuple[str, ...]:
    """STUN/TURN URLs as RFC 7064/7065 write them: ``stun:host[:port]``,
    ``turn:host[:port]?transport=udp``."""
    urls = tuple(url.strip() for url in value.split(",") if url.strip())
    bad = [url for url in urls if not url.startswith(("stun:", "stuns:", "turn:", "turns:"))]
    if bad:
        raise ConfigError(f"{env} must list stun: or turn: URLs, got {bad[0]!r}")
    return urls


def _port_range(value: str, env: str) -> tuple[int, int] | None:
    """``LOW-HIGH`` (inclusive), or ``any`` for the ports the system picks."""
    if value.strip().lower() == "any":
        return None
    low, sep, high = value.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ConfigError(f"{env} must be LOW-HIGH (e.g. 50000-50999) or any, got {value!r}")
    first, last = int(low), int(high)
    if not 1024 <= first <= last <= 65535:
        raise ConfigError(f"{env} must lie within 1024-65535 with LOW <= HIGH, got {value!r}")
    return first, last


def _ip_addresses(value: str, env: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in value.split(",") if a.strip())
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(f"{env} must list IP addresses, got {address!r}") from None
    return addresses


def _hls_part(value: str, env: str) -> int | None:
    if value.strip().lower() == "off":
        return None
    return _milliseconds_between(HLS_PART_MIN_MS, HLS_PART_MAX_MS)(value, env)


def _hls_preset(value: str, env: str) -> str:
    if value not in HLS_PRESETS:
        raise ConfigError(f"{env} must be one of {', '.join(HLS_PRESETS)}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The server's configuration. Immutable; build it with :meth:`from_env`.

    Every field is a setting: a new one is one more field here, and ``trioflix
    serve --help``, the environment and the validation pick it up.
    """

    data_dir: Path = _setting(
        Path("./trioflix-data"),
        "TRIOFLIX_DATA_DIR",
        "directory for the SQLite database, media and uploads",
        _path,
    )
    database_url: str | None = _setting(
        None,
        "DATABASE_URL",
        "postgresql://user:pass@host/db to use PostgreSQL; unset means SQLite in the data dir",
        _url("postgresql://", "postgres://"),
    )
    # Checked against the AWS variables in from_env, where the environment is at hand.
    storage_url: str | None = _setting(
        None,
        "TRIOFLIX_STORAGE_URL",
        "where media is stored: file: (the data directory) or s3://BUCKET/PREFIX, reached with"
        " AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION;"
        " unset means file:",
        _text,
    )
    media_base_url: str | None = _setting(
        None,
        "TRIOFLIX_MEDIA_BASE_URL",
        "public base URL of the stored media (a CDN in front of the bucket), e.g."
        " https://cdn.example.com/media; unset: media is served by the hosts",
        _base_url,
    )
    jwt_secret: str | None = _setting(
        None,
        "JWT_SECRET",
        "HMAC secret for tokens; unset means one generated once and kept in the data dir",
        _secret,
    )
    jwt_previous_secrets: tuple[str, ...] = _setting(
        (),
        "TRIOFLIX_JWT_PREVIOUS_SECRETS",
        "comma-separated secrets rotated out of JWT_SECRET: tokens they signed are still"
        " accepted, none is signed with them; drop one once TRIOFLIX_TOKEN_TTL has passed",
        _secrets,
    )
    cors_origins: tuple[str, ...] = _setting(
        (),
        "TRIOFLIX_CORS_ORIGINS",
        "comma-separated origins (https://app.example.com) whose pages may call the API from"
        " a browser; the media answers every origin; unset: the API answers its own origin only",
        _origins,
    )
    http: str = _setting(
        "127.0.0.1:8000", "TRIOFLIX_HTTP", "HTTP listen address HOST:PORT", _address
    )
    rtmp: str = _setting(
        "127.0.0.1:1935", "TRIOFLIX_RTMP", "RTMP listen address HOST:PORT", _address
    )
    reconnect_grace: float = _setting(
        10.0,
        "TRIOFLIX_RECONNECT_GRACE",
        "seconds a dropped publisher has to reconnect and continue the same live session",
        _seconds_between(0, 3600),
    )
    stop_cooldown: float = _setting(
        0.0,
        "TRIOFLIX_STOP_COOLDOWN",
        "seconds after the streamer ends a stream (the stop API, End stream in the studio)"
        " during which the channel's encoder is refused; 0 refuses it until the streamer"
        " starts again",
        _seconds_between(0, 30 * 86400),
    )
    schedule_window: tuple[float, float] = _setting(
        (1800.0, 3600.0),
        "TRIOFLIX_SCHEDULE_WINDOW",
        "BEFORE,AFTER: going live from BEFORE seconds before a scheduled stream's start to"
        " AFTER seconds after it starts that stream (its title and description become the"
        " session's); a scheduled stream not started AFTER seconds after its start is missed",
        _window,
    )
    max_cover: int = _setting(
        2 * 1024**2,
        "TRIOFLIX_MAX_COVER",
        "largest cover image of a scheduled stream in bytes (a phone's photo; the body of"
        " its PUT is held in memory while it is checked, the rest of the API takes 64 KiB)",
        _positive_int,
    )
    rtmp_read_interval_ms: int = _setting(
        30,
        "TRIOFLIX_RTMP_READ_INTERVAL_MS",
        "with two or more publishers, their sockets are read together every this many"
        " milliseconds (less CPU per stream, up to this much added delay); 0 reads each as"
        " soon as data arrives",
        _milliseconds_between(0, MAX_READ_INTERVAL_MS),
    )
    rtmp_key_failures: int = _setting(
        10,
        "TRIOFLIX_RTMP_KEY_FAILURES",
        "wrong stream keys (RTMP or WHIP) one address may try in TRIOFLIX_RTMP_KEY_WINDOW seconds;"
        " past them its publishes are refused at once until the oldest failure is that old",
        _positive_int,
    )
    rtmp_key_window: float = _setting(
        300.0,
        "TRIOFLIX_RTMP_KEY_WINDOW",
        "seconds over which TRIOFLIX_RTMP_KEY_FAILURES wrong stream keys are counted",
        _seconds_between(1, 86400),
    )
    webhook_urls: tuple[str, ...] = _setting(
        (),
        "TRIOFLIX_WEBHOOK_URLS",
        "comma-separated http(s) URLs told of publish start/end and play start/end"
        " (a non-2xx answer to publish start refuses the stream)",
        _http_urls,
    )
    webhook_secret: str | None = _setting(
        None,
        "TRIOFLIX_WEBHOOK_SECRET",
        "HMAC-SHA256 key signing webhook bodies (X-Trioflix-Signature); needed with webhook URLs",
        _secret,
    )
    token_ttl: int = _setting(
        24 * 3600, "TRIOFLIX_TOKEN_TTL", "lifetime of a login token in seconds", _positive_int
    )
    log_level: str = _setting(
        "INFO", "TRIOFLIX_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", _log_level
    )
    max_upload: int = _setting(
        10 * 1024**3, "TRIOFLIX_MAX_UPLOAD", "largest upload in bytes", _positive_int
    )
    upload_in_flight: int = _setting(
        20 * 1024**3,
        "TRIOFLIX_UPLOAD_IN_FLIGHT",
        "bytes of unfinished uploads one user may have at once (a new one past it is 429)",
        _positive_int,
    )
    upload_quota: int = _setting(
        100 * 1024**3,
        "TRIOFLIX_UPLOAD_QUOTA",
        "bytes one user may have uploaded, stored and in flight together (a new upload past"
        " it is 413)",
        _positive_int,
    )
    upload_expiry: int = _setting(
        24 * 3600,
        "TRIOFLIX_UPLOAD_EXPIRY",
        "seconds an unfinished upload is kept after its last byte arrived",
        _positive_int,
    )
    upload_part_size: int = _setting(
        8 * 1024**2,
        "TRIOFLIX_UPLOAD_PART_SIZE",
        "with object storage, a tus upload is sent in parts of this many bytes (at least 5 MiB);"
        " each upload holds up to two parts in memory, and spills up to three more to local"
        " disk only while the store is slower than the client",
        _part_size,
    )
    media_workers: int = _setting(
        1,
        "TRIOFLIX_MEDIA_WORKERS",
        "video processing jobs run at once (each in its own low-priority process)",
        _positive_int,
    )
    media_memory_limit: int | None = _setting(
        None,
        "TRIOFLIX_MEDIA_MEMORY_LIMIT",
        "MiB of address space each video processing process may use; one that needs more"
        " fails and its job is retried later (unset: no limit)",
        _positive_int,
    )
    keep_originals: bool = _setting(
        False,
        "TRIOFLIX_KEEP_ORIGINALS",
        "'on' keeps each video's uploaded or recorded source in the store beside its"
        " renditions (to re-encode later; the source is often larger than all renditions"
        " together); 'off' deletes it once the video is ready",
        _on_off,
    )
    check_uploads: bool = _setting(
        True,
        "TRIOFLIX_CHECK_UPLOADS",
        "'on' checks each finished upload for a video stream whose first picture decodes"
        " (a few reads and one decoded picture, on the host that received it) and refuses"
        " and deletes any other file at once; 'off' queues every upload, and a file that"
        " is no video fails in its job and stays until its video is deleted",
        _on_off,
    )
    redis_url: str | None = _setting(
        None,
        "REDIS_URL",
        "redis://host:port/db joins the cluster of hosts sharing it (needs a PostgreSQL"
        " DATABASE_URL, JWT_SECRET and TRIOFLIX_ADVERTISE_URL); unset: one host alone",
        _url("redis://", "rediss://", "unix://"),
    )
    # Its form is checked with the other cluster settings (trioflix.cluster.checks),
    # which name every setting that would split the site in one message.
    advertise_url: str | None = _setting(
        None,
        "TRIOFLIX_ADVERTISE_URL",
        "in a cluster, the base URL at which the other hosts reach this host's HTTP port,"
        " e.g. http://10.0.0.5:8000",
        _text,
    )
    trusted_proxies: TrustedProxies = _setting(
        (),
        "TRIOFLIX_TRUSTED_PROXIES",
        "comma-separated addresses or networks (10.0.0.0/8) of the reverse proxies in front:"
        " from them, X-Forwarded-For, -Proto and -Host say who the client is and how it"
        " connected; unset: the connection's own address is the client, headers ignored",
        _networks,
    )
    public_rtmp_port: int | None = _setting(
        None,
        "TRIOFLIX_PUBLIC_RTMP_PORT",
        "the RTMP port encoders and players reach, when it is not this host's own"
        " (a load balancer in front); it goes into the RTMP URLs the API hands out",
        _positive_int,
    )
    cluster_api: bool = _setting(
        False,
        "TRIOFLIX_CLUSTER_API",
        "'on' serves GET /api/cluster (the hosts, their live channels and load) to signed-in users",
        _on_off,
    )
    edge_idle: float = _setting(
        10.0,
        "TRIOFLIX_EDGE_IDLE",
        "in a cluster, seconds a channel pulled from another host stays pulled with no"
        " viewers here (a viewer who reloads finds it still open)",
        _seconds_between(1, 3600),
    )
    edge_read_interval_ms: int = _setting(
        20,
        "TRIOFLIX_EDGE_READ_INTERVAL_MS",
        "in a cluster, a channel pulled from another host is read once about this many"
        " milliseconds of it have arrived (a video frame, as a rule) and twice this many"
        " after the previous read at the latest, its viewers written once per read (less"
        " CPU per edge and per viewer, up to two intervals of added delay); 0 reads as"
        " soon as data arrives",
        _milliseconds_between(0, MAX_READ_INTERVAL_MS),
    )
    hls: bool = _setting(
        True,
        "TRIOFLIX_HLS",
        "'off' serves live channels over RTMP, HTTP-FLV and WS-FLV only (no live HLS)",
        _on_off,
    )
    hls_ladder: str = _setting(
        "1080p,720p,480p,360p",
        "TRIOFLIX_HLS_LADDER",
        "live ABR rungs transcoded below the source, e.g. 1080p,720p:2500k,480p,360p; or off",
        _ladder,
    )
    hls_segment: float = _setting(
        2.0,
        "TRIOFLIX_HLS_SEGMENT",
        "live HLS target segment duration in seconds (cut on the next keyframe after it)",
        _seconds_between(1, 10),
    )
    hls_part: int | None = _setting(
        DEFAULT_HLS_PART_MS,
        "TRIOFLIX_HLS_PART",
        "LL-HLS part target in ms (source rendition, beside the TS playlists); off for none",
        _hls_part,
    )
    hls_preset: str = _setting(
        "veryfast",
        "TRIOFLIX_HLS_PRESET",
        "x264 preset of the live ladder (ultrafast ... medium)",
        _hls_preset,
    )
    webrtc: bool = _setting(
        True,
        "TRIOFLIX_WEBRTC",
        "'off' turns WebRTC off: WHEP playback (/live/CHANNEL/whep) and WHIP ingest (/api/whip)",
        _on_off,
    )
    ice_servers: tuple[str, ...] = _setting(
        (),
        "TRIOFLIX_ICE_SERVERS",
        "comma-separated STUN/TURN URLs for WebRTC (stun:stun.example.com:3478,"
        " turn:turn.example.com:3478?transport=udp), used by the server and handed to"
        " players; unset: host candidates only",
        _ice_servers,
    )
    turn_username: str | None = _setting(
        None,
        "TRIOFLIX_TURN_USERNAME",
        "the user name for the turn: URLs of TRIOFLIX_ICE_SERVERS",
        _text,
    )
    turn_credential: str | None = _setting(
        None,
        "TRIOFLIX_TURN_CREDENTIAL",
        "the password for the turn: URLs of TRIOFLIX_ICE_SERVERS",
        _text,
    )
    webrtc_ports: tuple[int, int] | None = _setting(
        None,
        "TRIOFLIX_WEBRTC_PORTS",
        "UDP ports WebRTC sessions bind, LOW-HIGH (one per session and address), for a"
        " firewall; any: the system picks",
        _port_range,
    )
    webrtc_addresses: tuple[str, ...] = _setting(
        (),
        "TRIOFLIX_WEBRTC_ADDRESSES",
        "comma-separated IP addresses WebRTC offers as host candidates (127.0.0.1 for a"
        " machine alone); unset: every address of the host but loopback",
        _ip_addresses,
    )
    payment_webhook_secret: str | None = _setting(
        None,
        "TRIOFLIX_PAYMENT_WEBHOOK_SECRET",
        "HMAC secret the payment provider signs wallet top-up webhooks with; unset: no webhook",
        _secret,
    )
    dev_payments: bool = _setting(
        False,
        "TRIOFLIX_DEV_PAYMENTS",
        "'on' enables the development payment provider (every top-up succeeds: fake money only)",
        _on_off,
    )

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
        overrides = overrides or {}
        values: dict[str, Any] = {}
        for option in OPTIONS:
            text = overrides.get(option.field)
            if text is None:
                text = environ.get(option.env) or None
            if text is not None:
                values[option.field] = option.convert(text, option.env)
        settings = cls(**values)
        if settings.webhook_urls and not settings.webhook_secret:
            raise ConfigError("TRIOFLIX_WEBHOOK_URLS needs TRIOFLIX_WEBHOOK_SECRET to sign with")
        if settings.storage_url:
            settings.storage(environ)  # refuse a bad URL or a missing AWS variable now
        return settings

    def storage(self, environ: Mapping[str, str] | None = None) -> StorageConfig:
        """The object store ``storage_url`` names, with the AWS variables of ``environ``.

        Args:
            environ: Where the AWS variables are read; the process environment if ``None``.

        Raises:
            ConfigError: the URL is malformed or a variable S3 needs is missing.
        """
        # Imported here: the S3 backend loads boto3, which only a server with
        # storage needs (not ``trioflix user create``, not the settings alone).
        from trioflix.storage import StorageConfigError, parse_storage_url

        try:
            return parse_storage_url(self.storage_url, os.environ if environ is None else environ)
        except StorageConfigError as exc:
            raise ConfigError(f"TRIOFLIX_STORAGE_URL: {exc}") from None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "trioflix.sqlite3"

    @property
    def host_dir(self) -> Path:
        """Where this host keeps what is its own alone: live HLS output, recordings
        being written.

        The data directory itself on a single host. The hosts of a cluster share
        their data directory (recordings and uploads are served by all of them), and
        each clears or hands off what a previous run of its own left there at start,
        so each gets ``hosts/<its advertise URL as a name>`` in it: the same for each
        run of the host, another for every other host.
        """
        if self.advertise_url is None:
            return self.data_dir
        name = re.sub(r"[^A-Za-z0-9]+", "-", self.advertise_url.split("://", 1)[-1])
        return self.data_dir / "hosts" / name.strip("-")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


#: Every setting, in the order ``trioflix serve --help`` lists them.
OPTIONS: tuple[Option, ...] = tuple(
    Option(
        field=field.name,
        env=field.metadata["env"],
        flag="--" + field.name.replace("_", "-"),
        help=field.metadata["help"],
        default=field.default,
        convert=field.metadata["convert"],
    )
    for field in dataclasses.fields(Settings)
)


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
