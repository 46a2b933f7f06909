"""Lightweight HTTP-FLV and RTMP viewers for the benchmarks: many sockets in one Trio process.

An HTTP-FLV viewer is one TCP connection, an HTTP/1.1 GET (``h11``) and an
incremental FLV parse of the body (``protocols.flv``): it counts bytes, notes when
each tag arrived and when the first video keyframe was complete. An RTMP viewer
(:func:`watch_rtmp`) is the same over ``protocols.rtmp``: handshake, ``connect``,
``createStream``, ``play``, then the media messages as tags. Nothing is decoded, so
a few hundred 3 Mbit/s viewers cost a fraction of one core instead of a few hundred
ffmpeg processes; the same client watches every server under test.

A *light* viewer (``--light``, for audiences of a thousand on two cores) parses
everything up to its first complete keyframe as above, then hands its socket to the
process's :class:`Drain`: one timer reads every such socket every
:data:`DRAIN_TICK_S`, and an HTTP-FLV viewer only walks the tag framing
(:class:`TagFraming`: every tag header and PreviousTagSize checked, bodies skipped)
while an RTMP viewer, handed over as soon as its play is accepted, keeps parsing with
``protocols.rtmp`` (it must answer the server). A light viewer costs a few system
calls a second instead of one wake-up per write of the server, whose cost is what
is measured.

Run as a process (``python -m bench._flv_viewers --help``) it starts ``--count``
viewers spread over ``--ramp-s`` and prints one JSON object with every viewer's
figures. ``bench/live.py`` and ``bench/cluster.py`` spread large audiences over
several such processes.

Clock: ``time.monotonic()`` throughout. On Linux it is ``CLOCK_MONOTONIC``, one
clock for every process of the machine, so the orchestrator hands measurement
windows to viewer processes as absolute values.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import struct
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING

import h11
import trio

from bench._rtmp_publisher import RTMPClient
from protocols import flv, rtmp

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    TagCallback = Callable[[flv.FLVTag, float], None]
    # watch or watch_rtmp: (host, port, path or stream name, result, *, window).
    Watcher = Callable[..., Awaitable[None]]

__all__ = ["Drain", "TagFraming", "ViewerResult", "watch", "watch_rtmp"]

RECEIVE_BYTES = 256 * 1024  # a few batches of a 3 Mbit/s stream: few wake-ups per viewer
# 19 KB of a 3 Mbit/s stream per tick: far inside a loopback socket's buffers, so the
# server never waits for a light viewer, and 20 wake-ups a second per process.
DRAIN_TICK_S = 0.05
# PreviousTagSize of one tag, then the 11-byte header of the next: type, size, timestamp
# (24 bits + 8 extended), stream id.
_RECORD = struct.Struct(">IB3s3sB3s")
# Loopback connects take microseconds; a thousand niced viewers on a busy shared machine,
# where the name lookup runs in a worker thread, have been seen to take over 5 s.
CONNECT_TIMEOUT_S = 15.0
NEVER = math.inf
FLV_HEADER_BYTES = 9 + 4  # the header as every server sends it (DataOffset 9), PreviousTagSize0


@dataclass
class ViewerResult:
    """What one viewer saw. Times are ``time.monotonic()`` seconds.

    Attributes:
        started_at: When the TCP connect began.
        status: The HTTP status, once the response head arrived.
        first_keyframe_s: From ``started_at`` to the first complete video keyframe tag.
        bytes_total: FLV body bytes received.
        window_bytes: Body bytes received inside the measurement window.
        window_media_ms: Video timestamp span of the tags received inside the window:
            about the window's length when the viewer gets the stream in real time.
        tags: FLV tags parsed.
        error: Why the viewer stopped early (connect failure, protocol error, ...).
        ended_early: The server ended the stream before the viewer was stopped.
    """

    started_at: float = 0.0
    status: int | None = None
    first_keyframe_s: float | None = None
    bytes_total: int = 0
    window_bytes: int = 0
    window_media_ms: int = 0
    tags: int = 0
    error: str | None = None
    ended_early: bool = False


def _is_keyframe(tag: flv.FLVTag) -> bool:
    if tag.tag_type != flv.TagType.VIDEO:
        return False
    video = flv.parse_video_tag(tag.data)
    return video.is_keyframe and video.is_coded_frame


class TagFraming:
    """Walks an FLV body's tag framing without copying the tag bodies.

    Starts at a PreviousTagSize (of a tag already parsed, ``previous_size`` bytes of
    header and body). Every later PreviousTagSize must match its tag, every tag type
    must be audio, video or script data, every stream id 0.

    Attributes:
        tags: Tag headers walked.
    """

    def __init__(self, previous_size: int) -> None:
        self.tags = 0
        self._expected = previous_size
        self._skip = 0  # body bytes of the current tag still to come
        self._partial = b""  # the start of a record split between reads

    def feed(self, data: bytes | memoryview) -> list[int]:
        """Walk ``data``, the next bytes of the body: the video tags' timestamps (ms).

        Raises:
            flv.FLVError: The framing is broken.
        """
        video: list[int] = []
        at, end = 0, len(data)
        while True:
            if self._skip:
                step = min(self._skip, end - at)
                self._skip -= step
                at += step
                if self._skip:
                    return video
            need = _RECORD.size - len(self._partial)
            if end - at < need:
                self._partial += bytes(data[at:end])
                return video
            record = self._partial + bytes(data[at : at + need])
            at += need
            self._partial = b""
            previous, kind, size, low, high, stream = _RECORD.unpack(record)
            if previous != self._expected:
                raise flv.FLVError(f"PreviousTagSize {previous}, expected {self._expected}")
            if kind not in (flv.TagType.AUDIO, flv.TagType.VIDEO, flv.TagType.SCRIPT_DATA):
                raise flv.FLVError(f"tag type {kind}")
            if stream != b"\0\0\0":
                raise flv.FLVError("stream id not 0")
            body = int.from_bytes(size)
            self.tags += 1
            if kind == flv.TagType.VIDEO:
                video.append(int.from_bytes(low) | high << 24)
            self._expected = 11 + body
            self._skip = body


class Drain:
    """Reads the sockets of this process's light viewers, all on one timer.

    A viewer calls :meth:`follow` once its first keyframe is in; :meth:`run`, started
    once per process, then reads what its socket holds every :data:`DRAIN_TICK_S`
    (non-blocking, into one shared buffer) and hands it to the viewer's ``feed``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray(RECEIVE_BYTES)
        self._viewers: dict[int, tuple[Callable[[memoryview, float], bool], trio.Event]] = {}

    async def run(self) -> None:
        view = memoryview(self._buffer)
        while True:
            await trio.sleep(DRAIN_TICK_S)
            now = time.monotonic()
            for fd, (feed, done) in list(self._viewers.items()):
                while True:
                    try:
                        count = os.readv(fd, [view])
                    except BlockingIOError:
                        break
                    except OSError:
                        count = 0
                    if not count or not feed(view[:count], now):
                        done.set()
                        del self._viewers[fd]
                        break
                    if count < len(view):
                        break

    async def follow(self, fd: int, feed: Callable[[memoryview, float], bool]) -> None:
        """Hand ``fd`` to the drain until ``feed`` returns ``False`` or the socket ends
        (``feed`` is then called no more); cancel to stop following.

        ``feed(data, now)`` gets every read (``now`` is the tick's monotonic time).
        """
        done = trio.Event()
        self._viewers[fd] = (feed, done)
        try:
            await done.wait()
        finally:
            self._viewers.pop(fd, None)


