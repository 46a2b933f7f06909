"""Hypothesis properties of the RTMP connection beyond test_vectors.py.

test_vectors.py holds them for the first ffmpeg capture; here: the same for the
later captures (H.264 with B-frames, HEVC over enhanced RTMP), chunk streams
interleaved chunk by chunk at any chunk size up to 2**31 - 1 with extended
timestamps, and random bytes fed to a playing *client*. Example counts follow the
Hypothesis profile (tests/protocols/conftest.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import rtmp

from .helpers import ConnectionPair, get_all_events, seeded_random

if TYPE_CHECKING:
    import random

VECTORS = Path(__file__).parent / "vectors"
# test_vectors.py covers ffmpeg-publish-h264-aac.bin.
NEW_VECTORS = ["ffmpeg-publish-h264-bframes-aac.bin", "pyav-publish-hevc-aac.bin"]
DATA = {name: (VECTORS / name).read_bytes() for name in NEW_VECTORS}


def serve(pieces: list[bytes]) -> list[rtmp.Event]:
    """A server that accepts everything, fed ``pieces`` then EOF."""
    server = rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(2))
    events: list[rtmp.Event] = []
    for piece in [*pieces, b""]:
        server.receive_data(piece)
        while (event := server.next_event()) is not rtmp.NEED_DATA:
            events.append(event)
            if isinstance(event, rtmp.ConnectionClosed):
                return events
            if isinstance(event, rtmp.Connect):
                server.accept_connect()
            elif isinstance(event, rtmp.Publish):
                server.accept_publish(event.stream_id)
        server.data_to_send()
    raise AssertionError("no ConnectionClosed after EOF")


WHOLE = {name: serve([data]) for name, data in DATA.items()}


@pytest.mark.parametrize("name", NEW_VECTORS)
def test_new_vectors_decode_to_a_full_publish(name: str) -> None:
    kinds = [type(e).__name__ for e in WHOLE[name]]
    assert kinds[:5] == ["HandshakeComplete", "Connect", "StreamCreated", "Publish", "Metadata"]
    assert kinds[-2:] == ["DeleteStream", "ConnectionClosed"]
    assert kinds.count("AudioData") == 46
    # 25 frames, the sequence header, and an end-of-sequence packet (H.264) or a
    # colour metadata packet (HEVC).
    assert kinds.count("VideoData") == 27


@pytest.mark.parametrize("name", NEW_VECTORS)
def test_new_vectors_byte_at_a_time(name: str) -> None:
    data = DATA[name]
    assert serve([data[i : i + 1] for i in range(len(data))]) == WHOLE[name]


@given(st.sampled_from(NEW_VECTORS), st.data())
def test_new_vectors_any_split(name: str, data: st.DataObject) -> None:
    vector = DATA[name]
    cuts = data.draw(st.lists(st.integers(0, len(vector)), max_size=30))
    points = [0, *sorted(cuts), len(vector)]
    assert serve([vector[a:b] for a, b in itertools.pairwise(points) if b > a]) == WHOLE[name]


def _events_or_protocol_error(conn: rtmp.Connection, data: bytes) -> None:
    for piece in (data, b""):
        conn.receive_data(piece)
        try:
            while (event := conn.next_event()) is not rtmp.NEED_DATA:
                if isinstance(event, rtmp.ConnectionClosed):
                    return
                if isinstance(event, rtmp.Connect):
                    conn.accept_connect()
                elif isinstance(event, rtmp.Publish):
                    conn.accept_publish(event.stream_id)
                elif isinstance(event, rtmp.Play):
                    conn.accept_play(event.stream_id)
        except rtmp.RemoteProtocolError:
            assert conn.state is rtmp.State.ERROR
            return


@given(st.sampled_from(NEW_VECTORS), st.data())
def test_new_vectors_corrupted(name: str, data: st.DataObject) -> None:
    vector = bytearray(DATA[name])
    for _ in range(data.draw(st.integers(1, 3))):
        vector[data.draw(st.integers(0, len(vector) - 1))] = data.draw(st.integers(0, 255))
    _events_or_protocol_error(
        rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(2)), bytes(vector)
    )


# --- chunk streams interleaved chunk by chunk -----------------------------------------------

MAX_CHUNK_SIZE = 0x7FFFFFFF


def message_chunks(
    csid: int, type_id: int, timestamp: int, payload: bytes, chunk_size: int
) -> list[bytes]:
    """One message as a fmt0 chunk and type 3 continuations (RTMP spec 5.3.1)."""
    extended = timestamp >= 0xFFFFFF
    ext = timestamp.to_bytes(4, "big") if extended else b""
    header = (
        bytes((csid,))
        + (0xFFFFFF if extended else timestamp).to_bytes(3, "big")
        + len(payload).to_bytes(3, "big")
        + bytes((type_id,))
        + (1).to_bytes(4, "little")  # message stream 1
        + ext
    )
    bodies = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]
    return [header + bodies[0]] + [bytes((0xC0 | csid,)) + ext + body for body in bodies[1:]]


chunk_sizes = st.one_of(st.integers(1, 300), st.integers(1, MAX_CHUNK_SIZE))
timestamps = st.one_of(
    st.integers(0, 0xFFFFFFFF), st.integers(0xFFFFF0, 0x100000F), st.integers(0, 1000)
)
messages = st.lists(
    st.tuples(st.sampled_from([8, 9]), timestamps, st.binary(max_size=700)), max_size=8
)


@given(chunk_sizes, messages, st.randoms(use_true_random=False))
def test_interleaved_chunk_streams_at_any_chunk_size(
    chunk_size: int, items: list[tuple[int, int, bytes]], rnd: random.Random
) -> None:
    """Audio on csid 10 and video on csid 11, their chunks shuffled together.

    Each chunk stream keeps its own order; the server must hand out every message
    whole, with its timestamp, in the order the messages complete.
    """
    pair = ConnectionPair()
    pair.start_publishing()
    queues: dict[int, list[tuple[bytes, rtmp.Event | None]]] = {10: [], 11: []}
    for type_id, timestamp, payload in items:
        csid = 10 if type_id == 8 else 11
        event_type = rtmp.AudioData if type_id == 8 else rtmp.VideoData
        chunks = message_chunks(csid, type_id, timestamp, payload, chunk_size)
        event = event_type(stream_id=1, timestamp=timestamp, payload=payload)
        queues[csid] += [(chunk, None) for chunk in chunks[:-1]] + [(chunks[-1], event)]
    # Set Chunk Size on csid 2 (control), message stream 0.
    wire = bytearray(bytes.fromhex("02 000000 000004 01 00000000") + chunk_size.to_bytes(4, "big"))
    expected: list[rtmp.Event] = []
    while queues[10] or queues[11]:
        csid = rnd.choice([c for c in (10, 11) if queues[c]])
        chunk, done = queues[csid].pop(0)
        wire += chunk
        if done is not None:
            expected.append(done)
    pair.server.receive_data(bytes(wire))
    assert get_all_events(pair.server) == expected


# --- a client fed garbage -----------------------------------------------------------------


def playing_client() -> rtmp.Connection:
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.send(rtmp.Play(stream_id=stream_id, stream_name="live"))
    pair.transfer()
    pair.server.accept_play(stream_id)
    pair.transfer()
    assert pair.client.streams == {stream_id: rtmp.StreamState.PLAYING}
    pair.client.data_to_send()
    return pair.client


@given(st.binary(max_size=600))
def test_random_bytes_to_a_playing_client_give_events_or_remote_protocol_error(
    data: bytes,
) -> None:
    _events_or_protocol_error(playing_client(), data)


@given(st.binary(min_size=1, max_size=600))
def test_random_bytes_as_a_server_handshake(data: bytes) -> None:
    client = rtmp.Connection(rtmp.CLIENT, random_bytes=seeded_random(1))
    client.data_to_send()
    _events_or_protocol_error(client, b"\x03" + bytes(3072) + data)
