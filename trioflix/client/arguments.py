"""The ``upload`` command's flags, and the :class:`Options` they amount to.

Nothing here needs the network or tqdm: ``trioflix serve`` builds the whole
command-line parser, this command's flags included.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CHECKSUM_PREFERENCE",
    "Options",
    "UsageError",
    "add_arguments",
    "default_state_file",
    "options_from",
    "parse_size",
]

DEFAULT_SERVER = "http://127.0.0.1:8000"  # `trioflix serve`'s default --http
MIB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 32 * MIB  # the server fsyncs at every request's end: fewer, larger is faster
CHECKSUM_PREFERENCE = ("sha256", "sha1", "md5")
DEFAULT_RETRIES = 8  # consecutive failures without progress before giving up (about 2 min)
WAIT_DEFAULT_S = 3600.0  # --wait gives up after an hour of processing

_SIZE = re.compile(r"(?i)\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*")
_UNITS = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024 * 1024 * MIB}


def parse_size(text: str) -> int:
    """Bytes from ``"8388608"``, ``"8M"``, ``"8MiB"`` or ``"1g"`` (binary units).

    Raises:
        ValueError: Not a size, or zero.
    """
    match = _SIZE.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"not a size: {text!r} (examples: 8M, 64MiB, 1048576)")
    return int(match[1]) * _UNITS[match[2].lower()]


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``upload`` subcommand's arguments, added to ``parser``."""
    parser.add_argument("file", type=Path, metavar="FILE", help="the video file to upload")
    parser.add_argument(
        "--server",
        default=os.environ.get("TRIOFLIX_SERVER", DEFAULT_SERVER),
        help=f"the trioflix server (env TRIOFLIX_SERVER; default {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("TRIOFLIX_TOKEN"),
        help="a login token (env TRIOFLIX_TOKEN); or use --user",
    )
    parser.add_argument(
        "--user",
        default=os.environ.get("TRIOFLIX_USER"),
        help="log in as this account (env TRIOFLIX_USER); asks for the password",
    )
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    parser.add_argument("--title", help="the video's title (default: the file name)")
    parser.add_argument("--description", default="", help="the video's description")
    parser.add_argument(
        "--chunk-size",
        type=_size_arg,
        default=DEFAULT_CHUNK_SIZE,
        metavar="SIZE",
        help="bytes per PATCH request, e.g. 8M (default 32M); memory use does not depend on it",
    )
    parser.add_argument(
        "--checksum",
        choices=("auto", *CHECKSUM_PREFERENCE, "none"),
        default="auto",
        help="per-chunk checksum (default auto: the best the server offers)",
    )
    parser.add_argument(
        "--limit-rate",
        type=_size_arg,
        metavar="SIZE",
        help="send at most SIZE bytes per second, e.g. 2M (default: as fast as possible)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help=f"give up after N failures in a row without progress (default {DEFAULT_RETRIES})",
    )
    parser.add_argument(
        "--new",
        action="store_true",
        help="start a new upload even if an unfinished one of this file is remembered",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="where unfinished uploads are remembered "
        "(default $XDG_CACHE_HOME/trioflix/uploads.json, else ~/.cache/trioflix/uploads.json)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="after the upload, wait until the video is ready (or failed)",
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=WAIT_DEFAULT_S,
        metavar="SECONDS",
        help=f"give up waiting after this long (default {WAIT_DEFAULT_S:.0f})",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on standard error (default: when it is a terminal)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What to upload, where and how (the parsed command line)."""

    file: Path
    server: str
    token: str | None
    user: str | None
    password: str | None
    title: str | None
    description: str
    chunk_size: int
    checksum: str
    limit_rate: int | None
    retries: int
    new: bool
    state_file: Path
    wait: bool
    wait_timeout: float
    progress: bool | None
    json: bool


def default_state_file(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/trioflix/uploads.json``, else ``~/.cache/trioflix/uploads.json``."""
    cache = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "trioflix" / "uploads.json"


class UsageError(Exception):
    """Bad or missing flags (exit status 2)."""


def options_from(args: argparse.Namespace, password_input: IO[str]) -> Options:
    """The options of a parsed ``upload`` command line; asks for the password if needed.

    Raises:
        UsageError: A flag is missing or has a value that cannot be used.
    """
    server = str(args.server).rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--server must be an http:// or https:// URL, not {server!r}")
    if args.token is None and args.user is None:
        raise UsageError("log in with --token (or TRIOFLIX_TOKEN) or --user NAME")
    password = None
    if args.token is None:
        if args.password_stdin:
            password = password_input.readline().rstrip("\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.user}: ")
        else:
            raise UsageError("no terminal to ask for the password: use --password-stdin")
    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")
    return Options(
        file=args.file,
        server=server,
        token=args.token,
        user=args.user,
        password=password,
        title=args.title,
        description=args.description,
        chunk_size=args.chunk_size,
        checksum=args.checksum,
        limit_rate=args.limit_rate,
        retries=args.retries,
        new=args.new,
        state_file=args.state_file or default_state_file(),
        wait=args.wait,
        wait_timeout=args.wait_timeout,
        progress=args.progress,
        json=args.json,
    )
