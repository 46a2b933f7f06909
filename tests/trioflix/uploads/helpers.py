"""Shared helpers for the upload tests: tus requests by hand (httpx, or h11 on one
kept-alive connection), sample media made with PyAV."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from contextlib import asynccontextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import av
import h11
import trio

from tests.api import auth as auth  # the tests import it from here
from tests.h11_reader import read_response
from tests.waiting import wait_until
from trioflix.media.library import get_video
from trioflix.media.processing import ORIGINAL_NAME, WORK_DIR, source_keys
from trioflix.storage import ObjectNotFound

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    import httpx

    from tests.conftest import Server
    from tests.seaweedfs import SeaweedServer

TUS = "/api/upload/video/tus"
JS_DIR = Path(__file__).resolve().parents[2] / "js"
#: Runs tus-js-client scenarios (see the script's header).
SCRIPT = JS_DIR / "tus_upload.mjs"
V = {"Tus-Resumable": "1.0.0"}
STREAM = {"Content-Type": "application/offset+octet-stream"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def create(client: httpx.AsyncClient, token: str, length: int | None, **headers: str) -> str:
    """POST a new upload; returns its path."""
    h = {**V, **auth(token), **headers}
    if length is not None:
        h["Upload-Length"] = str(length)
    response = await client.post(TUS, headers=h)
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith(TUS + "/")
    return location


async def patch(
    client: httpx.AsyncClient, token: str, path: str, offset: int, data: bytes, **headers: str
) -> httpx.Response:
    return await client.patch(
        path,
        content=data,
        headers={**V, **STREAM, **auth(token), "Upload-Offset": str(offset), **headers},
    )


async def head(client: httpx.AsyncClient, token: str, path: str) -> httpx.Response:
    return await client.head(path, headers={**V, **auth(token)})


def stored_size(data_dir: Path, path: str) -> int:
    """How many bytes of the upload at ``path`` (its URL path) the server has written
    to its data file: the bytes it has received, give or take one write's linger."""
    try:
        return (data_dir / "uploads" / f"{path.rsplit('/', 1)[1]}.bin").stat().st_size
    except FileNotFoundError:
        return 0


def upload_id(path: str) -> str:
    """The upload id at the end of an upload's URL path."""
    return path.rsplit("/", 1)[1]


async def finished_bytes(server: Server, token: str, path: str) -> bytes:
    """The bytes of the finished upload at ``path``, as the store holds them
    (:func:`video_source` of the video it became)."""
    status = await server.client.get(f"/api/upload/status/{upload_id(path)}", headers=auth(token))
    return await video_source(server, status.json()["upload"]["video_id"])


async def open_multipart_uploads(seaweed: SeaweedServer, storage_url: str) -> list[str]:
    """The keys of the multipart uploads still open in the bucket of ``storage_url``."""
    bucket = urlsplit(storage_url).netloc

    def listing() -> list[str]:
        client = seaweed.client()
        try:
            answer = client.list_multipart_uploads(Bucket=bucket)
        finally:
            client.close()
        return [upload["Key"] for upload in answer.get("Uploads", [])]

    return await trio.to_thread.run_sync(listing)


async def raw_patch_start(
    address: str,
    token: str,
    path: str,
    offset: int,
    total: int,
    sent: bytes,
    *,
    expect_continue: bool = False,
) -> trio.SocketStream:
    """Open a PATCH to ``address`` (host:port) announcing ``total`` body bytes, send
    ``sent`` of them, and leave it open."""
    host, port = address.rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    head_lines = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\nContent-Length: {total}\r\n"
        + ("Expect: 100-continue\r\n" if expect_continue else "")
        + "\r\n"
    )
    await stream.send_all(head_lines.encode() + sent)
    return stream


async def raw_patch_finish(stream: trio.SocketStream, rest: bytes) -> tuple[int, bytes, bytes]:
    """Send ``rest`` of a PATCH begun with :func:`raw_patch_start` while reading its answer,
    which may come before the body is sent; returns (status, head, body) and closes the
    stream."""
    reply = bytearray()

    async def send_body() -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(rest)

    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(send_body)
        with trio.fail_after(20):
            while not _complete_response(reply):
                chunk = await stream.receive_some(65536)
                assert chunk, "the server closed the connection without an answer"
                reply.extend(chunk)
        nursery.cancel_scope.cancel()
    head_part, _, body = bytes(reply).partition(b"\r\n\r\n")
    return int(head_part.split()[1]), head_part, body


async def raw_patch(
    server: Server, token: str, path: str, offset: int, data: bytes
) -> tuple[int, bytes]:
    """A whole PATCH over a raw socket, for answers that arrive before the body is sent
    (the server then closes the connection, which httpx reports as a leaked stream)."""
    stream = await raw_patch_start(server.settings.http, token, path, offset, len(data), b"")
    status, head_part, body = await raw_patch_finish(stream, data)
    assert b"connection: close" in head_part.lower()  # the rest of the body is not wanted
    return status, body


