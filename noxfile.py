"""Every task has a session here. ``./dev test`` runs tests, lint and typecheck in .venv.

Run alone, ``nox -s NAME`` builds a fresh virtualenv for the session; under
``./dev`` (``--no-venv``) the sessions use the project's .venv and skip installing.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"

SOURCES = ["trioflix", "protocols", "tests", "noxfile.py"]


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
def lint(session: nox.Session) -> None:
    _install(session)
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over everything; ``protocols/`` is held to ``--strict`` (pyproject.toml)."""
    _install(session)
    session.run("mypy", *SOURCES)


@nox.session
def fuzz(session: nox.Session) -> None:
    """atheris on RTMP, AMF0 and FLV: ``nox -s fuzz -- 600 [rtmp amf0 flv]``.

    The number is the wall-clock budget in seconds (default 180), shared by the
    targets; the corpus grows in this session's tmp folder across runs and crash
    artifacts land there too (see tests/fuzz/run.py). Not a default session.
    """
    if session.venv_backend != "none":
        session.install("-e", ".[fuzz]")
    workdir = session.create_tmp()
    session.run("python", "tests/fuzz/run.py", "--workdir", workdir, *session.posargs)
