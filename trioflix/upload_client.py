"""``trioflix upload FILE``: a resumable tus 1.0.0 client for the command line.

Theory of operation:

- **Log in** with a token (``--token`` / ``TRIOFLIX_TOKEN``, checked with
  ``GET /api/auth/me``) or a name and password (``POST /api/auth/login``).
- **Ask the server** what it offers (``OPTIONS``): the checksum algorithm
  (sha256, else sha1, else md5) and ``Tus-Max-Size``.
- **Resume or create.** The upload URL of every file is remembered in a small
  JSON file under the user's cache directory, keyed by server, absolute path,
  size and modification time, so a changed file is never resumed. On a
  restart the client asks the server (``HEAD``) how many bytes it holds and
  goes on from there; an upload the server no longer knows is created anew.
- **Send** the file in ``PATCH`` requests of at most ``--chunk-size`` bytes,
  each with ``Upload-Checksum``. A chunk is read from disk twice in 1 MiB
  blocks (once to hash it, since the checksum header precedes the body, then
  to send it), so memory stays flat whatever the chunk or file size.
- **Retry** transient failures (network errors, 408, 423, 429, 460, 5xx,
  507) with exponential backoff; after each failure ``HEAD`` tells where the
  server stands, since it keeps the bytes of a request that was cut short.
- **Report** the video: ``--wait`` follows the upload's server-sent events until
  the video is ``ready`` or ``failed``.

This is a synchronous program: one upload, one connection, nothing to run
concurrently, so the blocking ``httpx.Client`` is the simplest correct tool.
Header syntax comes from :mod:`protocols.tus`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import getpass
import hashlib
import json
import mimetypes
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import IO, TYPE_CHECKING, Any, NoReturn
from urllib.parse import urljoin, urlsplit

import httpx
from tqdm import tqdm

from protocols import tus
from trioflix import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "EXIT_AUTH",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "EXIT_VIDEO_FAILED",
    "AuthError",
    "ResumeStore",
    "UploadError",
    "add_arguments",
    "parse_size",
    "run",
]

EXIT_ERROR = 1  # the upload could not be finished (it can be resumed by running again)
EXIT_USAGE = 2  # as argparse: bad flags or arguments
EXIT_AUTH = 3  # the server refused the credentials
EXIT_VIDEO_FAILED = 4  # --wait: the upload arrived, but the video could not be made
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT

TUS_PATH = "/api/upload/video/tus"  # trioflix.uploads.service.TUS_PATH (not imported: server-only)
DEFAULT_SERVER = "http://127.0.0.1:8000"  # `trioflix serve`'s default --http
MIB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 32 * MIB  # the server fsyncs at every request's end: fewer, larger is faster
IO_BLOCK = MIB  # read and send the file in blocks of this size
CHECKSUM_PREFERENCE = ("sha256", "sha1", "md5")
DEFAULT_RETRIES = 8  # consecutive failures without progress before giving up (about 2 min)
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
WAIT_DEFAULT_S = 3600.0  # --wait gives up after an hour of processing
RESUME_KEEP_S = 30 * 86400  # forget remembered uploads after 30 days (the server's expire sooner)
CONNECT_TIMEOUT_S = 10.0
# The server answers 408 after 60 s without a body byte; a response taking
# longer than this means the connection is dead, not that the server is slow.
IO_TIMEOUT_S = 120.0
SSE_READ_TIMEOUT_S = 60.0  # the status stream sends a keep-alive every 15 s
STREAM_RECONNECT_S = 1.0  # pause before following a status stream that ended early again
RETRY_STATUSES = frozenset({408, 423, 429, 460, 500, 502, 503, 504, 507})


class UploadError(Exception):
    """The upload cannot go on; the message is for the user.

    Attributes:
        exit_code: The process exit status to report.
    """

    exit_code = EXIT_ERROR


class AuthError(UploadError):
    """The server refused the token or the name and password."""

    exit_code = EXIT_AUTH


class _Transient(Exception):
    """A failure worth retrying after a pause."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- arguments -------------------------------------------------------------

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


class _UsageError(Exception):
    """Bad or missing flags (exit status 2)."""


