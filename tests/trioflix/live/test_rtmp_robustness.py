"""Broken and hostile RTMP peers lose their own connection and nothing else.

Also: every way a connection can end frees its task, socket and channel, and
200 connect/drop cycles leave the server's file descriptors and tasks where
they started.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import pytest
import trio

from protocols import amf, rtmp
from tests.trioflix.live.rtmp_client import RTMPTestClient
from tests.waiting import WAIT_LIMIT_S, wait_until
from trioflix.live.rtmp import server as rtmp_server
from trioflix.store._postgres import POOL_MAX_SIZE

if TYPE_CHECKING:
    from tests.conftest import Server

pytestmark = pytest.mark.slow

AVC_HEADER = b"\x17\x00\x00\x00\x00" + bytes.fromhex(
    "0164001effe10004" + "6764001e" + "010004" + "68ebe3cb"
)
KEYFRAME = b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65abcd"


def rtmp_address(server: Server) -> tuple[str, int]:
    address = server.app.trioflix.rtmp_address
    assert address is not None
    return address


async def publishing_client(server: Server, channel: str) -> tuple[RTMPTestClient, int]:
    token, _ = await server.register(channel)
    key = await server.create_key(token)
    client = await RTMPTestClient.connect(*rtmp_address(server))
    stream_id = await client.publish(key)
    await client.send_video(stream_id, 0, AVC_HEADER)
    await client.send_video(stream_id, 0, KEYFRAME)
    return client, stream_id


async def assert_server_closes(stream: trio.SocketStream) -> None:
    """The server ends this connection: reads reach EOF (or a reset) promptly."""
    with trio.fail_after(5):
        while True:
            try:
                if not await stream.receive_some(65536):
                    return
            except trio.BrokenResourceError:
                return


def chunk(
    csid: int, msg_type: int, body: bytes, *, stream_id: int = 0, timestamp: int = 0
) -> bytes:
    """One type-0 chunk carrying a whole (small) message."""
    return (
        bytes((csid,))
        + timestamp.to_bytes(3, "big")
        + len(body).to_bytes(3, "big")
        + bytes((msg_type,))
        + stream_id.to_bytes(4, "little")
        + body
    )


BAD_AFTER_HANDSHAKE = {
    "chunk size 0": chunk(2, 1, (0).to_bytes(4, "big")),
    "chunk size above 2**31-1": chunk(2, 1, (2**31).to_bytes(4, "big")),
    "message longer than the limit": bytes((3,))
    + b"\x00\x00\x00"
    + b"\xff\xff\xff"
    + b"\x14"
    + b"\x00\x00\x00\x00"
    + b"x" * 100,
    "broken AMF in connect": chunk(
        3, 20, b"\x02\x00\x07connect\x00\x3f\xf0" + b"\x00" * 3 + b"\x03\x00"
    ),
    "media on an unknown stream": chunk(3, 20, amf.encode_amf0("connect", 1.0, {"app": "live"}))
    + chunk(6, 9, KEYFRAME, stream_id=7),
    "type-3 chunk with no previous header": b"\xc5" + b"x" * 10,
}


async def test_wrong_handshake_version_closes_only_that_connection(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioflix.live.rtmp.server")
    publisher, stream_id = await publishing_client(server, "alice")
    bad = await trio.open_tcp_stream(*rtmp_address(server))
    await bad.send_all(b"\x05" + os.urandom(1536))
    await assert_server_closes(bad)
    await bad.aclose()
    assert any("protocol error" in r.getMessage() for r in caplog.records)
    await publisher.send_video(stream_id, 33, KEYFRAME)  # still publishing
    assert server.app.trioflix.registry.get("alice") is not None
    await publisher.aclose()


@pytest.mark.parametrize("case", sorted(BAD_AFTER_HANDSHAKE))
async def test_malformed_chunks_close_only_that_connection(server: Server, case: str) -> None:
    publisher, stream_id = await publishing_client(server, "alice")
    client = await RTMPTestClient.connect(*rtmp_address(server))
    await client.wait_for(lambda e: isinstance(e, rtmp.HandshakeComplete))
    await client.stream.send_all(BAD_AFTER_HANDSHAKE[case])
    await assert_server_closes(client.stream)
    await client.aclose()
    await publisher.send_video(stream_id, 66, KEYFRAME)
    assert server.app.trioflix.registry.get("alice") is not None
    await publisher.aclose()


async def test_stalled_handshake_times_out(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtmp_server, "HANDSHAKE_TIMEOUT_S", 0.5)
    stream = await trio.open_tcp_stream(*rtmp_address(server))
    await stream.send_all(b"\x03" + b"\x00" * 100)  # C0 and a fraction of C1, then nothing
    await assert_server_closes(stream)
    await stream.aclose()


async def test_silent_publisher_times_out(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtmp_server, "IDLE_TIMEOUT_S", 0.5)
    publisher, _ = await publishing_client(server, "alice")
    await assert_server_closes(publisher.stream)
    with trio.fail_after(5):
        while server.app.trioflix.registry.get("alice") is not None:  # noqa: ASYNC110
            await trio.sleep(0.02)
    await publisher.aclose()


async def test_publisher_sending_within_the_timeout_stays(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idle deadline moves with the reads: five timeouts' worth of media keeps going."""
    monkeypatch.setattr(rtmp_server, "IDLE_TIMEOUT_S", 0.5)
    publisher, stream_id = await publishing_client(server, "alice")
    for i in range(1, 9):
        await trio.sleep(0.3)
        await publisher.send_video(stream_id, 300 * i, KEYFRAME)
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    await wait_until(lambda: live.stats.video_frames == 9)
    await publisher.aclose()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _task_count() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            count(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return count(root)


async def _one_cycle(server: Server, key: str, i: int) -> None:
    host, port = rtmp_address(server)
    variant = i % 5
    stream = await trio.open_tcp_stream(host, port)
    try:
        if variant == 0:  # connect and vanish
            pass
        elif variant == 1:  # mid-handshake
            await stream.send_all(b"\x03" + os.urandom(700))
        else:
            client = RTMPTestClient(stream)
            if variant == 2:  # mid-chunk, after connect
                await client.handshake_and_connect()
                await stream.send_all(b"\x03\x00\x00\x00\x00\x01\x00\x14")
            else:  # publishing, then dropped mid-message or cleanly
                stream_id = await client.publish(key)
                await client.send_video(stream_id, 0, AVC_HEADER)
                await client.send_video(stream_id, i, KEYFRAME)
                if variant == 3:
                    await stream.send_all(b"\x06\x00\x00\x00\x00\x10\x00\x09")
    finally:
        await trio.aclose_forcefully(stream)


async def _fill_the_database_pool(server: Server) -> None:
    """On PostgreSQL, open every connection the pool may hold, and give them back.

    The pool keeps what it opened, each with its socket and trio-asyncio I/O task:
    connections opened later, as the cycles' concurrency peaks, are not leaks.
    """
    if server.settings.database_url is None:
        return
    db = server.app.trioflix.db
    opened = 0
    all_open = trio.Event()

    async def hold_one() -> None:
        nonlocal opened
        async with db.transaction() as tx:
            await tx.fetchval("SELECT 1")
            opened += 1
            if opened == POOL_MAX_SIZE:
                all_open.set()
            await all_open.wait()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(POOL_MAX_SIZE):
                nursery.start_soon(hold_one)


async def test_connect_drop_cycles_leave_nothing_behind(server: Server) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    server.app.trioflix.registry.grace_s = 0  # dropped sessions end at once for this test
    registry = server.app.trioflix.registry

    await _one_cycle(server, key, 4)
    await _fill_the_database_pool(server)
    await wait_until(lambda: not (registry.live() or registry.state_of("alice")))
    fds, tasks = _open_fds(), _task_count()
    for i in range(200):
        with trio.fail_after(10):
            await _one_cycle(server, key, i)
    await wait_until(lambda: not (registry.live() or registry.state_of("alice")))
    # What 200 cycles left behind would stay: wait for everything to close, then look.
    await wait_until(lambda: _open_fds() <= fds + 2 and _task_count() <= tasks)


@pytest.mark.settings(rtmp_read_interval_ms=1000)
async def test_a_burst_larger_than_one_read_is_read_within_one_tick(server: Server) -> None:
    """The read clock paces a publisher's reads, but after a large read it reads as data
    arrives: a 2 MiB keyframe (dozens of window-sized reads) is not held to one read a tick."""
    other, _ = await publishing_client(server, "bob")  # two publishers: the clock paces
    publisher, stream_id = await publishing_client(server, "alice")
    clock = server.app.trioflix.rtmp_read_clock
    assert clock is not None
    assert clock.pacing
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    big = b"\x17\x01\x00\x00\x00" + (8 * rtmp_server.RECEIVE_BYTES).to_bytes(4, "big")
    big += b"\x65" + os.urandom(8 * rtmp_server.RECEIVE_BYTES - 1)
    # At most one tick (1 s) to wait for, then the reads back to back. Held to one read a
    # tick, 2 MiB in reads of at most 256 KiB would take 8 s or more; the rest of the
    # bound is room for a busy machine.
    with trio.fail_after(5):
        await publisher.send_video(stream_id, 40, big)
        while live.stats.video_frames < 2:  # noqa: ASYNC110
            await trio.sleep(0.01)
    await publisher.aclose()
    await other.aclose()


async def _drop_write_waiting(server: Server) -> bool:
    """Whether the registry's write of a dropped publisher waits on a row lock now."""
    waiting = await server.app.trioflix.db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE 'UPDATE live_sessions SET state%'"
    )
    return bool(waiting)


