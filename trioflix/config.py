"""Settings: every one has a CLI flag and an environment variable (DESIGN.md contract).

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
    Option(
        "token_ttl", "TRIOFLIX_TOKEN_TTL", "--token-ttl", "lifetime of a login token in seconds"
    ),
    Option("log_level", "TRIOFLIX_LOG_LEVEL", "--log-level", "DEBUG, INFO, WARNING or ERROR"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The server's configuration. Immutable; build it with :meth:`from_env`."""

    data_dir: Path = Path("./trioflix-data")
    database_url: str | None = None
    jwt_secret: str | None = None
    http: str = "127.0.0.1:8000"
    token_ttl: int = 24 * 3600
    log_level: str = "INFO"

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
        return cls(**{field: _convert(field, value) for field, value in raw.items()})

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "trioflix.sqlite3"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _convert(field: str, value: str) -> Any:
    env = next(o.env for o in OPTIONS if o.field == field)
    if field == "data_dir":
        return Path(value)
    if field == "token_ttl":
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{env} must be a whole number, got {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{env} must be positive, got {number}")
        return number
    if field == "http":
        parse_address(value, env)
        return value
    if field == "database_url" and not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{env} must be a postgresql:// URL, got {value.split(':')[0]!r}")
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
