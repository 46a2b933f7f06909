"""Lightweight HTTP-FLV and RTMP viewers for the benchmarks: many sockets in one Trio process.

An HTTP-FLV viewer is one TCP connection, an HTTP/1.1 GET (``h11``) and an
incremental FLV parse of the body (``protocols.flv``): it counts bytes, notes when
each tag arrived and when the first video keyframe was complete. An RTMP viewer
(:func:`watch_rtmp`) is the same over ``protocols.rtmp``: handshake, ``connect``,
``createStream``, ``play``, then the media messages as tags. Nothing is decoded, so
a few hundred 3 Mbit/s viewers cost a fraction of one core instead of a few hundred
ffmpeg processes; the same client watches every server under test.

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
import resource
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
    from collections.abc import Awaitable, Callable

    TagCallback = Callable[[flv.FLVTag, float], None]
    # watch or watch_rtmp: (host, port, path or stream name, result, *, window).
    Watcher = Callable[..., Awaitable[None]]

__all__ = ["ViewerResult", "watch", "watch_rtmp"]

RECEIVE_BYTES = 256 * 1024  # a few batches of a 3 Mbit/s stream: few wake-ups per viewer
CONNECT_TIMEOUT_S = 5.0  # loopback connects take microseconds; longer is an overloaded server
NEVER = math.inf


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


async def watch(
    host: str,
    port: int,
    path: str,
    result: ViewerResult,
    *,
    window: tuple[float, float] = (NEVER, NEVER),
    on_tag: TagCallback | None = None,
    until_keyframe: bool = False,
) -> None:
    """Watch ``http://host:port/path`` until cancelled or the server ends the stream.

    Args:
        result: Filled in as data arrives, so a cancelled viewer still has its figures.
        window: ``(start, end)`` monotonic times; bytes and media time received in
            between go to ``window_bytes`` and ``window_media_ms``.
        on_tag: Called with every tag and the monotonic time its last byte arrived.
        until_keyframe: Return once the first video keyframe is complete.

    Error handling:
        Connection, HTTP and FLV errors end this viewer only; they are recorded in
        ``result.error``. Cancellation propagates.
    """
    result.started_at = time.monotonic()
    start, end = window
    first_ts: int | None = None
    http = h11.Connection(h11.CLIENT)
    reader = flv.FLVReader()
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
                    continue
                if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    result.ended_early = True
                    return
                if not isinstance(event, h11.Data):
                    continue
                now = time.monotonic()
                data = bytes(event.data)
                result.bytes_total += len(data)
                in_window = start <= now < end
                if in_window:
                    result.window_bytes += len(data)
                reader.receive_data(data)
                while isinstance(tag := reader.next_event(), flv.FLVTag | flv.FLVHeader):
                    if isinstance(tag, flv.FLVHeader):
                        continue
                    result.tags += 1
                    if on_tag is not None:
                        on_tag(tag, now)
                    if result.first_keyframe_s is None and _is_keyframe(tag):
                        result.first_keyframe_s = now - result.started_at
                        if until_keyframe:
                            return
                    if in_window and tag.tag_type == flv.TagType.VIDEO:
                        if first_ts is None:
                            first_ts = tag.timestamp_ms
                        result.window_media_ms = tag.timestamp_ms - first_ts
    except (OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
        result.error = f"connection: {exc!r}"
    except (h11.ProtocolError, flv.FLVError) as exc:
        result.error = f"protocol: {exc!r}"


async def watch_rtmp(
    host: str,
    port: int,
    name: str,
    result: ViewerResult,
    *,
    window: tuple[float, float] = (NEVER, NEVER),
    on_tag: TagCallback | None = None,
    until_keyframe: bool = False,
) -> None:
    """Play ``rtmp://host:port/live/name`` as :func:`watch` watches HTTP-FLV.

    ``bytes_total`` and ``window_bytes`` count what the socket delivered (RTMP chunk
    headers included, as the HTTP-FLV viewer counts FLV tag headers); ``status`` stays
    ``None``. The server's acknowledgements and pings are answered.

    Error handling:
        As :func:`watch`; a refused play is recorded in ``result.error``, the
        server's end of the stream (Stream EOF, ``NetStream.Play.UnpublishNotify``,
        closing) in ``result.ended_early``.
    """
    result.started_at = time.monotonic()
    start, end = window
    first_ts: int | None = None
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
            while True:
                data = await client.stream.receive_some(RECEIVE_BYTES)
                now = time.monotonic()
                result.bytes_total += len(data)
                in_window = start <= now < end
                if in_window:
                    result.window_bytes += len(data)
                client.conn.receive_data(data)
                while (event := client.conn.next_event()) is not rtmp.NEED_DATA:
                    if isinstance(event, rtmp.StreamEOF | rtmp.ConnectionClosed) or (
                        isinstance(event, rtmp.Status)
                        and event.code == "NetStream.Play.UnpublishNotify"
                    ):
                        result.ended_early = True
                        return
                    if not isinstance(event, rtmp.AudioData | rtmp.VideoData):
                        continue
                    kind = (
                        flv.TagType.AUDIO
                        if isinstance(event, rtmp.AudioData)
                        else flv.TagType.VIDEO
                    )
                    tag = flv.FLVTag(
                        tag_type=kind, timestamp_ms=event.timestamp, data=event.payload
                    )
                    result.tags += 1
                    if on_tag is not None:
                        on_tag(tag, now)
                    if result.first_keyframe_s is None and _is_keyframe(tag):
                        result.first_keyframe_s = now - result.started_at
                        if until_keyframe:
                            return
                    if in_window and kind == flv.TagType.VIDEO:
                        if first_ts is None:
                            first_ts = tag.timestamp_ms
                        result.window_media_ms = tag.timestamp_ms - first_ts
                await client.flush()  # acknowledgements, ping responses
    except (OSError, PermissionError, trio.BrokenResourceError, trio.TooSlowError) as exc:
        result.error = f"connection: {exc!r}"
    except rtmp.RTMPError as exc:
        result.error = f"protocol: {exc!r}"


async def run_audience(
    host: str,
    port: int,
    path: str,
    *,
    watcher: Watcher = watch,
    count: int,
    start_at: float,
    ramp_s: float,
    window: tuple[float, float],
    stop_at: float,
) -> list[ViewerResult]:
    """``count`` viewers, the i-th connecting at ``start_at + i * ramp_s / count``,
    all stopped at ``stop_at``."""
    results = [ViewerResult() for _ in range(count)]

    async def one(index: int) -> None:
        await trio.sleep(max(0.0, start_at + index * ramp_s / count - time.monotonic()))
        await watcher(host, port, path, results[index], window=window)

    with trio.move_on_after(max(0.0, stop_at - time.monotonic())):
        async with trio.open_nursery() as nursery:
            for index in range(count):
                nursery.start_soon(one, index)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="e.g. /live/alice.flv, or alice with --rtmp")
    parser.add_argument("--rtmp", action="store_true", help="play over RTMP: --port is RTMP's")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="time.monotonic() value")
    parser.add_argument("--ramp-s", type=float, default=0.0)
    parser.add_argument("--window", type=float, nargs=2, required=True, metavar=("START", "END"))
    parser.add_argument("--stop-at", type=float, required=True)
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