@pytest.mark.backends("postgresql", reason="a row lock holds the write back; SQLite has none")
async def test_a_drop_whose_write_is_cut_short_still_ends_the_session(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database holds the drop's write back past the connection's cleanup deadline:
    the grace window runs all the same, so the session ends after it and its HLS writer
    finishes. (The stream used to be left neither live, nor waiting, nor ended: its
    workers ran until shutdown, and a reconnect made a second HLS writer in the same
    directory, which the first's linger then swept from under the other.)"""
    monkeypatch.setattr(rtmp_server, "CLEANUP_TIMEOUT_S", 0.5)
    registry = server.app.trioflix.registry
    registry.grace_s = 1.0
    publisher, _ = await publishing_client(server, "alice")
    await wait_until(lambda: server.app.trioflix.hls.session("alice") is not None)
    live = registry.get("alice")
    session = server.app.trioflix.hls.session("alice")
    assert live is not None and session is not None
    db = server.app.trioflix.db
    async with db.transaction() as tx:
        await tx.fetchval("SELECT id FROM live_sessions WHERE id = $1 FOR UPDATE", live.session_id)
        await publisher.aclose()
        with trio.fail_after(WAIT_LIMIT_S):
            while not await _drop_write_waiting(server):  # noqa: ASYNC110 (polling)
                await trio.sleep(0.05)
            while await _drop_write_waiting(server):  # noqa: ASYNC110 (until cancelled)
                await trio.sleep(0.05)
    await wait_until(lambda: session.ended)
    await wait_until(lambda: registry.state_of("alice") is None)
    state = await db.fetchval("SELECT state FROM live_sessions WHERE id = $1", live.session_id)
    assert state == "ended"
