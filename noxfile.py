"""Every task has a session here. ``./dev test`` runs tests, lint and typecheck in .venv.

Run alone, ``nox -s NAME`` builds a fresh virtualenv for the session; under
``./dev`` (``--no-venv``) the sessions use the project's .venv and skip installing.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "coverage", "lint", "typecheck"]
nox.options.reuse_venv = "yes"

SOURCES = ["trioflix", "protocols", "tests", "bench", "noxfile.py"]
# The build hook: linted, not type-checked (setuptools ships no type information).
BUILD_HOOK = "setup.py"


def _install(session: nox.Session) -> None:
    if session.venv_backend != "none":
        session.install("-e", ".[dev]")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, against SQLite and a private PostgreSQL cluster; fails on any skip."""
    _install(session)
    session.run(
        "python",
        "-bb",
        "-m",
        "pytest",
        "--strict-markers",
        "--strict-config",
        "--durations=10",
        "--fail-on-skip",
        *session.posargs,
    )


@nox.session
def coverage(session: nox.Session) -> None:
    """protocols/ at 100% branch coverage from tests/protocols alone (pyproject.toml)."""
    _install(session)
    Path(".nox").mkdir(exist_ok=True)
    env = {"COVERAGE_FILE": str(Path(".nox") / ".coverage-protocols")}
    session.run("python", "-m", "coverage", "run", "-m", "pytest", "-q", "tests/protocols", env=env)
    session.run("python", "-m", "coverage", "report", env=env)


@nox.session
def lint(session: nox.Session) -> None:
    _install(session)
    session.run("ruff", "check", *SOURCES, BUILD_HOOK)
    session.run("ruff", "format", "--check", *SOURCES, BUILD_HOOK)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over everything; ``protocols/`` is held to ``--strict`` (pyproject.toml)."""
    _install(session)
    session.run("mypy", *SOURCES)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Every atheris target in parallel: ``nox -s fuzz -- --hours H`` (or ``-- 600 [TARGET ...]``).

    The budget is wall-clock time (``--hours``, or seconds; default 180 s); the targets
    share one process per CPU, round-robin. New inputs land in .nox/fuzz-data, the small
    ones that add coverage are merged into tests/fuzz/corpus, crash artifacts land in
    .nox/fuzz-data/artifacts (see tests/fuzz/run.py). Not a default session.
    """
    if session.venv_backend != "none":
        session.install("-e", ".[fuzz]")
    session.run("python", "tests/fuzz/run.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against reference servers; figures go to docs/benchmarks.md.

    ``nox -s bench`` runs every ``bench/NAME.py`` whose name does not start with
    ``_`` (those are helpers), one after the other; ``nox -s bench -- live chat``
    runs the named ones. Options after the names go to each: ``-- live --quick``.
    Needs ffmpeg, node and npm on PATH (``latency`` also Chromium at /usr/bin/chromium);
    talks to 127.0.0.1 only. Not a default session.
    """
    _install(session)
    available = sorted(
        path.stem for path in Path("bench").glob("*.py") if not path.name.startswith("_")
    )
    names = []
    options = list(session.posargs)
    while options and not options[0].startswith("-"):
        names.append(options.pop(0))
    unknown = sorted(set(names) - set(available))
    if unknown:
        session.error(f"no benchmark {', '.join(unknown)}; there are: {', '.join(available)}")
    for name in names or available:
        session.run("python", "-m", f"bench.{name}", *options)


@nox.session
def soak(session: nox.Session) -> None:
    """One ``trioflix serve`` on PostgreSQL and Redis under an hour of mixed load with
    faults: ``nox -s soak -- --minutes N`` (and options scaling each load down, see
    ``python -m bench.soak --help``). Samples, plot and PASS/FAIL per goal; figures go to
    docs/reliability.md. Needs ffmpeg, ffprobe, PostgreSQL and redis-server. Not a
    default session, not in CI.
    """
    _install(session)
    session.run("python", "-bb", "-m", "bench.soak", *session.posargs)
