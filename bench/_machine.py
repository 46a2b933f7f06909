"""What every benchmark reports about the machine it ran on, so figures can be compared."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

__all__ = ["load_average", "machine", "node_version"]


def load_average() -> str:
    """1-, 5- and 15-minute load averages: how shared the machine was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "none"
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def _ffmpeg_version() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return "none"
    out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    return out.split("\n", 1)[0].split(" Copyright")[0]


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpu": f"{os.cpu_count()} x {model}",
        "memory": f"{mem_kib / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node_version(),
        "ffmpeg": _ffmpeg_version(),
    }
