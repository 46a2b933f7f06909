"""RTMP viewers that leave together while media flows: a normal event, logged quietly.

A player's task may be woken with a batch of media just as its viewer's connection
reaches EOF; it must stop there, not try to send on the closed connection (which
the protocol refuses, and which would be logged at ERROR as a bug). Players that
leave with a reset (as a killed player with unread media does) are logged at
DEBUG alone.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING

import pytest
import trio

from protocols import rtmp
from tests.trioflix.live.rtmp_client import RTMPTestClient
from tests.trioflix.live.test_rtmp_robustness import (
    KEYFRAME,
    publishing_client,
    rtmp_address,
)
from tests.waiting import wait_until

if TYPE_CHECKING:
    from tests.conftest import Server

pytestmark = pytest.mark.slow

PLAYERS = 50
ROUNDS = 5


async def play(server: Server, channel: str) -> RTMPTestClient:
    """A player watching ``channel`` (its ``play`` accepted)."""
    client = await RTMPTestClient.connect(*rtmp_address(server))
    await client.handshake_and_connect()
    stream_id = await client.create_stream()
    client.conn.send(rtmp.Play(stream_id=stream_id, stream_name=channel))
    await client.wait_for(lambda e: isinstance(e, rtmp.PlayAccepted))
    return client


async def test_players_leaving_together_log_no_error(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trioflix")
    publisher, stream_id = await publishing_client(server, "alice")
    live = server.app.trioflix.registry.get("alice")
    assert live is not None

    timestamp = 0
    peers: set[str] = set()
    for _ in range(ROUNDS):
        players = [await play(server, "alice") for _ in range(PLAYERS)]
        await wait_until(lambda: live.viewers == PLAYERS)
        for index, player in enumerate(players):
            host, port = player.stream.socket.getsockname()[:2]
            peers.add(f"{host}:{port}")
            if index % 2:  # a reset, not a FIN
                player.stream.socket.setsockopt(
                    trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        for player in players:  # together, with no checkpoint between the closes,
            player.stream.socket.close()
        timestamp += 40  # and media right behind: it wakes the players' tasks
        await publisher.send_video(stream_id, timestamp, KEYFRAME)
        await wait_until(lambda: live.viewers == 0)
    await publisher.aclose()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    about_players = [
        r.getMessage()
        for r in caplog.records
        if r.levelno > logging.DEBUG and any(peer in r.getMessage() for peer in peers)
    ]
    assert not about_players
