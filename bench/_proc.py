"""What ``/proc`` tells about a benchmarked process: its memory, its CPU time, its exit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "cpu_seconds",
    "exit_on_sigterm",
    "free_port",
    "reset_peak_rss",
    "status_kib",
    "wait4",
]

HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL_S = 0.02  # how often wait4 samples the peak while a process runs


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status``: ``VmRSS``, ``VmHWM``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak_rss(pid: int) -> None:
    """Set ``VmHWM`` back to the current RSS (proc(5), clear_refs "5")."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one running process, all its threads, without children.

    (proc(5), fields 14 and 15 of ``stat``.)
    """
    text = Path(f"/proc/{pid}/stat").read_text()
    # comm may hold spaces and parentheses: the fields start after the last ")".
    fields = text.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait4(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Reap ``proc``; its peak RSS in KiB, or None after ``timeout``.

    The peak is the last ``VmHWM`` read while it ran (sampled every 20 ms), not
    ``ru_maxrss``: that one also counts the forked Python's memory before exec.
    """
    deadline = time.monotonic() + timeout
    peak = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, RuntimeError):
            peak = status_kib(proc.pid, "VmHWM")
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return peak
        time.sleep(POLL_S)
    return None


def exit_on_sigterm() -> None:
    """Make SIGTERM (``timeout``, a CI runner giving up) unwind like Ctrl-C.

    Python's default for SIGTERM is to die at once, leaving the servers it
    started running and its work folder behind; ``SystemExit`` runs every
    ``finally`` and ``with`` exit on the way out, which stop and remove them.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
