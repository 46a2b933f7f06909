"""A paced RTMP publisher for latency measurements, over ``protocols.rtmp``.

It sends the audio and video tags of an FLV file with their own timestamps, each
at ``t0 + timestamp`` on the monotonic clock, and records when every tag was handed
to the kernel. A viewer in the same process then knows, for each tag it receives,
exactly how long the server held it: no guessing of the encoder's start-up time,
which is what an ffmpeg ``-re`` publisher would leave unknown.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

import trio

from protocols import flv, rtmp

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["RTMPClient", "publish_paced", "read_media_tags"]

RECEIVE_BYTES = 64 * 1024
HANDSHAKE_TIMEOUT_S = 10.0  # handshake, connect, createStream, publish: a few round trips


def read_media_tags(path: Path) -> list[flv.FLVTag]:
    """The audio and video tags of an FLV file (script data is left out)."""
    reader = flv.FLVReader()
    reader.receive_data(path.read_bytes())
    reader.receive_data(b"")
    tags = []
    while not isinstance(event := reader.next_event(), flv.FLVEnd):
        if isinstance(event, flv.FLVTag) and event.tag_type in (
            flv.TagType.AUDIO,
            flv.TagType.VIDEO,
        ):
            tags.append(event)
    return tags


class RTMPClient:
    """The client end of one RTMP connection: ``protocols.rtmp`` over a socket."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = rtmp.Connection(rtmp.CLIENT)

    async def open_stream(self, host: str, port: int) -> int:
        """Handshake, ``connect`` to the ``live`` application, ``createStream``: the
        new message stream's id.

        Raises:
            PermissionError: the server refused the connect.
        """
        await self.until(rtmp.HandshakeComplete)
        self.conn.send(rtmp.Connect(app="live", tc_url=f"rtmp://{host}:{port}/live"))
        answer = await self.until(rtmp.ConnectAccepted, rtmp.ConnectRejected)
        if isinstance(answer, rtmp.ConnectRejected):
            raise PermissionError(answer.description)
        self.conn.send(rtmp.CreateStream())
        created = await self.until(rtmp.StreamCreated)
        assert isinstance(created, rtmp.StreamCreated)
        return created.stream_id

    async def flush(self) -> None:
        if data := self.conn.data_to_send():
            await self.stream.send_all(data)

    async def until(self, *wanted: type[rtmp.Event]) -> rtmp.Event:
        while True:
            await self.flush()
            event = self.conn.next_event()
            if event is rtmp.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(RECEIVE_BYTES))
            elif isinstance(event, wanted):
                return event
            elif isinstance(event, rtmp.ConnectionClosed):
                raise trio.BrokenResourceError("the server closed the connection")

    async def drain(self) -> None:
        """Read and discard what the server sends (acknowledgements, pings, status)."""
        while data := await self.stream.receive_some(RECEIVE_BYTES):
            self.conn.receive_data(data)
            while self.conn.next_event() is not rtmp.NEED_DATA:
                pass


async def publish_paced(
    host: str,
    port: int,
    stream_key: str,
    tags: list[flv.FLVTag],
    *,
    sent_at: dict[tuple[int, int], float],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Publish ``tags`` to ``rtmp://host:port/live/stream_key`` in real time.

    ``task_status.started()`` is called once the server accepted the publish. Then
    ``sent_at[(tag_type, timestamp)]`` receives the monotonic time each tag's bytes
    were written to the socket. Returns after the last tag; cancel to stop early.

    Raises:
        PermissionError: the server refused the publish.
    """
    with trio.fail_after(HANDSHAKE_TIMEOUT_S):
        client = RTMPClient(await trio.open_tcp_stream(host, port))
    async with client.stream, trio.open_nursery() as nursery:
        with trio.fail_after(HANDSHAKE_TIMEOUT_S):
            stream_id = await client.open_stream(host, port)
            client.conn.send(rtmp.Publish(stream_id=stream_id, stream_key=stream_key))
            answer = await client.until(rtmp.PublishAccepted, rtmp.PublishRejected)
            if isinstance(answer, rtmp.PublishRejected):
                raise PermissionError(answer.description)
        nursery.start_soon(client.drain)
        task_status.started()
        t0 = time.monotonic()
        for tag in tags:
            await trio.sleep(max(0.0, t0 + tag.timestamp_ms / 1000 - time.monotonic()))
            kind: Literal["audio", "video"] = (
                "audio" if tag.tag_type == flv.TagType.AUDIO else "video"
            )
            client.conn.send_media(stream_id, kind, tag.timestamp_ms, tag.data)
            await client.flush()
            sent_at.setdefault((tag.tag_type, tag.timestamp_ms), time.monotonic())
        nursery.cancel_scope.cancel()
