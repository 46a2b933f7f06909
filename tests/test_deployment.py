"""The systemd unit and its environment file, as docs/deployment.md gives them.

Both are read from the page (between their markers), so the page and the test cannot
drift apart. ``systemd-analyze verify`` checks the unit as systemd would load it; the
only change made to it is the program's path, since the test installs nothing into
``/opt``.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trioflix.config import OPTIONS
from trioflix.server import GRACEFUL_TIMEOUT_S

DEPLOYMENT_DOC = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
INSTALLED = "/opt/trioflix/bin/trioflix"  # where the page installs the wheel
# `trioflix serve` exits within this long of SIGTERM (docs/deployment.md, "Shutdown").
STOP_LIMIT_S = 5.0
VIEWERS = 10_000  # descriptors the unit must allow at least: one per viewer, and more


def _block(name: str, language: str) -> str:
    pattern = rf"<!-- {name}:begin -->\n```{language}\n(.*?)```\n<!-- {name}:end -->"
    found = re.search(pattern, DEPLOYMENT_DOC.read_text(), re.S)
    assert found is not None, f"no {name} block between markers in {DEPLOYMENT_DOC}"
    return found.group(1)


def _service(unit: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(unit)
    return parser["Service"]


def _seconds(value: str) -> float:
    found = re.fullmatch(r"(\d+)s?", value)
    assert found is not None, f"a time in seconds, not {value!r}"
    return float(found.group(1))


def test_the_unit_verifies_as_written(tmp_path: Path) -> None:
    if not SYSTEMD_ANALYZE.exists():
        pytest.skip(f"{SYSTEMD_ANALYZE} not found (./dev system-packages installs systemd)")
    unit = _block("systemd-unit", "ini")
    assert unit.count(INSTALLED) == 1
    # systemd checks that the program exists: this checkout's trioflix stands in for it.
    program = shutil.which("trioflix", path=str(Path(sys.executable).parent))
    assert program is not None
    path = tmp_path / "trioflix.service"
    path.write_text(unit.replace(INSTALLED, program))
    done = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    # verify says what it ignores (unknown keys, bad values) on stderr, and exits 0.
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_the_unit_restarts_stops_and_opens_enough_files() -> None:
    service = _service(_block("systemd-unit", "ini"))
    assert service["User"] == "trioflix"  # a dedicated user, made by useradd on the page
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/trioflix/trioflix.env"
    assert service["ExecStart"] == f"{INSTALLED} serve"
    assert GRACEFUL_TIMEOUT_S < STOP_LIMIT_S < _seconds(service["TimeoutStopSec"])
    assert int(service["LimitNOFILE"]) >= VIEWERS


def test_the_environment_file_sets_only_real_settings() -> None:
    known = {option.env for option in OPTIONS}
    lines = _block("systemd-env", "sh").splitlines()
    settings = [line.split("=", 1)[0].lstrip("# ") for line in lines if "=" in line]
    assert settings
    assert set(settings) <= known, set(settings) - known
