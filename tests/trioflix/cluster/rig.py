"""Several ``trioflix serve`` hosts of one site on this machine, as an operator runs them.

Every host gets the same ``DATABASE_URL`` (one PostgreSQL database), ``REDIS_URL``
(one redis-server) and ``JWT_SECRET``, and its own HTTP and RTMP ports and
``TRIOFLIX_ADVERTISE_URL``. By default they share one ``TRIOFLIX_DATA_DIR``, as
hosts of a cluster with media on local disk share a network filesystem:
recordings and uploads are served by all of them, and each keeps what is its own
alone under ``hosts/`` in it (``Settings.host_dir``). With media on object
storage each host may have a data directory of its own (``private_data_dirs``).
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.ports import free_port
from tests.trioflix.test_cli import TRIOFLIX, _env
from tests.waiting import wait_healthy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import RedisServer

__all__ = ["RIG_EDGE_IDLE_S", "RIG_SECRET", "Rig", "RigHost"]

RIG_SECRET = "rig-secret-" + "r" * 32
RIG_EDGE_IDLE_S = 2  # an edge's pull with no viewers closes soon enough for a test to see
START_LIMIT_S = 60.0  # three Python servers starting on a busy two-core machine
STOP_LIMIT_S = 15.0
REFUSAL_LIMIT_S = 60.0


@dataclass
class RigHost:
    """One ``trioflix serve`` process of the rig."""

    name: str
    url: str
    rtmp_port: int
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, its member record stays until its TTL runs out."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_LIMIT_S)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_healthy(self) -> None:
        wait_healthy(self.url, self.process, log=self.log, limit_s=START_LIMIT_S)


@dataclass
class Rig:
    """The shared settings of the site, and the hosts started on them.

    Attributes:
        database_url: The site's PostgreSQL database.
        redis_server: The site's redis-server, which a test may stop and start again.
        data_dir: The data directory every host shares, or with
            ``private_data_dirs`` the directory holding one per host, by name.
        workdir: Where each host's stderr log goes.
        site_env: Settings every host of this rig gets (e.g. its webhook URLs).
        private_data_dirs: Whether each host has a data directory of its own.
        hosts: The hosts started so far, in order.
    """

    database_url: str
    redis_server: RedisServer
    data_dir: Path
    workdir: Path
    site_env: dict[str, str] = field(default_factory=dict)
    private_data_dirs: bool = False
    hosts: list[RigHost] = field(default_factory=list)

    def data_dir_of(self, name: str) -> Path:
        """The data directory of the host called ``name``."""
        return self.data_dir / name if self.private_data_dirs else self.data_dir

    @property
    def redis_url(self) -> str:
        return self.redis_server.url

    def env(self, data_dir: Path, http_port: int, rtmp_port: int, **changes: str) -> dict[str, str]:
        """A host's environment: the site's settings, its data directory and its own
        ports; a change to ``""`` unsets that variable."""
        env = _env(
            data_dir,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            JWT_SECRET=RIG_SECRET,
            TRIOFLIX_HTTP=f"127.0.0.1:{http_port}",
            TRIOFLIX_RTMP=f"127.0.0.1:{rtmp_port}",
            TRIOFLIX_ADVERTISE_URL=f"http://127.0.0.1:{http_port}",
            TRIOFLIX_CLUSTER_API="on",
            TRIOFLIX_HLS_LADDER="off",
            TRIOFLIX_EDGE_IDLE=str(RIG_EDGE_IDLE_S),
        )
        env.update(self.site_env)
        env.update(changes)
        return {name: value for name, value in env.items() if value}

    def start(self, name: str, **changes: str) -> RigHost:
        """Start a host and wait until it answers ``/healthz``.

        Ports are picked only once the hosts before it have bound theirs, so two
        hosts are never handed the same free port.
        """
        http_port, rtmp_port = free_port(), free_port()
        log = self.workdir / f"{name}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [*TRIOFLIX, "serve"],
                env=self.env(self.data_dir_of(name), http_port, rtmp_port, **changes),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        host = RigHost(name, f"http://127.0.0.1:{http_port}", rtmp_port, process, log)
        self.hosts.append(host)
        host.wait_healthy()
        return host

    def refused(self, **changes: str) -> tuple[int, str]:
        """Start a host that should refuse to start: its exit status and stderr."""
        result = subprocess.run(
            [*TRIOFLIX, "serve"],
            env=self.env(self.data_dir_of("refused"), free_port(), free_port(), **changes),
            capture_output=True,
            text=True,
            check=False,
            timeout=REFUSAL_LIMIT_S,  # one that started after all would run until killed
        )
        return result.returncode, result.stderr

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()
