"""The tus requests that move the file: ``OPTIONS``, ``POST``, ``HEAD`` and ``PATCH``.

tus requests go on a connection of their own (``tus_client``): ``trioflix
serve`` serves a connection that opens with a tus request on the socket, with
less CPU per byte than one that opened with another API call (that one is
ASGI's).
"""

from __future__ import annotations

import base64
import mimetypes
import time
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx

from protocols import tus
from trioflix.client.arguments import CHECKSUM_PREFERENCE
from trioflix.client.errors import UploadError
from trioflix.client.progress import move_to, progress_bar
from trioflix.client.resume import ResumeStore
from trioflix.client.retry import RETRY_STATUSES, Transient, error_text, transient
from trioflix.client.source import SourceFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from trioflix.client.arguments import Options
    from trioflix.client.session import Session

__all__ = ["TUS_PATH", "Throttled", "TusTransfer", "UploadGone", "upload_file"]

TUS_PATH = "/api/upload/video/tus"  # trioflix.uploads.service.TUS_PATH (not imported: server-only)


class UploadGone(Exception):
    """The server no longer has the upload (404, 410): it expired or was deleted."""


class TusTransfer:
    """The tus requests of one upload, made as ``session``'s user.

    Args:
        session: Logs in (again) and retries.
        tus_client: The HTTP client for tus requests (``base_url`` is the server).
    """

    def __init__(self, session: Session, tus_client: httpx.Client) -> None:
        self.session = session
        self.options = session.options
        self.tus_client = tus_client

    def _headers(self) -> dict[str, str]:
        return {"Tus-Resumable": tus.TUS_RESUMABLE, **self.session.auth()}

    def checksum_algorithm(self) -> tuple[str | None, int | None]:
        """The checksum to use and the server's ``Tus-Max-Size``."""
        response = self.session.call(
            "asking the server (OPTIONS)",
            lambda: self.tus_client.options(TUS_PATH, headers={"Tus-Resumable": tus.TUS_RESUMABLE}),
        )
        if response.status_code not in (200, 204):
            raise UploadError(f"{self.options.server} does not speak tus: {error_text(response)}")
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
            response = self.session.call(
                "asking for the offset (HEAD)",
                lambda: self.tus_client.head(url, headers=self._headers()),
            )
            if response.status_code == 401:
                self.session.relogin_or_fail(response, "the server refused the token")
                continue
            if response.status_code in (403, 404, 410):
                return None
            if response.status_code != 200:
                raise UploadError(f"asking for the offset: {error_text(response)}")
            length = response.headers.get("Upload-Length")
            if length is not None and length != str(size):
                return None  # not this file's upload after all
            return _offset_header(response)

    def create(self, source: SourceFile) -> str:
        """``POST``: a new upload of ``source``; returns its URL."""
        metadata = _metadata(self.options, source)
        while True:

            def send() -> httpx.Response:
                headers = {**self._headers(), "Upload-Length": str(source.size)}
                if metadata:
                    headers["Upload-Metadata"] = metadata
                return self.tus_client.post(TUS_PATH, headers=headers)

            response = self.session.call("creating the upload", send)
            if response.status_code == 401:
                self.session.relogin_or_fail(response, "the server refused the token")
                continue
            if response.status_code == 413:
                raise UploadError(f"the file is too large for this server: {error_text(response)}")
            if response.status_code != 201 or "Location" not in response.headers:
                raise UploadError(f"creating the upload: {error_text(response)}")
            return urljoin(self.options.server + TUS_PATH, response.headers["Location"])

    def send_chunk(
        self,
        url: str,
        source: SourceFile,
        offset: int,
        algorithm: str | None,
        sent: Callable[[int], object],
    ) -> int:
        """One ``PATCH`` from ``offset``; returns the server's new offset.

        Args:
            url: The upload.
            source: The file.
            offset: Where the server stands.
            algorithm: The checksum to send, if any.
            sent: Told the size of every block as it leaves.

        Raises:
            Transient: Retry (after a ``HEAD``).
            UploadGone: The server no longer has the upload.
            UploadError: Give up.
        """
        length = min(self.options.chunk_size, source.size - offset)
        source.check_unchanged()
        headers = {
            **self._headers(),
            "Content-Type": tus.OFFSET_OCTET_STREAM,
            "Upload-Offset": str(offset),
            "Content-Length": str(length),
        }
        if algorithm is not None:
            digest = source.digest(algorithm, offset, length)
            headers["Upload-Checksum"] = f"{algorithm} {_b64(digest)}"
        body = Throttled(source.blocks(offset, length), self.options.limit_rate, sent)
        try:
            response = self.tus_client.patch(url, content=iter(body), headers=headers)
        except httpx.TransportError as exc:
            raise Transient(f"sending bytes {offset}-{offset + length}: {exc!r}") from exc
        if response.status_code == 204:
            return _offset_header(response)
        if response.status_code == 401:
            self.session.relogin_or_fail(response, "the server refused the token")
            raise Transient("logged in again")
        if response.status_code in (404, 410):
            raise UploadGone(error_text(response))
        if response.status_code in RETRY_STATUSES or response.status_code == 409:
            raise transient(response, f"sending bytes {offset}-{offset + length}")
        raise UploadError(f"sending bytes {offset}-{offset + length}: {error_text(response)}")