class _Window:
    """The measurement window's share of one viewer's figures."""

    def __init__(self, result: ViewerResult, window: tuple[float, float]) -> None:
        self.result = result
        self.start, self.end = window
        self.first_ts: int | None = None

    def add(self, count: int, now: float) -> bool:
        """``count`` bytes arrived at ``now``: whether ``now`` is inside the window."""
        self.result.bytes_total += count
        if self.start <= now < self.end:
            self.result.window_bytes += count
            return True
        return False

    def video(self, timestamp_ms: int) -> None:
        """A video tag arrived inside the window."""
        if self.first_ts is None:
            self.first_ts = timestamp_ms
        self.result.window_media_ms = timestamp_ms - self.first_ts


async def watch(
    host: str,
    port: int,
    path: str,
    result: ViewerResult,
    *,
    window: tuple[float, float] = (NEVER, NEVER),
    on_tag: TagCallback | None = None,
    until_keyframe: bool = False,
    drain: Drain | None = None,
) -> None:
    """Watch ``http://host:port/path`` until cancelled or the server ends the stream.

    Args:
        result: Filled in as data arrives, so a cancelled viewer still has its figures.
        window: ``(start, end)`` monotonic times; bytes and media time received in
            between go to ``window_bytes`` and ``window_media_ms``.
        on_tag: Called with every tag and the monotonic time its last byte arrived.
        until_keyframe: Return once the first video keyframe is complete.
        drain: Be a light viewer: after the first keyframe, ``drain`` reads the socket
            and only the tag framing is walked (``on_tag`` is then called no more).

    Error handling:
        Connection, HTTP and FLV errors end this viewer only; they are recorded in
        ``result.error``. Cancellation propagates.
    """
    result.started_at = time.monotonic()
    measured = _Window(result, window)
    http = h11.Connection(h11.CLIENT)
    reader = flv.FLVReader()
    parsed = 0  # body bytes the reader has turned into the header and tags
    chunked = False
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S):
            stream = await trio.open_tcp_stream(host, port)
        async with stream:
            request = h11.Request(
                method="GET",
                target=path,
                headers=[("Host", f"{host}:{port}"), ("User-Agent", "trioflix-bench")],
            )
            await stream.send_all(http.send(request) + (http.send(h11.EndOfMessage()) or b""))
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    http.receive_data(await stream.receive_some(RECEIVE_BYTES))
                    continue
                if isinstance(event, h11.Response):
                    result.status = event.status_code
                    if event.status_code != 200:
                        result.error = f"HTTP {event.status_code}"
                        return
                    chunked = (b"transfer-encoding", b"chunked") in event.headers
                    continue
                if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    result.ended_early = True
                    return
                if not isinstance(event, h11.Data):
                    continue
                now = time.monotonic()
                data = bytes(event.data)
                in_window = measured.add(len(data), now)
                reader.receive_data(data)
                while isinstance(tag := reader.next_event(), flv.FLVTag | flv.FLVHeader):
                    if isinstance(tag, flv.FLVHeader):
                        parsed += FLV_HEADER_BYTES
                        continue
                    parsed += 11 + len(tag.data) + 4
                    result.tags += 1
                    if on_tag is not None:
                        on_tag(tag, now)
                    if in_window and tag.tag_type == flv.TagType.VIDEO:
                        measured.video(tag.timestamp_ms)
                    if result.first_keyframe_s is None and _is_keyframe(tag):
                        result.first_keyframe_s = now - result.started_at
                        if until_keyframe:
                            return
                        if drain is not None:
                            # From the keyframe's PreviousTagSize on, all in this read.
                            rest = data[len(data) - (result.bytes_total - parsed) - 4 :]
                            framing = TagFraming(11 + len(tag.data))
                            await _follow(
                                drain, stream, http if chunked else None, framing, rest, measured
                            )
                            return
    except (OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
        result.error = f"connection: {exc!r}"
    except (h11.ProtocolError, flv.FLVError) as exc:
        result.error = f"protocol: {exc!r}"


async def _follow(
    drain: Drain,
    stream: trio.SocketStream,
    http: h11.Connection | None,
    framing: TagFraming,
    rest: bytes,
    measured: _Window,
) -> None:
    """A light HTTP-FLV viewer from its first keyframe on: ``rest`` is what it read
    past the keyframe tag (the tag's PreviousTagSize first); ``http`` decodes a
    chunked body (``None``: the socket's bytes are the body)."""
    result = measured.result

    def body(data: bytes | memoryview, in_window: bool) -> None:
        for timestamp in framing.feed(data):
            if in_window:
                measured.video(timestamp)
        result.tags = framing.tags

    def pump(now: float) -> bool:
        assert http is not None
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                return True
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return False
            if isinstance(event, h11.Data):
                body(event.data, measured.add(len(event.data), now))

    def feed(data: memoryview, now: float) -> bool:
        try:
            if http is None:
                body(data, measured.add(len(data), now))
                return True
            http.receive_data(bytes(data))
            return pump(now)
        except (h11.ProtocolError, flv.FLVError) as exc:
            result.error = f"protocol: {exc!r}"
            return False

    # Counted already, with the read that carried the keyframe.
    body(rest, False)
    if http is not None and not pump(time.monotonic()):
        result.ended_early = True
        return
    await drain.follow(stream.socket.fileno(), feed)
    if result.error is None:
        result.ended_early = True


async def watch_rtmp(
    host: str,
    port: int,
    name: str,
    result: ViewerResult,
    *,
    window: tuple[float, float] = (NEVER, NEVER),
    on_tag: TagCallback | None = None,
    until_keyframe: bool = False,
    drain: Drain | None = None,
) -> None:
    """Play ``rtmp://host:port/live/name`` as :func:`watch` watches HTTP-FLV.

    ``bytes_total`` and ``window_bytes`` count what the socket delivered (RTMP chunk
    headers included, as the HTTP-FLV viewer counts FLV tag headers); ``status`` stays
    ``None``. The server's acknowledgements and pings are answered. With ``drain``,
    the socket is read by it once the play is accepted; every message is still parsed.

    Error handling:
        As :func:`watch`; a refused play is recorded in ``result.error``, the
        server's end of the stream (Stream EOF, ``NetStream.Play.UnpublishNotify``,
        closing) in ``result.ended_early``.
    """
    result.started_at = time.monotonic()
    measured = _Window(result, window)
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S):
            client = RTMPClient(await trio.open_tcp_stream(host, port))
        async with client.stream:
            # No limit of its own, as an HTTP viewer has none for the response head: the
            # caller bounds the viewer.
            stream_id = await client.open_stream(host, port)
            client.conn.send(rtmp.Play(stream_id=stream_id, stream_name=name, start=-1.0))
            answer = await client.until(rtmp.PlayAccepted, rtmp.PlayRejected)
            if isinstance(answer, rtmp.PlayRejected):
                result.error = f"play refused: {answer.code}"
                return
            # A light player is read by the drain from here on: RTMP servers without a
            # start-up cache (nginx-rtmp) send it messages one at a time until the next
            # keyframe, a wake-up each if it read them itself.
            while drain is None:
                data = await client.stream.receive_some(RECEIVE_BYTES)
                now = time.monotonic()
                if _rtmp_read(client.conn, data, now, measured, on_tag) is not None:
                    return
                if until_keyframe and result.first_keyframe_s is not None:
                    return
                await client.flush()  # acknowledgements, ping responses
            await client.flush()
            await _follow_rtmp(drain, client, measured, on_tag)
    except (OSError, PermissionError, trio.BrokenResourceError, trio.TooSlowError) as exc:
        result.error = f"connection: {exc!r}"
    except rtmp.RTMPError as exc:
        result.error = f"protocol: {exc!r}"


