"""Settings that would split the site are refused, each with a message saying what to set."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from trioflix.cluster.checks import (
    ClusterConfigError,
    Mode,
    check_advertise_url,
    check_join,
    check_peers,
    cluster_mode,
)
from trioflix.cluster.keys import secret_fingerprint
from trioflix.cluster.members import Member, Membership

if TYPE_CHECKING:
    import coredis

REDIS = "redis://10.0.0.9:6379/0"
POSTGRES = "postgresql://trioflix:pw@10.0.0.8/trioflix"
ADVERTISE = "http://10.0.0.5:8000"


def mode(**changes: object) -> Mode:
    settings: dict[str, object] = {
        "redis_url": REDIS,
        "database_url": POSTGRES,
        "advertise_url": ADVERTISE,
        "jwt_secret_set": True,
    }
    settings.update(changes)
    return cluster_mode(**settings)  # type: ignore[arg-type]


def test_redis_with_postgres_advertise_url_and_secret_is_a_cluster() -> None:
    assert mode() is Mode.CLUSTER


@pytest.mark.parametrize("database_url", [None, POSTGRES])
@pytest.mark.parametrize("jwt_secret_set", [False, True])
def test_without_redis_a_host_runs_alone(database_url: str | None, jwt_secret_set: bool) -> None:
    assert (
        mode(
            redis_url=None,
            database_url=database_url,
            advertise_url=None,
            jwt_secret_set=jwt_secret_set,
        )
        is Mode.SINGLE_HOST
    )


def test_an_advertise_url_without_redis_is_refused() -> None:
    with pytest.raises(ClusterConfigError) as refused:
        mode(redis_url=None)
    assert str(refused.value) == (
        "TRIOFLIX_ADVERTISE_URL (--advertise-url) is set but REDIS_URL is not, so this host"
        " would run alone: set REDIS_URL and a PostgreSQL DATABASE_URL on every host to make"
        " them one site, or unset TRIOFLIX_ADVERTISE_URL (--advertise-url) to run a single host"
    )


def test_redis_with_sqlite_is_refused() -> None:
    with pytest.raises(ClusterConfigError) as refused:
        mode(database_url=None)
    assert str(refused.value) == (
        "REDIS_URL is set, so this host joins a cluster, but:\n"
        "- DATABASE_URL is not set, so this host would keep its own SQLite database in its"
        " data directory: set DATABASE_URL=postgresql://user:password@host/database to the"
        " same PostgreSQL database on every host\n"
        "(or unset REDIS_URL to run a single host)"
    )


def test_redis_without_advertise_url_is_refused() -> None:
    with pytest.raises(ClusterConfigError) as refused:
        mode(advertise_url=None)
    assert str(refused.value) == (
        "REDIS_URL is set, so this host joins a cluster, but:\n"
        "- TRIOFLIX_ADVERTISE_URL (--advertise-url) is not set: set it to the base URL at"
        " which the other hosts reach this host's HTTP port, e.g. http://10.0.0.5:8000\n"
        "(or unset REDIS_URL to run a single host)"
    )


def test_a_generated_jwt_secret_is_refused() -> None:
    with pytest.raises(ClusterConfigError) as refused:
        mode(jwt_secret_set=False)
    assert str(refused.value) == (
        "REDIS_URL is set, so this host joins a cluster, but:\n"
        "- JWT_SECRET is not set, so this host would generate a secret of its own and refuse"
        " the tokens the other hosts issue: set the same JWT_SECRET (at least 32 characters)"
        " on every host\n"
        "(or unset REDIS_URL to run a single host)"
    )


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ClusterConfigError) as refused:
        mode(database_url=None, advertise_url="10.0.0.5:8000", jwt_secret_set=False)
    lines = str(refused.value).splitlines()
    assert [line.split(" ")[1] for line in lines[1:4]] == [
        "DATABASE_URL",
        "TRIOFLIX_ADVERTISE_URL",
        "JWT_SECRET",
    ]
    assert "'10.0.0.5:8000' is not an absolute http(s) URL" in lines[2]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "10.0.0.5:8000",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) '10.0.0.5:8000' is not an absolute"
            " http(s) URL: set it to the base URL at which the other hosts reach this host's"
            " HTTP port, e.g. http://10.0.0.5:8000",
        ),
        (
            "/relative",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) '/relative' is not an absolute http(s)"
            " URL: set it to the base URL at which the other hosts reach this host's HTTP"
            " port, e.g. http://10.0.0.5:8000",
        ),
        (
            "rtmp://10.0.0.5:1935",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) 'rtmp://10.0.0.5:1935' is not an"
            " absolute http(s) URL: set it to the base URL at which the other hosts reach"
            " this host's HTTP port, e.g. http://10.0.0.5:8000",
        ),
        (
            "http://10.0.0.5:99999",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) 'http://10.0.0.5:99999' does not parse:"
            " Port out of range 0-65535",
        ),
        (
            "http://admin:pw@10.0.0.5:8000",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) 'http://admin:pw@10.0.0.5:8000' may hold"
            " only a scheme, host, port and path (no user, query or fragment), e.g."
            " http://10.0.0.5:8000",
        ),
        (
            "http://10.0.0.5:8000/?x=1",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) 'http://10.0.0.5:8000/?x=1' may hold"
            " only a scheme, host, port and path (no user, query or fragment), e.g."
            " http://10.0.0.5:8000",
        ),
        (
            "http://0.0.0.0:8001",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) 'http://0.0.0.0:8001' names no host the"
            " others can reach (0.0.0.0 means 'every interface' when listening): give this"
            " host's own address, e.g. http://10.0.0.5:8001",
        ),
        (
            "http://[::]",
            "TRIOFLIX_ADVERTISE_URL (--advertise-url) 'http://[::]' names no host the others"
            " can reach (:: means 'every interface' when listening): give this host's own"
            " address, e.g. http://10.0.0.5:8000",
        ),
    ],
)
def test_a_bad_advertise_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ClusterConfigError, match=f"^{re.escape(message)}$"):
        check_advertise_url(url)
    with pytest.raises(ClusterConfigError, match=re.escape(message)):
        mode(advertise_url=url)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
        ("https://edge-1.example.net/", "https://edge-1.example.net"),
        ("http://[fd00::5]:8000/trioflix/", "http://[fd00::5]:8000/trioflix"),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),  # hosts on one machine
    ],
)
def test_a_good_advertise_url_is_kept_without_trailing_slash(url: str, normalised: str) -> None:
    assert check_advertise_url(url) == normalised
    assert mode(advertise_url=url) is Mode.CLUSTER


SECRET = "s" * 48


def member(host: str, secret: str = SECRET, storage: str = "data-dir:1") -> Member:
    return Member(
        host=host,
        advertise_url=f"http://{host}:8000",
        started_at=0.0,
        secret_fingerprint=secret_fingerprint(secret),
        storage=storage,
    )


def test_peers_that_share_secret_and_storage_are_accepted() -> None:
    me = member("a")
    check_peers(me, [me, member("b"), member("c")])
    check_peers(me, [])
    # Its own earlier record (another secret, say, before a restart with the fix) is skipped.
    check_peers(me, [member("a", secret="t" * 48)])


def test_a_peer_with_another_secret_is_refused() -> None:
    with pytest.raises(ClusterConfigError) as refused:
        check_peers(member("a"), [member("c", secret="t" * 48), member("b", secret="u" * 48)])
    assert str(refused.value) == (
        "JWT_SECRET differs from the one used by the hosts at http://b:8000, http://c:8000:"
        " set the same JWT_SECRET on every host (tokens issued by one host are refused by a"
        " host with another secret)"
    )


def test_a_peer_with_another_storage_is_refused() -> None:
    with pytest.raises(ClusterConfigError) as refused:
        check_peers(member("a"), [member("b"), member("c", storage="data-dir:2")])
    assert str(refused.value) == (
        "TRIOFLIX_DATA_DIR is not the directory the hosts at http://c:8000 use: with media on"
        " local disk (TRIOFLIX_STORAGE_URL unset or file:) every host serves the others'"
        " recordings and uploads from it, so point TRIOFLIX_DATA_DIR on every host at the"
        " same shared filesystem, or put the media on object storage"
        " (TRIOFLIX_STORAGE_URL=s3://BUCKET/PREFIX on every host), which lets each host keep"
        " a data directory of its own"
    )


@pytest.mark.parametrize(
    ("mine", "theirs", "problem"),
    [
        (
            "object-store:1",
            "object-store:2",
            "TRIOFLIX_STORAGE_URL names another object store than the hosts at http://b:8000",
        ),
        (
            "data-dir:1",
            "object-store:2",
            "this host keeps its media on local disk (TRIOFLIX_STORAGE_URL unset or file:),"
            " but the hosts at http://b:8000 use object storage",
        ),
        (
            "object-store:1",
            "data-dir:2",
            "TRIOFLIX_STORAGE_URL names an object store, but the hosts at http://b:8000 keep"
            " their media on local disk",
        ),
    ],
    ids=["another-store", "local-among-s3", "s3-among-local"],
)
def test_a_peer_on_another_object_store_is_refused(mine: str, theirs: str, problem: str) -> None:
    check_peers(member("a", storage=mine), [member("b", storage=mine)])  # data dirs apart
    with pytest.raises(ClusterConfigError) as refused:
        check_peers(member("a", storage=mine), [member("b", storage=theirs)])
    assert str(refused.value) == (
        f"{problem}: set the same TRIOFLIX_STORAGE_URL (s3://BUCKET/PREFIX) and AWS endpoint"
        " on every host, where they find each other's recordings and uploads"
    )


@pytest.mark.slow
async def test_joining_checks_the_hosts_live_in_redis(redis: coredis.Redis[bytes]) -> None:
    membership = Membership(redis)
    await check_join(membership, member("a"))  # the first host: nobody to disagree with
    await membership.announce(member("a"), 10.0)
    await check_join(membership, member("b"))
    with pytest.raises(ClusterConfigError, match=r"^JWT_SECRET differs .* http://a:8000:"):
        await check_join(membership, member("b", secret="t" * 48))