def _offset_header(response: httpx.Response) -> int:
    value = response.headers.get("Upload-Offset", "")
    if not value.isdigit():
        raise UploadError(f"the server sent a bad Upload-Offset: {value!r}")
    return int(value)


def _metadata(options: Options, source: SourceFile) -> str:
    name = source.path.name
    filetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    values = {
        "filename": name,
        "filetype": filetype,
        "title": options.title if options.title is not None else source.path.stem,
        "description": options.description,
    }
    return tus.encode_metadata({k: v.encode() for k, v in values.items() if v})


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class Throttled:
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


def upload_file(options: Options, transfer: TusTransfer, store: ResumeStore) -> tuple[str, int]:
    """Log in and send ``options.file``, resuming a remembered upload if the server has it.

    Returns:
        The upload URL and the file's size.

    Raises:
        UploadError: The upload cannot be finished now (running again resumes it).
    """
    try:
        source = SourceFile(options.file)
    except OSError as exc:
        raise UploadError(f"cannot read {options.file}: {exc.strerror or exc}") from None
    session = transfer.session
    try:
        session.log_in()
        algorithm, max_size = transfer.checksum_algorithm()
        if max_size is not None and source.size > max_size:
            raise UploadError(
                f"{source.path.name} is {source.size} bytes; the server takes at most {max_size}"
            )
        key = ResumeStore.key(options.server, source.path, source.size, source.mtime_ns)
        url = None if options.new else store.get(key)
        offset: int | None = None
        if url is not None:
            offset = transfer.server_offset(url, source.size)
            if offset is None:
                session.say("the server no longer has the earlier upload; starting anew")
                store.forget(key)
                url = None
            else:
                session.say(f"resuming {url} at byte {offset} of {source.size}")
        for _attempt in range(2):
            if url is None:
                url = transfer.create(source)
                store.put(key, url, source.path)
                offset = 0
            assert offset is not None
            try:
                _send(transfer, url, source, offset, algorithm)
            except UploadGone as exc:
                session.say(f"the server lost the upload ({exc}); starting anew")
                store.forget(key)
                url = None
                continue
            store.forget(key)
            return url, source.size
        raise UploadError("the server dropped the upload twice; giving up")
    finally:
        source.close()


def _send(
    transfer: TusTransfer, url: str, source: SourceFile, offset: int, algo: str | None
) -> None:
    backoff = transfer.session.backoff
    with progress_bar(
        transfer.options,
        total=source.size,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=source.path.name,
    ) as bar:
        while offset < source.size:
            try:
                new_offset = transfer.send_chunk(url, source, offset, algo, bar.update)
            except Transient as error:
                backoff.pause(error, transfer.session.say)
                server = transfer.server_offset(url, source.size)
                if server is None:
                    raise UploadGone("HEAD found no upload") from None
                if server > offset:
                    backoff.reset()  # the failed request still moved the upload on
                offset = server
                move_to(bar, offset)
                continue
            if new_offset <= offset:
                raise UploadError(f"the server did not move the offset past {offset}")
            offset = new_offset
            move_to(bar, offset)
            backoff.reset()
