"""The soak's site: PostgreSQL and Redis that can be restarted or stopped on cue, and
one ``trioflix serve`` on them with live HLS, a small ladder, recordings and uploads.

PostgreSQL and redis-server are made and configured by ``bench/_site.py``; here they
run as :class:`Restartable` children, so a fault is what an operator would do:
``pg_ctl stop -m fast`` (and start again: what ``pg_ctl restart -m fast`` does), or
redis-server stopped with SIGTERM and started again on its port.
"""

from __future__ import annotations

import signal
import subprocess
from typing import TYPE_CHECKING

import trio

from bench._site import SiteHost, wait_port
from bench.live import STOP_TIMEOUT_S

if TYPE_CHECKING:
    from pathlib import Path

    from bench._site import ServiceCommands, SiteServices

__all__ = ["Restartable", "SoakHost"]

PG_CTL_TIMEOUT_S = 60.0  # a fast shutdown takes a second; generous on a loaded machine
LADDER = "240p:300k"  # one rung: only the two 360p channels get it (rungs below the source)


class Restartable:
    """A service process that can be stopped and started again on the same port.

    Resource handling:
        :meth:`close` stops it for good; the caller runs it in a ``finally``.
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        log: Path,
        cwd: Path,
        stop: list[str] | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.port = port
        self.log = log
        self.cwd = cwd
        self.stop_command = stop  # None: SIGTERM
        self.process: trio.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await trio.lowlevel.open_process(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.cwd
            )
        await wait_port(self.port, self.name)

    async def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if self.stop_command is not None:
            with trio.fail_after(PG_CTL_TIMEOUT_S):
                await trio.run_process(self.stop_command, capture_stdout=True, capture_stderr=True)
        elif process.returncode is None:
            process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_TIMEOUT_S):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        self.process = None

    async def outage(self, down_s: float) -> None:
        """Stop, stay down ``down_s`` seconds, start again."""
        await self.stop()
        await trio.sleep(down_s)
        await self.start()

    async def close(self) -> None:
        with trio.CancelScope(shield=True):
            await self.stop()


def restartable_services(
    commands: ServiceCommands, workdir: Path
) -> tuple[Restartable, Restartable]:
    """PostgreSQL (stopped with ``pg_ctl stop -m fast``) and redis-server (SIGTERM)."""
    postgres = Restartable(
        "PostgreSQL",
        commands.postgres,
        commands.pg_port,
        workdir / "postgresql.log",
        workdir,
        stop=[*commands.pg_ctl, "stop", "-m", "fast", "-w"],
    )
    redis = Restartable(
        "redis-server", commands.redis, commands.redis_port, workdir / "redis.log", workdir
    )
    return postgres, redis


class SoakHost(SiteHost):
    """``trioflix serve`` of the site, with live HLS on, a one-rung ladder, originals kept
    (so each upload's stored bytes can be compared with its source), development
    payments (SuperChats) and its log at INFO, scanned for ERROR lines at the end."""

    def __init__(self, workdir: Path, services: SiteServices, grace_s: float) -> None:
        super().__init__(workdir, "soak", services)
        self.grace_s = grace_s

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--hls") + 1] = "on"
        command[command.index("--log-level") + 1] = "INFO"
        return [
            *command,
            "--hls-ladder",
            LADDER,
            "--reconnect-grace",
            str(self.grace_s),
            "--keep-originals",
            "on",
            "--dev-payments",
            "on",
            "--media-workers",
            "1",
        ]
