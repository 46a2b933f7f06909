"""Settings that would split the site are refused at start, with what to set instead.

Two checks: :func:`cluster_mode` looks at this host's settings alone (pure), and
:func:`check_peers` compares this host's member record with the hosts already up
(:func:`check_join` reads them from Redis). Their messages are what an operator
reads when a host refuses to start, so each one names the variable (and flag) to
set and what to set it to.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from trioflix.cluster.errors import ClusterError
from trioflix.cluster.shared_storage import OBJECT_STORE_ID

if TYPE_CHECKING:
    from collections.abc import Iterable

    from trioflix.cluster.members import Member, Membership

__all__ = [
    "ClusterConfigError",
    "Mode",
    "check_advertise_url",
    "check_join",
    "check_peers",
    "cluster_mode",
]

ADVERTISE = "TRIOFLIX_ADVERTISE_URL (--advertise-url)"
ADVERTISE_EXAMPLE = "http://10.0.0.5:8000"


class ClusterConfigError(ClusterError, ValueError):
    """This host's settings would split the site; the message says what to set."""


class Mode(enum.Enum):
    """How a host runs, decided by its settings."""

    SINGLE_HOST = "single host"
    CLUSTER = "cluster"


def check_advertise_url(url: str) -> str:
    """``url`` without a trailing slash, if the other hosts can reach this one at it.

    Raises:
        ClusterConfigError: it is not an absolute ``http``/``https`` URL naming a
            host (a wildcard listen address such as ``0.0.0.0`` names none), or it
            carries credentials, a query or a fragment.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ClusterConfigError(f"{ADVERTISE} {url!r} does not parse: {exc}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ClusterConfigError(
            f"{ADVERTISE} {url!r} is not an absolute http(s) URL: set it to the base URL"
            f" at which the other hosts reach this host's HTTP port, e.g. {ADVERTISE_EXAMPLE}"
        )
    if parts.username is not None or parts.query or parts.fragment:
        raise ClusterConfigError(
            f"{ADVERTISE} {url!r} may hold only a scheme, host, port and path"
            f" (no user, query or fragment), e.g. {ADVERTISE_EXAMPLE}"
        )
    try:
        wildcard = ipaddress.ip_address(parts.hostname).is_unspecified
    except ValueError:  # a name, not an address
        wildcard = False
    if wildcard:
        raise ClusterConfigError(
            f"{ADVERTISE} {url!r} names no host the others can reach ({parts.hostname} means"
            f" 'every interface' when listening): give this host's own address, e.g."
            f" http://10.0.0.5:{port or 8000}"
        )
    return url.rstrip("/")


def cluster_mode(
    *,
    redis_url: str | None,
    database_url: str | None,
    advertise_url: str | None,
    jwt_secret_set: bool,
) -> Mode:
    """Whether these settings run one host alone or join a cluster.

    ``REDIS_URL`` makes a cluster; without it nothing is shared and the host runs
    alone. A cluster needs all of: PostgreSQL (SQLite lives in one host's data
    directory), an advertise URL (how the others reach this host) and a
    ``JWT_SECRET`` given to every host (one generated per host would make each
    host refuse the others' tokens).

    Args:
        redis_url: ``REDIS_URL``.
        database_url: ``DATABASE_URL`` (unset: SQLite in the data directory).
        advertise_url: ``TRIOFLIX_ADVERTISE_URL``.
        jwt_secret_set: Whether ``JWT_SECRET`` was given, rather than generated and
            kept in the data directory.

    Raises:
        ClusterConfigError: the settings would split the site; the message lists
            every problem found, each with what to set.
    """
    if not redis_url:
        if advertise_url:
            raise ClusterConfigError(
                f"{ADVERTISE} is set but REDIS_URL is not, so this host would run alone:"
                " set REDIS_URL and a PostgreSQL DATABASE_URL on every host to make them one"
                f" site, or unset {ADVERTISE} to run a single host"
            )
        return Mode.SINGLE_HOST
    problems = []
    if not database_url:
        problems.append(
            "DATABASE_URL is not set, so this host would keep its own SQLite database in its"
            " data directory: set DATABASE_URL=postgresql://user:password@host/database to"
            " the same PostgreSQL database on every host"
        )
    if not advertise_url:
        problems.append(
            f"{ADVERTISE} is not set: set it to the base URL at which the other hosts reach"
            f" this host's HTTP port, e.g. {ADVERTISE_EXAMPLE}"
        )
    else:
        try:
            check_advertise_url(advertise_url)
        except ClusterConfigError as exc:
            problems.append(str(exc))
    if not jwt_secret_set:
        problems.append(
            "JWT_SECRET is not set, so this host would generate a secret of its own and"
            " refuse the tokens the other hosts issue: set the same JWT_SECRET (at least"
            " 32 characters) on every host"
        )
    if problems:
        raise ClusterConfigError(
            "REDIS_URL is set, so this host joins a cluster, but:\n- "
            + "\n- ".join(problems)
            + "\n(or unset REDIS_URL to run a single host)"
        )
    return Mode.CLUSTER


def check_peers(me: Member, members: Iterable[Member]) -> None:
    """Refuse to join hosts that use another secret or another storage.

    Args:
        me: This host's record.
        members: The live members (this host's own record, if there, is skipped).

    Raises:
        ClusterConfigError: a member's secret fingerprint or storage id differs
            from this host's.
    """
    others = [member for member in members if member.host != me.host]
    secret = sorted(
        m.advertise_url for m in others if m.secret_fingerprint != me.secret_fingerprint
    )
    if secret:
        raise ClusterConfigError(
            f"JWT_SECRET differs from the one used by the hosts at {', '.join(secret)}:"
            " set the same JWT_SECRET on every host (tokens issued by one host are"
            " refused by a host with another secret)"
        )
    storage = sorted(m.advertise_url for m in others if m.storage != me.storage)
    if storage:
        raise ClusterConfigError(_storage_refusal(me, ", ".join(storage), others))


def _storage_refusal(me: Member, hosts: str, others: list[Member]) -> str:
    """What to set when this host's storage id is not the others'."""
    on_objects = me.storage.startswith(OBJECT_STORE_ID)
    others_on_objects = any(m.storage.startswith(OBJECT_STORE_ID) for m in others)
    if on_objects or others_on_objects:
        if not on_objects:
            problem = (
                "this host keeps its media on local disk (TRIOFLIX_STORAGE_URL unset or"
                f" file:), but the hosts at {hosts} use object storage"
            )
        elif not others_on_objects:
            problem = (
                "TRIOFLIX_STORAGE_URL names an object store, but the hosts at"
                f" {hosts} keep their media on local disk"
            )
        else:
            problem = f"TRIOFLIX_STORAGE_URL names another object store than the hosts at {hosts}"
        return (
            f"{problem}: set the same TRIOFLIX_STORAGE_URL (s3://BUCKET/PREFIX) and AWS"
            " endpoint on every host, where they find each other's recordings and uploads"
        )
    return (
        f"TRIOFLIX_DATA_DIR is not the directory the hosts at {hosts} use: with media on"
        " local disk (TRIOFLIX_STORAGE_URL unset or file:) every host serves the others'"
        " recordings and uploads from it, so point TRIOFLIX_DATA_DIR on every host at the"
        " same shared filesystem, or put the media on object storage"
        " (TRIOFLIX_STORAGE_URL=s3://BUCKET/PREFIX on every host), which lets each host"
        " keep a data directory of its own"
    )


async def check_join(membership: Membership, me: Member) -> None:
    """:func:`check_peers` against the hosts live in Redis now.

    Raises:
        ClusterConfigError: as :func:`check_peers`.
    """
    check_peers(me, await membership.members())
