"""The footprint benchmark's split of a process's resident memory by mapping adds up to
its ``VmRSS``, and its report shows every mapping of either phase, a missing one as 0."""

from __future__ import annotations

import subprocess
import sys

from bench._proc import status_kib
from bench.footprint import render, smaps_split


def test_the_split_of_a_process_adds_up_to_its_resident_size() -> None:
    # A Python that waits on its standard input: its memory holds still while read.
    waiting = "import sys; print('ready', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", waiting], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        split = smaps_split(child.pid)
        rss_mib = status_kib(child.pid, "VmRSS") / 1024
        child.communicate(timeout=10)
    assert split["glibc's main heap"] > 0
    assert any(name.startswith("libpython") for name in split)
    # Each row is rounded to 0.1 MiB.
    assert abs(sum(split.values()) - rss_mib) < 0.05 * len(split)


def _memory(rss: float) -> dict[str, float]:
    return {"rss_mib": rss, "hwm_mib": rss + 1}


def test_the_report_shows_every_mapping_of_either_phase() -> None:
    report = {
        "meta": {"plan": {"idle_s": 30.0, "publishers": 25, "viewers": 200}},
        "import_peak_mib": 55.4,
        "idle": {
            "started": _memory(61.0),
            "idle": _memory(61.1),
            "smaps": {"glibc's main heap": 13.7, "libsqlite3.so": 1.2},
            "errors_logged": 0,
        },
        "load": {
            "started": _memory(60.2),
            "publishing": _memory(71.3),
            "steady_rss_mib": 95.3,
            "peak": _memory(99.8),
            "smaps": {"glibc's main heap": 42.3},
            "viewers_with_keyframe": 200,
            "viewer_errors": 0,
            "errors_logged": 0,
        },
    }
    text = render(report)
    assert "| 25 publishers, 200 viewers: steady (median) / peak | 95.3 | 100.8 |" in text
    assert "| glibc's main heap | 13.7 | 42.3 |" in text
    assert "| libsqlite3.so | 1.2 | 0.0 |" in text