def _complete_response(reply: bytearray) -> bool:
    head_part, separator, body = bytes(reply).partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head_part.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def job_children(parent_pid: int | None = None) -> dict[int, int]:
    """The job children (``trioflix.jobs.child``) of this process, or of
    ``parent_pid``: pid -> nice value."""
    parent_pid = os.getpid() if parent_pid is None else parent_pid
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
            # Field 4 is the parent pid; the command name (field 2) may hold spaces.
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == parent_pid and b"trioflix.jobs.child" in command:
                found[int(entry.name)] = os.getpriority(os.PRIO_PROCESS, int(entry.name))
        except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
            continue
    return found


def exited(pid: int) -> bool:
    """The process has exited (a zombie counts: it runs no more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def upload_until_its_job_runs(
    client: httpx.AsyncClient, server_pid: int, data: bytes
) -> tuple[str, int]:
    """Register ``alice`` on the served instance ``server_pid``, upload ``data`` whole with
    tus, and wait for its processing job's child: her token and the child's pid."""
    registered = await client.post(
        "/api/auth/register", json={"username": "alice", "password": "password1"}
    )
    token = registered.json()["token"]
    path = await create(client, token, len(data))
    assert (await patch(client, token, path, 0, data)).status_code == 204
    await wait_until(lambda: bool(job_children(server_pid)))
    (child,) = job_children(server_pid)
    return token, child


def make_video(
    path: Path,
    *,
    seconds: float = 3.0,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    black_until: float = 0.0,
) -> None:
    """A small H.264 + AAC MP4: black until ``black_until`` seconds, then a moving
    gradient, with a silent stereo track."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        frames = int(seconds * fps)
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for index, plane in enumerate(frame.planes):
                if i < black_until * fps:
                    row = bytes([16 if index == 0 else 128]) * plane.line_size
                else:
                    row = bytes(
                        (x * 2 + 5 * i + 60 * index) % 200 + 30 for x in range(plane.line_size)
                    )
                plane.update(row * plane.height)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        samples_per_frame = 1024
        for n in range(int(seconds * 48000 / samples_per_frame)):
            sound = av.AudioFrame(format="fltp", layout="stereo", samples=samples_per_frame)
            silence = bytes(4 * samples_per_frame)
            for channel in sound.planes:
                channel.update(silence)
            sound.sample_rate = 48000
            sound.pts = n * samples_per_frame
            sound.time_base = Fraction(1, 48000)
            for packet in audio.encode(sound):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)


class RawClient:
    """One kept-alive HTTP/1.1 connection, driven with h11.

    A body is sent chunked (then ``trailers`` may follow it) unless the headers give
    its ``Content-Length``; ``between`` is awaited after its first chunk is sent.
    """

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self._stream = stream
        self._host = host
        self._conn = h11.Connection(h11.CLIENT)

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        chunks: tuple[bytes, ...] = (),
        trailers: dict[str, str] | None = None,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        fields = [("Host", self._host), *headers.items()]
        if (chunks or trailers is not None) and "Content-Length" not in headers:
            fields.append(("Transfer-Encoding", "chunked"))
        out = self._conn.send(h11.Request(method=method, target=target, headers=fields))
        for number, chunk in enumerate(chunks):
            await self._stream.send_all(out + self._conn.send(h11.Data(data=chunk)))
            out = b""
            if number == 0 and between is not None:
                await between()
        out += self._conn.send(h11.EndOfMessage(headers=list((trailers or {}).items())))
        await self._stream.send_all(out)
        answer = await read_response(self._conn, self._stream)
        if self._conn.their_state is h11.DONE:  # else the server closes the connection
            self._conn.start_next_cycle()
        return answer


@asynccontextmanager
async def connect(server: Server) -> AsyncIterator[RawClient]:
    url = urlsplit(server.url)
    assert url.hostname is not None and url.port is not None
    async with await trio.open_tcp_stream(url.hostname, url.port) as stream:
        yield RawClient(stream, url.netloc)


async def fetch_file(client: httpx.AsyncClient, url: str, path: Path) -> Path:
    """GET ``url`` as a player does (following a redirect to the store) into ``path``."""
    response = await client.get(url, follow_redirects=True)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    await trio.Path(path).parent.mkdir(parents=True, exist_ok=True)
    await trio.Path(path).write_bytes(response.content)
    return path


async def video_prefix(server: Server, video_id: int) -> str:
    """Where the video's objects are in the served instance's store."""
    video = await get_video(server.app.trioflix.db, video_id)
    assert video is not None
    return video.prefix


def job_work_dirs(server: Server) -> list[str]:
    """The processing jobs' working directories left in the data directory."""
    work = server.settings.host_dir / WORK_DIR
    return os.listdir(work) if work.exists() else []


async def video_source(server: Server, video_id: int) -> bytes:
    """The bytes a video is made from, as the store holds them: its job's source
    objects, or, once it is ready, its kept original (``keep_originals``)."""
    objects = server.app.trioflix.objects
    keys = await source_keys(server.app.trioflix.db, video_id)
    try:
        return b"".join([await objects.read_bytes(key) for key in keys])
    except ObjectNotFound:
        return await objects.read_bytes(await video_prefix(server, video_id) + ORIGINAL_NAME)
