"""Several ``trioflix serve`` hosts of one site on this machine, for the benchmarks.

A site is one PostgreSQL database, one redis-server and ``trioflix serve`` hosts that
share them, the JWT secret and one data directory, each with its own ports and
advertise URL: the deployment ``docs/cluster.md`` describes. PostgreSQL (from the
distribution's ``postgresql`` package) and redis-server run as children of the
benchmark in its work folder, on loopback ports, and stop with it.
"""

from __future__ import annotations

import os
import pwd
import shutil
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from bench._proc import free_port
from bench.live import HOST, POLL_INTERVAL_S, POLLS, Trioflix, port_open, running_process

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = [
    "EDGE_IDLE_S",
    "ServiceCommands",
    "SiteHost",
    "SiteServices",
    "prepare_services",
    "site_services",
    "wait_port",
]

PG_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian 12's postgresql package
REDIS_SERVER = "redis-server"
INITDB_TIMEOUT_S = 120.0  # a few seconds; generous on a loaded machine
# A relay with no viewers closes its pull this soon, so that a configuration without
# edge viewers is not measured with the previous one's pulls still open.
EDGE_IDLE_S = 2


@dataclass(frozen=True)
class SiteServices:
    """The shared services of a site: their URLs and process ids."""

    database_url: str
    redis_url: str
    pids: tuple[int, ...]


@dataclass(frozen=True)
class ServiceCommands:
    """How to run a site's PostgreSQL cluster (made by ``initdb``) and redis-server.

    Attributes:
        postgres: The postmaster's command line (as the ``postgres`` user when run by root).
        redis: redis-server's command line, without persistence.
        pg_ctl: ``pg_ctl`` with the cluster's data directory and user, for
            ``stop -m fast`` and the like.
    """

    postgres: list[str]
    redis: list[str]
    pg_ctl: list[str]
    pg_port: int
    redis_port: int

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"


async def prepare_services(workdir: Path) -> ServiceCommands:
    """Make a PostgreSQL cluster in ``workdir`` (``initdb``) and pick both ports."""
    for tool in (PG_BIN / "initdb", PG_BIN / "postgres"):
        if not tool.exists():
            raise FileNotFoundError(f"{tool} not found (apt-get install postgresql)")
    if shutil.which(REDIS_SERVER) is None:
        raise FileNotFoundError("redis-server not found (apt-get install redis-server)")
    base = workdir / "postgresql"
    base.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        owner = pwd.getpwnam("postgres")
        await trio.Path(workdir).chmod(0o755)  # postgres must reach its data inside
        os.chown(base, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    with trio.fail_after(INITDB_TIMEOUT_S):
        initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        await trio.run_process(
            [*run_as, *initdb, "--no-sync"],
            capture_stdout=True,
        )
    pg_port, redis_port = free_port(), free_port()
    postgres = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(pg_port), "-k", str(base)]
    postgres += ["-c", f"listen_addresses={HOST}", "-c", "fsync=off"]
    redis = [REDIS_SERVER, "--port", str(redis_port), "--bind", HOST, "--save", ""]
    redis += ["--appendonly", "no", "--dir", str(workdir)]
    return ServiceCommands(
        postgres=[*run_as, *postgres],
        redis=redis,
        pg_ctl=[*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data)],
        pg_port=pg_port,
        redis_port=redis_port,
    )


async def wait_port(port: int, what: str) -> None:
    """Return once ``port`` accepts connections on 127.0.0.1.

    Raises:
        TimeoutError: it did not within about 30 s.
    """
    for _ in range(POLLS):
        if await port_open(port):
            return
        await trio.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"{what} does not accept connections on port {port}")


@asynccontextmanager
async def site_services(workdir: Path) -> AsyncIterator[SiteServices]:
    """A private PostgreSQL cluster and redis-server (no persistence) in ``workdir``.

    Resource handling:
        Both are stopped on exit, Ctrl-C included; their files stay in ``workdir``.
    """
    commands = await prepare_services(workdir)
    async with (
        running_process(commands.postgres, workdir / "postgresql.log", workdir) as pg_pid,
        running_process(commands.redis, workdir / "redis.log", workdir) as redis_pid,
    ):
        await wait_port(commands.pg_port, "PostgreSQL")
        await wait_port(commands.redis_port, "redis-server")
        yield SiteServices(
            database_url=commands.database_url,
            redis_url=commands.redis_url,
            pids=(pg_pid, redis_pid),
        )


class SiteHost(Trioflix):
    """One host of the site: ``trioflix serve`` as :class:`bench.live.Trioflix` runs it
    (live HLS off), with the site's database, Redis, secret and data directory.

    ``edge_read_interval_ms`` None runs the server's default edge read interval; a
    number sets ``--edge-read-interval-ms`` (0: an edge reads its pulls as data arrives).
    ``source_tree`` runs the server from that checkout (``PYTHONPATH``) instead of the
    benchmark's own: two trees' edges side by side, in the same window.
    """

    def __init__(
        self,
        workdir: Path,
        name: str,
        services: SiteServices,
        edge_read_interval_ms: int | None = None,
        source_tree: Path | None = None,
    ) -> None:
        super().__init__(workdir)
        self.name = name
        self.data_dir = workdir / "site-data"  # shared, as a network filesystem would be
        self.services = services
        self.edge_read_interval_ms = edge_read_interval_ms
        self.source_tree = source_tree

    def command(self) -> list[str]:
        tree = [] if self.source_tree is None else ["env", f"PYTHONPATH={self.source_tree}"]
        return [
            *tree,
            *super().command(),
            "--database-url",
            self.services.database_url,
            "--redis-url",
            self.services.redis_url,
            "--advertise-url",
            f"http://{HOST}:{self.http_port}",
            "--edge-idle",
            str(EDGE_IDLE_S),
        ] + (
            []
            if self.edge_read_interval_ms is None
            else ["--edge-read-interval-ms", str(self.edge_read_interval_ms)]
        )

    def describe(self) -> str:
        interval = (
            "the default edge read interval"
            if self.edge_read_interval_ms is None
            else f"`--edge-read-interval-ms {self.edge_read_interval_ms}` on the edges"
        )
        return (
            "trioflix (this tree), `trioflix serve --hls off` hosts of one site (PostgreSQL,"
            f" redis-server, `--edge-idle {EDGE_IDLE_S}`), the default read clock, {interval};"
            " stream key with `record: false`"
        )
