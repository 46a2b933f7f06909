"""A WHIP publisher for tests: aiortc (an independent WebRTC stack) on a trio-asyncio loop.

It plays a media file with aiortc's ``MediaPlayer`` (decoded, then encoded again by
aiortc's own H.264 and Opus encoders, as a WebRTC encoder sends) and offers it to
the server's WHIP endpoint with the stream key as the bearer token, as OBS does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import trio
import trio_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from tests.interop.whep_client import send_candidates, without_candidates

if TYPE_CHECKING:
    import asyncio
    from pathlib import Path

__all__ = ["WHIPPublisher", "wait_connected", "whip_publish"]


@dataclass
class WHIPPublisher:
    """One publishing session: its connection, its player and its URL on the server."""

    pc: RTCPeerConnection
    player: MediaPlayer
    location: str
    links: list[str]

    async def close(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the client's side only (no DELETE)."""
        await trio_asyncio.aio_as_trio(self.pc.close, loop=loop)()
        for track in (self.player.video, self.player.audio):
            if track is not None:
                track.stop()


async def _offer(source: Path) -> tuple[RTCPeerConnection, MediaPlayer, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    player = MediaPlayer(str(source))
    assert player.video is not None and player.audio is not None
    pc.addTransceiver(player.video, direction="sendonly")
    pc.addTransceiver(player.audio, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, player, pc.localDescription.sdp


async def whip_publish(
    client: httpx.AsyncClient,
    url: str,
    key: str,
    source: Path,
    loop: asyncio.AbstractEventLoop,
    *,
    trickle: bool = False,
) -> WHIPPublisher:
    """Offer ``source`` to ``url`` with ``key`` and start sending.

    With ``trickle``, the offer carries no candidate and the answer's are dropped:
    the candidates reach the server only in a ``PATCH`` (trickle ICE).

    Raises:
        AssertionError: the server did not answer 201 (the message has its answer),
            or 204 to the trickle.
    """
    pc, player, offer = await trio_asyncio.aio_as_trio(_offer, loop=loop)(source)
    response = await client.post(
        url,
        content=without_candidates(offer) if trickle else offer,
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {key}"},
    )
    if response.status_code != 201:
        await trio_asyncio.aio_as_trio(pc.close, loop=loop)()
        raise AssertionError(f"WHIP offer answered {response.status_code}: {response.text}")
    sdp = without_candidates(response.text) if trickle else response.text
    answer = RTCSessionDescription(sdp=sdp, type="answer")
    await trio_asyncio.aio_as_trio(pc.setRemoteDescription, loop=loop)(answer)
    if trickle:
        await send_candidates(client, response, offer, "WHIP")
    return WHIPPublisher(
        pc=pc,
        player=player,
        location=response.headers["Location"],
        links=response.headers.get_list("Link"),
    )


async def wait_connected(publisher: WHIPPublisher) -> None:
    """Wait until the client's side of the connection is up."""
    while publisher.pc.connectionState != "connected":
        if publisher.pc.connectionState in ("failed", "closed"):
            raise AssertionError(f"the WHIP connection {publisher.pc.connectionState}")
        await trio.sleep(0.02)


async def _publish(url: str, key: str, source: str) -> None:
    """Publish, say ``connected`` on stdout, then keep sending until killed."""
    from pathlib import Path

    async with httpx.AsyncClient() as client, trio_asyncio.open_loop() as loop:
        publisher = await whip_publish(client, url, key, Path(source), loop)
        await wait_connected(publisher)
        print("connected", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    import aioice.ice

    # The test serves on loopback only (aioice leaves 127.0.0.1 out by default).
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    trio.run(_publish, sys.argv[1], sys.argv[2], sys.argv[3])