def _options(args: argparse.Namespace, password_input: IO[str]) -> Options:
    server = str(args.server).rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _UsageError(f"--server must be an http:// or https:// URL, not {server!r}")
    if args.token is None and args.user is None:
        raise _UsageError("log in with --token (or TRIOFLIX_TOKEN) or --user NAME")
    password = None
    if args.token is None:
        if args.password_stdin:
            password = password_input.readline().rstrip("\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.user}: ")
        else:
            raise _UsageError("no terminal to ask for the password: use --password-stdin")
    if args.retries < 0:
        raise _UsageError("--retries must be 0 or more")
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


# --- remembered uploads ----------------------------------------------------


class ResumeStore:
    """Upload URLs of unfinished uploads, in one JSON file.

    Each entry is ``key -> {"url", "path", "saved_at"}``. Writers take an
    exclusive ``flock`` on a lock file beside it and replace the file
    atomically, so two clients uploading different files at once do not lose
    each other's entries, and a crash never leaves half a file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(server: str, file: Path, size: int, mtime_ns: int) -> str:
        """The entry for one version of one file on one server."""
        identity = json.dumps([server, str(file), size, mtime_ns])
        return hashlib.sha256(identity.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        entry = self._read().get(key)
        return str(entry["url"]) if isinstance(entry, dict) and "url" in entry else None

    def put(self, key: str, url: str, file: Path) -> None:
        with self._locked() as entries:
            entries[key] = {"url": url, "path": str(file), "saved_at": time.time()}

    def forget(self, key: str) -> None:
        with self._locked() as entries:
            entries.pop(key, None)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            yield entries
            cutoff = time.time() - RESUME_KEEP_S
            kept = {
                k: v
                for k, v in entries.items()
                if isinstance(v, dict) and float(v.get("saved_at", 0)) >= cutoff
            }
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(kept, indent=1))
            os.replace(temporary, self.path)


# --- HTTP ------------------------------------------------------------------


def _error_text(response: httpx.Response) -> str:
    """The API's ``{"error": {"message"}}``, else the status line."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(response.json()["error"]["message"])
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _transient(response: httpx.Response, what: str) -> _Transient:
    return _Transient(
        f"{what}: {response.status_code} {_error_text(response)}", _retry_after(response)
    )


def _offset_header(response: httpx.Response) -> int:
    value = response.headers.get("Upload-Offset", "")
    if not value.isdigit():
        raise UploadError(f"the server sent a bad Upload-Offset: {value!r}")
    return int(value)