def _rtmp_read(
    conn: rtmp.Connection,
    data: bytes | memoryview,
    now: float,
    measured: _Window,
    on_tag: TagCallback | None,
) -> bool | None:
    """Take one read of an RTMP player: ``None``, or ``True`` once the server ended
    the stream (``result.ended_early`` is set)."""
    result = measured.result
    in_window = measured.add(len(data), now)
    conn.receive_data(data)
    while (event := conn.next_event()) is not rtmp.NEED_DATA:
        if isinstance(event, rtmp.StreamEOF | rtmp.ConnectionClosed) or (
            isinstance(event, rtmp.Status) and event.code == "NetStream.Play.UnpublishNotify"
        ):
            result.ended_early = True
            return True
        if not isinstance(event, rtmp.AudioData | rtmp.VideoData):
            continue
        kind = flv.TagType.AUDIO if isinstance(event, rtmp.AudioData) else flv.TagType.VIDEO
        tag = flv.FLVTag(tag_type=kind, timestamp_ms=event.timestamp, data=event.payload)
        result.tags += 1
        if on_tag is not None:
            on_tag(tag, now)
        if in_window and kind == flv.TagType.VIDEO:
            measured.video(tag.timestamp_ms)
        if result.first_keyframe_s is None and _is_keyframe(tag):
            result.first_keyframe_s = now - result.started_at
    return None


