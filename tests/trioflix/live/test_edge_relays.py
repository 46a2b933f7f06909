"""An edge relay against a real HTTP origin on a socket: a relay closing for want of
viewers is not handed to a viewer who arrives while it closes; a relay with a read
interval reads its pull once the low-water mark's worth has come (a frame, the audio
before it with it), or two intervals after the previous read at the latest."""

from __future__ import annotations

import itertools
from functools import partial
from typing import TYPE_CHECKING

import h11
import pytest
import trio
import trio.testing

from protocols import flv
from trioflix.cluster.lease import Origin
from trioflix.cluster.pull_auth import PullTokens
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import flv_stream_header
from trioflix.live.edge.pull import session_headers
from trioflix.live.edge.pull_client import CATCH_UP_READ_BYTES
from trioflix.live.edge.relays import EdgeRelays

if TYPE_CHECKING:
    from collections.abc import Sequence

SESSION_HEADERS = {
    "x-trioflix-user-id": "1",
    "x-trioflix-session-id": "7",
    "x-trioflix-key-id": "3",
    "x-trioflix-started-at": "1.0",
}


async def _serve_pull(stream: trio.SocketStream) -> None:
    """Answer an internal pull with a session's headers and an FLV header, then hold
    the stream open as a live channel with no media yet does."""
    conn = h11.Connection(h11.SERVER)
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await stream.receive_some(65536))
    assert isinstance(event, h11.Request)
    head = conn.send(h11.Response(status_code=200, headers=list(SESSION_HEADERS.items())))
    body = conn.send(h11.Data(data=flv_stream_header()))
    assert head is not None and body is not None
    async with stream:
        await stream.send_all(head + body)
        await trio.sleep_forever()


async def test_a_relay_closing_for_want_of_viewers_is_not_handed_out(
    nursery: trio.Nursery,
) -> None:
    listeners = await nursery.start(partial(trio.serve_tcp, _serve_pull, 0, host="127.0.0.1"))
    url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    lookups = 0
    handed_out_while_closing = []

    async def origin_of(channel: str) -> Origin | None:
        # The first lookup finds the origin; a later one (the pull has ended) is a
        # moment in which a new viewer could ask for the relay: note what it would
        # get, then hang as a slow Redis would (until the lookup's own timeout).
        nonlocal lookups
        lookups += 1
        if lookups > 1:
            handed_out_while_closing.append(relays.get_nowait(channel))
            await trio.sleep_forever()
        return Origin(host="origin", advertise_url=url, epoch=1)

    # Idle at once: the relay closes at its first look at its viewers, before any
    # lease read of its own.
    relays = EdgeRelays(
        origin_of=origin_of, this_host="edge", tokens=PullTokens("s" * 64), idle_s=0.01
    )
    await nursery.start(relays.run)
    stream = await relays.open("alice")
    assert stream is not None
    assert session_headers(stream) == SESSION_HEADERS | {"x-trioflix-started-at": "1.0"}
    with trio.fail_after(10):
        while relays.get_nowait("alice") is stream:  # noqa: ASYNC110 (polling)
            await trio.sleep(0.05)
    assert relays.get_nowait("alice") is None
    with trio.fail_after(10):
        while stream.ended_reason is None:  # noqa: ASYNC110 (polling)
            await trio.sleep(0.05)
    assert stream.ended_reason == "no viewers"
    assert handed_out_while_closing == []
    assert lookups == 1  # a relay closed for want of viewers looks for no other origin


INTERVAL_S = 0.02
TAG_GAP_S = 0.005  # the origin sends four batches per interval


def _aac(number: int, size: int = 16) -> bytes:
    """An AAC frame's tag body, its bytes saying which frame it is."""
    return b"\xaf\x01" + number.to_bytes(4, "big") * (size // 4)


async def _serve_tags(
    schedule: Sequence[tuple[float, bytes]],
    go: trio.Event,
    sent_at: list[float],
    chunked: bool,
    stream: trio.SocketStream,
) -> None:
    """Answer a pull, then send each ``(gap, body)`` of ``schedule`` as one audio tag,
    ``gap`` seconds after the previous (once ``go`` is set); then hold the stream open."""
    conn = h11.Connection(h11.SERVER)
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await stream.receive_some(65536))
    assert isinstance(event, h11.Request)
    headers = list(SESSION_HEADERS.items())
    if chunked:  # hypercorn's framing; else the direct route's (the body ends with the connection)
        head = conn.send(h11.Response(status_code=200, headers=headers))
    else:
        head = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers)
        head = b"HTTP/1.1 200 OK\r\n" + head + b"connection: close\r\n\r\n"

    def framed(data: bytes) -> bytes:
        return (conn.send(h11.Data(data=data)) or b"") if chunked else data

    async with stream:
        assert head is not None
        await stream.send_all(head + framed(flv_stream_header()))
        await go.wait()
        for number, (gap, body) in enumerate(schedule):
            await trio.sleep(gap)
            await stream.send_all(framed(flv.encode_tag_fields(8, number, body)))
            sent_at.append(trio.current_time())
        await trio.sleep_forever()