class _Backoff:
    """Pauses between attempts: 0.5 s doubling to 30 s, with jitter, at most
    ``attempts`` in a row; :meth:`reset` after progress."""

    def __init__(
        self,
        attempts: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.attempts = attempts
        self.failures = 0
        self._sleep = sleep
        self._jitter = jitter

    def reset(self) -> None:
        self.failures = 0

    def pause(self, error: _Transient, say: Callable[[str], None]) -> None:
        self.failures += 1
        if self.failures > self.attempts:
            raise UploadError(
                f"{error} (gave up after {self.attempts} retries; "
                "run the same command again to resume)"
            )
        # +-25% jitter, so clients cut off together do not come back together.
        delay = BACKOFF_FIRST_S * 2 ** (self.failures - 1) * (0.75 + 0.5 * self._jitter())
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        delay = min(delay, BACKOFF_MAX_S)
        say(f"{error}; retrying in {delay:.1f} s ({self.failures}/{self.attempts})")
        self._sleep(delay)


# --- the file --------------------------------------------------------------


class _Source:
    """The file being uploaded, read by offset; notices if it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._fd = os.open(self.path, os.O_RDONLY)
        stat = os.fstat(self._fd)
        if not S_ISREG(stat.st_mode):
            os.close(self._fd)
            raise UploadError(f"{self.path} is not a regular file")
        self.size = stat.st_size
        self.mtime_ns = stat.st_mtime_ns

    def close(self) -> None:
        os.close(self._fd)

    def check_unchanged(self) -> None:
        stat = os.fstat(self._fd)
        if (stat.st_size, stat.st_mtime_ns) != (self.size, self.mtime_ns):
            raise UploadError(f"{self.path} changed while it was being uploaded")

    def blocks(self, start: int, length: int, block: int = IO_BLOCK) -> Iterator[bytes]:
        """``length`` bytes from ``start``, in blocks of at most ``block`` bytes."""
        end = start + length
        while start < end:
            data = os.pread(self._fd, min(block, end - start), start)
            if not data:
                raise UploadError(f"{self.path} got shorter while it was being uploaded")
            start += len(data)
            yield data

    def digest(self, algorithm: str, start: int, length: int) -> bytes:
        hasher = hashlib.new(algorithm, usedforsecurity=False)
        for data in self.blocks(start, length):
            hasher.update(data)
        return hasher.digest()


def _metadata(options: Options, source: _Source) -> str:
    name = source.path.name
    filetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    values = {
        "filename": name,
        "filetype": filetype,
        "title": options.title if options.title is not None else source.path.stem,
        "description": options.description,
    }
    return tus.encode_metadata({k: v.encode() for k, v in values.items() if v})


# --- the upload ------------------------------------------------------------


class _Uploader:
    def __init__(
        self,
        options: Options,
        client: httpx.Client,
        tus_client: httpx.Client,
        say: Callable[[str], None],
    ) -> None:
        self.options = options
        self.client = client  # the API: login, the upload's status
        # tus requests go on connections of their own: ``trioflix serve`` serves a
        # connection that opens with a tus request on the socket, with less CPU per
        # byte than one that opened with another API call (that one is ASGI's).
        self.tus_client = tus_client
        self.say = say
        self.token = options.token
        self.backoff = _Backoff(options.retries)

    # -- requests with retries --

    def _call(self, what: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        """``send()`` until it gets an answer that is not transient."""
        while True:
            try:
                response = send()
            except httpx.TransportError as exc:
                self.backoff.pause(_Transient(f"{what}: {exc or type(exc).__name__}"), self.say)
                continue
            if response.status_code in RETRY_STATUSES:
                self.backoff.pause(_transient(response, what), self.say)
                continue
            return response

    def _auth(self) -> dict[str, str]:
        assert self.token is not None
        return {"Authorization": f"Bearer {self.token}"}

    def _tus(self) -> dict[str, str]:
        return {"Tus-Resumable": tus.TUS_RESUMABLE, **self._auth()}

    def _unauthorized(self, response: httpx.Response, what: str) -> NoReturn:
        raise AuthError(f"{what}: {_error_text(response)}")

    # -- steps --

    def log_in(self) -> None:
        if self.token is not None:
            token = self.token
            response = self._call(
                "checking the token",
                lambda: self.client.get(
                    "/api/auth/me", headers={"Authorization": f"Bearer {token}"}
                ),
            )
            if response.status_code == 401:
                self._unauthorized(response, "the server refused the token")
            if response.status_code != 200:
                raise UploadError(f"checking the token: {_error_text(response)}")
            return
        assert self.options.user is not None and self.options.password is not None
        body = {"username": self.options.user, "password": self.options.password}
        response = self._call("logging in", lambda: self.client.post("/api/auth/login", json=body))
        if response.status_code in (400, 401):
            self._unauthorized(response, f"cannot log in as {self.options.user}")
        if response.status_code != 200:
            raise UploadError(f"logging in: {_error_text(response)}")
        self.token = str(response.json()["token"])

    def _relogin_or_fail(self, response: httpx.Response, what: str) -> None:
        """A 401 mid-upload (the token expired): log in again if we can."""
        if self.options.password is None:
            self._unauthorized(response, what)
        self.token = None
        self.log_in()

    def checksum_algorithm(self) -> tuple[str | None, int | None]:
        """The checksum to use and the server's ``Tus-Max-Size``."""
        response = self._call(
            "asking the server (OPTIONS)",
            lambda: self.tus_client.options(TUS_PATH, headers={"Tus-Resumable": tus.TUS_RESUMABLE}),
        )
        if response.status_code not in (200, 204):
            raise UploadError(f"{self.options.server} does not speak tus: {_error_text(response)}")
        extensions = {e.strip() for e in response.headers.get("Tus-Extension", "").split(",")}
        if "creation" not in extensions:
            raise UploadError("the server does not offer the tus creation extension")
        max_size = response.headers.get("Tus-Max-Size", "")
        offered = [
            a.strip().lower() for a in response.headers.get("Tus-Checksum-Algorithm", "").split(",")
        ]
        if "checksum" not in extensions:
            offered = []
        wanted = self.options.checksum
        if wanted == "none":
            algorithm = None
        elif wanted == "auto":
            algorithm = next((a for a in CHECKSUM_PREFERENCE if a in offered), None)
        elif wanted in offered:
            algorithm = wanted
        else:
            raise UploadError(
                f"the server does not offer {wanted} checksums "
                f"(it offers: {', '.join(offered) or 'none'})"
            )
        return algorithm, int(max_size) if max_size.isdigit() else None

    def server_offset(self, url: str, size: int) -> int | None:
        """``HEAD``: the bytes the server holds, or None if it no longer has the upload."""
        while True:
            response = self._call("asking for the offset (HEAD)", lambda: self._head(url))
            if response.status_code == 401:
                self._relogin_or_fail(response, "the server refused the token")
                continue
            if response.status_code in (403, 404, 410):
                return None
            if response.status_code != 200:
                raise UploadError(f"asking for the offset: {_error_text(response)}")
            length = response.headers.get("Upload-Length")
            if length is not None and length != str(size):
                return None  # not this file's upload after all
            return _offset_header(response)

    def _head(self, url: str) -> httpx.Response:
        return self.tus_client.head(url, headers=self._tus())

    def create(self, source: _Source) -> str:
        metadata = _metadata(self.options, source)
        while True:

            def send() -> httpx.Response:
                headers = {**self._tus(), "Upload-Length": str(source.size)}
                if metadata:
                    headers["Upload-Metadata"] = metadata
                return self.tus_client.post(TUS_PATH, headers=headers)

            response = self._call("creating the upload", send)
            if response.status_code == 401:
                self._relogin_or_fail(response, "the server refused the token")
                continue
            if response.status_code == 413:
                raise UploadError(f"the file is too large for this server: {_error_text(response)}")
            if response.status_code != 201 or "Location" not in response.headers:
                raise UploadError(f"creating the upload: {_error_text(response)}")
            return urljoin(self.options.server + TUS_PATH, response.headers["Location"])

    def send_chunk(
        self,
        url: str,
        source: _Source,
        offset: int,
        algorithm: str | None,
        bar: tqdm[Any],
    ) -> int:
        """One ``PATCH`` from ``offset``; returns the server's new offset.

        Raises:
            _Transient: Retry (after a ``HEAD``).
            UploadError: Give up.
        """
        length = min(self.options.chunk_size, source.size - offset)
        source.check_unchanged()
        headers = {
            **self._tus(),
            "Content-Type": tus.OFFSET_OCTET_STREAM,
            "Upload-Offset": str(offset),
            "Content-Length": str(length),
        }
        if algorithm is not None:
            digest = source.digest(algorithm, offset, length)
            headers["Upload-Checksum"] = f"{algorithm} {_b64(digest)}"
        body = _Throttled(source.blocks(offset, length), self.options.limit_rate, bar.update)
        try:
            response = self.tus_client.patch(url, content=iter(body), headers=headers)
        except httpx.TransportError as exc:
            raise _Transient(f"sending bytes {offset}-{offset + length}: {exc!r}") from exc
        if response.status_code == 204:
            return _offset_header(response)
        if response.status_code == 401:
            self._relogin_or_fail(response, "the server refused the token")
            raise _Transient("logged in again")
        if response.status_code in (404, 410):
            raise _UploadGone(_error_text(response))
        if response.status_code in RETRY_STATUSES or response.status_code == 409:
            raise _transient(response, f"sending bytes {offset}-{offset + length}")
        raise UploadError(f"sending bytes {offset}-{offset + length}: {_error_text(response)}")

    def status(self, upload_id: str) -> dict[str, Any]:
        response = self._call(
            "asking for the upload's status",
            lambda: self.client.get(f"/api/upload/status/{upload_id}", headers=self._auth()),
        )
        if response.status_code != 200:
            raise UploadError(f"asking for the upload's status: {_error_text(response)}")
        status: dict[str, Any] = response.json()["upload"]
        return status

    def follow(self, upload_id: str, deadline: float, bar: tqdm[Any] | None) -> dict[str, Any]:
        """The upload's status once the video is ``ready`` or ``failed`` (server-sent events;
        reconnects after a dropped stream)."""
        status = self.status(upload_id)
        while status["state"] not in ("ready", "failed"):
            if time.monotonic() >= deadline:
                raise UploadError(
                    f"the video is still {status['state']} after {self.options.wait_timeout:.0f} s"
                )
            try:
                status = self._read_events(upload_id, deadline, bar, status)
            except httpx.TransportError as exc:
                self.backoff.pause(_Transient(f"following the processing: {exc!r}"), self.say)
            else:
                self.backoff.reset()
                if status["state"] not in ("ready", "failed"):
                    time.sleep(STREAM_RECONNECT_S)  # the stream ended early: do not spin
            status = self.status(upload_id)
        return status

    def _read_events(
        self, upload_id: str, deadline: float, bar: tqdm[Any] | None, status: dict[str, Any]
    ) -> dict[str, Any]:
        timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=SSE_READ_TIMEOUT_S)
        with self.client.stream(
            "GET",
            f"/api/upload/status/{upload_id}/events",
            headers={**self._auth(), "Accept": "text/event-stream"},
            timeout=timeout,
        ) as response:
            if response.status_code != 200:
                response.read()
                raise UploadError(f"following the processing: {_error_text(response)}")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    status = json.loads(line[len("data:") :])
                    if bar is not None and status.get("processing_percent") is not None:
                        bar.n = float(status["processing_percent"])
                        bar.refresh()
                    if status["state"] in ("ready", "failed"):
                        return status
                if time.monotonic() >= deadline:
                    break
        return status