async def _follow_rtmp(
    drain: Drain, client: RTMPClient, measured: _Window, on_tag: TagCallback | None
) -> None:
    """An RTMP player read by ``drain``: what it must answer is written without
    waiting, the rest of an incomplete write at the next tick."""
    result = measured.result
    fd = client.stream.socket.fileno()
    unsent = b""

    def feed(data: memoryview, now: float) -> bool:
        nonlocal unsent
        try:
            if _rtmp_read(client.conn, data, now, measured, on_tag):
                return False
            if unsent := unsent + client.conn.data_to_send():
                unsent = unsent[os.write(fd, unsent) :]
        except BlockingIOError:
            pass
        except OSError as exc:
            result.error = f"connection: {exc!r}"
            return False
        except rtmp.RTMPError as exc:
            result.error = f"protocol: {exc!r}"
            return False
        return True

    await drain.follow(fd, feed)
    if result.error is None:
        result.ended_early = True


async def run_audience(
    host: str,
    port: int,
    paths: Sequence[str],
    *,
    watcher: Watcher = watch,
    count: int,
    start_at: float,
    ramp_s: float,
    window: tuple[float, float],
    stop_at: float,
    light: bool = False,
) -> list[ViewerResult]:
    """``count`` viewers, the i-th connecting at ``start_at + i * ramp_s / count`` to
    ``paths[i % len(paths)]``, all stopped at ``stop_at``; ``light`` ones after their
    first keyframe (see the module's docs)."""
    results = [ViewerResult() for _ in range(count)]
    drain = Drain() if light else None

    async def one(index: int) -> None:
        await trio.sleep(max(0.0, start_at + index * ramp_s / count - time.monotonic()))
        path = paths[index % len(paths)]
        await watcher(host, port, path, results[index], window=window, drain=drain)

    with trio.move_on_after(max(0.0, stop_at - time.monotonic())):
        async with trio.open_nursery() as nursery:
            if drain is not None:
                nursery.start_soon(drain.run)
            for index in range(count):
                nursery.start_soon(one, index)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--path",
        required=True,
        nargs="+",
        help="e.g. /live/alice.flv, or alice with --rtmp; several: the viewers take turns",
    )
    parser.add_argument("--rtmp", action="store_true", help="play over RTMP: --port is RTMP's")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="time.monotonic() value")
    parser.add_argument("--ramp-s", type=float, default=0.0)
    parser.add_argument("--window", type=float, nargs=2, required=True, metavar=("START", "END"))
    parser.add_argument("--stop-at", type=float, required=True)
    parser.add_argument(
        "--light", action="store_true", help="after the first keyframe, walk the framing only"
    )
    args = parser.parse_args(argv)
    if args.stop_at - time.monotonic() > 600:
        parser.error("--stop-at is more than 10 minutes away")
    results = trio.run(
        partial(
            run_audience,
            args.host,
            args.port,
            args.path,
            watcher=watch_rtmp if args.rtmp else watch,
            count=args.count,
            start_at=args.start_at,
            ramp_s=args.ramp_s,
            window=tuple(args.window),
            stop_at=args.stop_at,
            light=args.light,
        )
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {"cpu_s": usage.ru_utime + usage.ru_stime, "viewers": [asdict(r) for r in results]},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