async def _relay_batches(
    schedule: Sequence[tuple[float, bytes]], read_interval_s: float, chunked: bool
) -> tuple[list[tuple[float, list[bytes]]], list[float]]:
    """What a viewer of a relay gets of ``schedule``: each batch with the (trio) time it
    came; and when each tag was sent."""
    go = trio.Event()
    sent_at: list[float] = []
    batches: list[tuple[float, list[bytes]]] = []
    async with trio.open_nursery() as nursery:
        serve = partial(_serve_tags, schedule, go, sent_at, chunked)
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"

        async def origin_of(channel: str) -> Origin | None:
            return Origin(host="origin", advertise_url=url, epoch=1)

        relays = EdgeRelays(
            origin_of=origin_of,
            this_host="edge",
            tokens=PullTokens("s" * 64),
            read_interval_s=read_interval_s,
        )
        await nursery.start(relays.run)
        stream = await relays.open("alice")
        assert stream is not None
        viewer = stream.subscribe(Transport.HTTP_FLV)
        go.set()
        received = 0
        while received < len(schedule):
            batch = [packet.payload for packet in await viewer.next_batch()]
            batches.append((trio.current_time(), batch))
            received += len(batch)
        nursery.cancel_scope.cancel()
    return batches, sent_at


@pytest.mark.parametrize("chunked", [False, True], ids=["close-delimited", "chunked"])
async def test_a_paced_relay_reads_small_tags_once_per_two_intervals(
    autojump_clock: trio.testing.MockClock, chunked: bool
) -> None:
    # 40 small tags 5 ms apart (never the low-water mark's worth), a pause, then one more.
    schedule = [(TAG_GAP_S, _aac(n)) for n in range(40)] + [(0.5, _aac(40))]
    batches, sent_at = await _relay_batches(schedule, INTERVAL_S, chunked)

    assert [body for _, batch in batches for body in batch] == [body for _, body in schedule]
    times = [at for at, _ in batches]
    assert all(b - a >= 2 * INTERVAL_S - 1e-9 for a, b in itertools.pairwise(times))
    # While it flows, reads from the first tag to two intervals past the last (0.235 s):
    # six at most for 40 tags; then one for the tag after the pause.
    flowing = sent_at[39] - sent_at[0] + 2 * INTERVAL_S
    assert len(batches) <= flowing / (2 * INTERVAL_S) + 1 + 1
    # Each tag waits two intervals at most; the one after the pause, read as it came, none.
    delivered = [at for at, batch in batches for _ in batch]
    assert all(0 <= d - s <= 2 * INTERVAL_S + 1e-9 for s, d in zip(sent_at, delivered, strict=True))
    assert delivered[-1] == sent_at[-1]


@pytest.mark.parametrize("chunked", [False, True], ids=["close-delimited", "chunked"])
async def test_a_paced_relay_reads_each_frame_as_it_comes(
    autojump_clock: trio.testing.MockClock, chunked: bool
) -> None:
    # A frame (4 KB) every 35 ms (less than two intervals), with three small audio tags
    # 8 ms apart between frames, for 1.75 s: once the relay knows the rate (after a
    # second), the low-water mark (three quarters of an interval's bytes, some 1.7 KB)
    # is reached by each frame and not by the audio before it.
    frame_gap, audio_gap = 0.035, 0.008
    schedule: list[tuple[float, bytes]] = []
    for n in range(50):
        schedule += [(audio_gap, _aac(4 * n + k)) for k in range(3)]
        schedule.append((frame_gap - 3 * audio_gap, _aac(4 * n + 3, size=4000)))
    batches, sent_at = await _relay_batches(schedule, INTERVAL_S, chunked)

    assert [body for _, batch in batches for body in batch] == [body for _, body in schedule]
    later = [(at, batch) for at, batch in batches if at > sent_at[0] + 1.1]
    assert len(later) >= 15
    # Every read after the first second is a frame as it came, the audio before it with it.
    frames = {body: sent for (_, body), sent in zip(schedule, sent_at, strict=True)}
    for at, batch in later:
        assert len(batch[-1]) > 1000
        assert at == frames[batch[-1]]
        assert all(len(body) < 1000 for body in batch[:-1])


@pytest.mark.parametrize("chunked", [False, True], ids=["close-delimited", "chunked"])
async def test_an_unpaced_relay_reads_as_data_arrives(
    autojump_clock: trio.testing.MockClock, chunked: bool
) -> None:
    schedule = [(TAG_GAP_S, _aac(n)) for n in range(20)]
    batches, sent_at = await _relay_batches(schedule, 0, chunked)

    assert [batch for _, batch in batches] == [[body] for _, body in schedule]
    assert [at for at, _ in batches] == sent_at


async def test_a_paced_relay_behind_reads_again_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A tag larger than a paced read should bring (a keyframe): the relay is behind,
    # so the tag after it is read as it comes, not an interval later.
    big = _aac(1, size=CATCH_UP_READ_BYTES)
    schedule = [(TAG_GAP_S, _aac(0)), (INTERVAL_S * 2, big), (0.001, _aac(2))]
    batches, sent_at = await _relay_batches(schedule, INTERVAL_S, False)

    assert [batch for _, batch in batches] == [[body] for _, body in schedule]
    assert [at for at, _ in batches] == sent_at