class _UploadGone(Exception):
    """The server no longer has the upload (404, 410): it expired or was deleted."""


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _Throttled:
    """Blocks from ``blocks``, reporting each to ``sent`` and pacing them to ``rate`` B/s."""

    def __init__(
        self,
        blocks: Iterator[bytes],
        rate: int | None,
        sent: Callable[[int], object],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._blocks = blocks
        self._rate = rate
        self._sent = sent
        self._clock = clock
        self._sleep = sleep

    def __iter__(self) -> Iterator[bytes]:
        start = self._clock()
        total = 0
        for data in self._blocks:
            if self._rate is not None:
                # Small pieces keep a slow rate smooth (and the bar honest).
                piece = max(4096, self._rate // 10)
                for at in range(0, len(data), piece):
                    part = data[at : at + piece]
                    ahead = total / self._rate - (self._clock() - start)
                    if ahead > 0:
                        self._sleep(ahead)
                    total += len(part)
                    yield part
                    self._sent(len(part))
            else:
                total += len(data)
                yield data
                self._sent(len(data))


def _bar(options: Options, **kwargs: Any) -> tqdm[Any]:
    return tqdm(
        file=sys.stderr,
        disable=None if options.progress is None else not options.progress,
        dynamic_ncols=True,
        **kwargs,
    )


def _upload(options: Options, uploader: _Uploader, store: ResumeStore) -> tuple[str, int]:
    """Send the file; returns the upload URL and its size."""
    try:
        source = _Source(options.file)
    except OSError as exc:
        raise UploadError(f"cannot read {options.file}: {exc.strerror or exc}") from None
    try:
        uploader.log_in()
        algorithm, max_size = uploader.checksum_algorithm()
        if max_size is not None and source.size > max_size:
            raise UploadError(
                f"{source.path.name} is {source.size} bytes; the server takes at most {max_size}"
            )
        key = ResumeStore.key(options.server, source.path, source.size, source.mtime_ns)
        url = None if options.new else store.get(key)
        offset: int | None = None
        if url is not None:
            offset = uploader.server_offset(url, source.size)
            if offset is None:
                uploader.say("the server no longer has the earlier upload; starting anew")
                store.forget(key)
                url = None
            else:
                uploader.say(f"resuming {url} at byte {offset} of {source.size}")
        for _attempt in range(2):
            if url is None:
                url = uploader.create(source)
                store.put(key, url, source.path)
                offset = 0
            assert offset is not None
            try:
                _send(uploader, url, source, offset, algorithm)
            except _UploadGone as exc:
                uploader.say(f"the server lost the upload ({exc}); starting anew")
                store.forget(key)
                url = None
                continue
            store.forget(key)
            return url, source.size
        raise UploadError("the server dropped the upload twice; giving up")
    finally:
        source.close()


def _send(uploader: _Uploader, url: str, source: _Source, offset: int, algo: str | None) -> None:
    options = uploader.options
    with _bar(
        options,
        total=source.size,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=source.path.name,
    ) as bar:
        while offset < source.size:
            try:
                new_offset = uploader.send_chunk(url, source, offset, algo, bar)
            except _Transient as error:
                uploader.backoff.pause(error, uploader.say)
                server = uploader.server_offset(url, source.size)
                if server is None:
                    raise _UploadGone("HEAD found no upload") from None
                if server > offset:
                    uploader.backoff.reset()  # the failed request still moved the upload on
                offset = server
                bar.n = offset
                bar.refresh()
                continue
            if new_offset <= offset:
                raise UploadError(f"the server did not move the offset past {offset}")
            offset = new_offset
            bar.n = offset
            bar.refresh()
            uploader.backoff.reset()


def _report(options: Options, status: dict[str, Any], out: IO[str]) -> int:
    video_id = status.get("video_id")
    result = {
        "upload_id": status["id"],
        "video_id": video_id,
        "state": status["state"],
        "reason": status.get("reason"),
        "video_url": f"{options.server}/api/videos/{video_id}" if video_id else None,
        "hls_url": (
            f"{options.server}/videos/{video_id}/master.m3u8"
            if status["state"] == "ready"
            else None
        ),
    }
    if options.json:
        print(json.dumps(result), file=out)
    else:
        print(f"video {video_id}: {status['state']}", file=out)
        if result["reason"]:
            print(f"  reason: {result['reason']}", file=out)
        for name in ("video_url", "hls_url"):
            if result[name]:
                print(f"  {result[name]}", file=out)
    return EXIT_VIDEO_FAILED if status["state"] == "failed" else 0


def upload(options: Options, out: IO[str] = sys.stdout) -> int:
    """Upload ``options.file`` (resuming if it can) and report the video on ``out``.

    Returns:
        The exit status: 0, or :data:`EXIT_VIDEO_FAILED` if ``--wait`` saw it fail.

    Raises:
        UploadError: With the message and exit status to report.
    """

    def say(message: str) -> None:
        tqdm.write(f"trioflix upload: {message}", file=sys.stderr)

    timeout = httpx.Timeout(IO_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    headers = {"User-Agent": f"trioflix-upload/{__version__}"}
    store = ResumeStore(options.state_file)
    with (
        httpx.Client(base_url=options.server, timeout=timeout, headers=headers) as client,
        httpx.Client(base_url=options.server, timeout=timeout, headers=headers) as tus_client,
    ):
        uploader = _Uploader(options, client, tus_client, say)
        url, size = _upload(options, uploader, store)
        upload_id = url.rstrip("/").rsplit("/", 1)[1]
        say(f"uploaded {size} bytes as {url}")
        if not options.wait:
            return _report(options, uploader.status(upload_id), out)
        deadline = time.monotonic() + options.wait_timeout
        with _bar(options, total=100, desc="processing", unit="%") as bar:
            status = uploader.follow(upload_id, deadline, bar)
        return _report(options, status, out)


def run(args: argparse.Namespace, password_input: IO[str] = sys.stdin) -> int:
    """``trioflix upload``: run it and turn failures into a message and an exit status."""
    try:
        options = _options(args, password_input)
    except _UsageError as exc:
        print(f"trioflix upload: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return upload(options)
    except UploadError as exc:
        print(f"trioflix upload: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "\ntrioflix upload: interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
