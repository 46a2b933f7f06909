"""Chunk stream decoding, as seen through a server Connection (RTMP spec 5.3, 5.4).

Each case is hand-written wire bytes fed to a server whose client is publishing on
message stream 1, and the events that must come out.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocols import rtmp

from .helpers import ConnectionPair, get_all_events

A = rtmp.AudioData
V = rtmp.VideoData


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def publishing_server(**options: Any) -> rtmp.Connection:
    pair = ConnectionPair(**options)
    pair.start_publishing()
    return pair.server


SET_CHUNK_SIZE_4 = h("02 000000 000004 01 00000000 00000004")

CASES: list[tuple[str, bytes, list[rtmp.Event]]] = [
    (
        "fmt0, one-byte basic header (csid 4)",
        h("04 0003e8 000003 08 01000000 616263"),
        [A(stream_id=1, timestamp=1000, payload=b"abc")],
    ),
    (
        "two-byte basic header: csid 64",
        h("00 00 000001 000001 09 01000000 17"),
        [V(stream_id=1, timestamp=1, payload=b"\x17")],
    ),
    (
        "two-byte basic header: csid 319",
        h("00 ff 000001 000001 09 01000000 17"),
        [V(stream_id=1, timestamp=1, payload=b"\x17")],
    ),
    (
        "three-byte basic header: csid 320 and 65599, then type 3 on each",
        h("01 0001 000002 000001 08 01000000 aa  01 ffff 000005 000001 09 01000000 bb")
        + h("c1 0001 cc  c1 ffff dd"),
        [
            A(stream_id=1, timestamp=2, payload=b"\xaa"),
            V(stream_id=1, timestamp=5, payload=b"\xbb"),
            A(stream_id=1, timestamp=4, payload=b"\xcc"),
            V(stream_id=1, timestamp=10, payload=b"\xdd"),
        ],
    ),
    (
        "fmt1 and fmt2 carry deltas, fmt3 repeats the last delta (spec 5.3.2.1)",
        h("04 0003e8 000001 08 01000000 01")
        + h("44 000014 000002 08 0202")
        + h("84 000014 0303")
        + h("c4 0404  c4 0505"),
        [
            A(stream_id=1, timestamp=1000, payload=b"\x01"),
            A(stream_id=1, timestamp=1020, payload=b"\x02\x02"),
            A(stream_id=1, timestamp=1040, payload=b"\x03\x03"),
            A(stream_id=1, timestamp=1060, payload=b"\x04\x04"),
            A(stream_id=1, timestamp=1080, payload=b"\x05\x05"),
        ],
    ),
    (
        "fmt3 right after fmt0 reuses the fmt0 timestamp as delta (ffmpeg, librtmp)",
        h("04 000064 000001 08 01000000 01  c4 02"),
        [
            A(stream_id=1, timestamp=100, payload=b"\x01"),
            A(stream_id=1, timestamp=200, payload=b"\x02"),
        ],
    ),
    (
        "Set Chunk Size 4: a 10-byte message in three chunks",
        SET_CHUNK_SIZE_4 + h("06 000000 00000a 09 01000000 00010203  c6 04050607  c6 0809"),
        [V(stream_id=1, timestamp=0, payload=bytes(range(10)))],
    ),
    (
        "extended timestamp on fmt0 and on every type 3 continuation chunk",
        SET_CHUNK_SIZE_4 + h("06 ffffff 000006 09 01000000 01000000 00010203  c6 01000000 0405"),
        [V(stream_id=1, timestamp=0x01000000, payload=bytes(range(6)))],
    ),
    (
        "extended delta on fmt1, then a type 3 new message carrying the delta again",
        h("04 000010 000001 08 01000000 01")
        + h("44 ffffff 000001 08 01000000 02")
        + h("c4 01000000 03"),
        [
            A(stream_id=1, timestamp=0x10, payload=b"\x01"),
            A(stream_id=1, timestamp=0x01000010, payload=b"\x02"),
            A(stream_id=1, timestamp=0x02000010, payload=b"\x03"),
        ],
    ),
    (
        "timestamps wrap at 32 bits",
        h("04 ffffff 000001 08 01000000 fffffff0 01  44 000020 000001 08 02"),
        [
            A(stream_id=1, timestamp=0xFFFFFFF0, payload=b"\x01"),
            A(stream_id=1, timestamp=0x10, payload=b"\x02"),
        ],
    ),
    (
        "interleaved chunk streams",
        SET_CHUNK_SIZE_4
        + h("04 000001 000006 08 01000000 a1a2a3a4")
        + h("06 000002 000005 09 01000000 b1b2b3b4")
        + h("c6 b5  c4 a5a6"),
        [
            V(stream_id=1, timestamp=2, payload=h("b1b2b3b4b5")),
            A(stream_id=1, timestamp=1, payload=h("a1a2a3a4a5a6")),
        ],
    ),
    (
        "Abort drops the partial message; the chunk stream starts afresh",
        SET_CHUNK_SIZE_4
        + h("06 000000 00000a 09 01000000 00010203")
        + h("02 000000 000004 02 00000000 00000006")
        + h("06 000007 000001 09 01000000 ff"),
        [V(stream_id=1, timestamp=7, payload=b"\xff")],
    ),
    (
        "Abort of an unknown chunk stream is harmless",
        h("02 000000 000004 02 00000000 00000030"),
        [],
    ),
    (
        "zero-length message",
        h("04 000005 000000 08 01000000"),
        [A(stream_id=1, timestamp=5, payload=b"")],
    ),
    (
        "shared object and unknown message types are ignored",
        h("04 000000 000001 13 00000000 00  04 000000 000001 63 00000000 00"),
        [],
    ),
    (
        "aggregate message: FLV tags re-timed to the aggregate timestamp",
        h("04 000064 000021 16 01000000")
        + h("08 000002 00000a 00 000000 aabb 0000000d")
        + h("09 000001 000014 00 000000 cc 0000000c"),
        [
            A(stream_id=1, timestamp=100, payload=h("aabb")),
            V(stream_id=1, timestamp=110, payload=h("cc")),
        ],
    ),
]


@pytest.mark.parametrize(("wire", "events"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_chunk_decoding(wire: bytes, events: list[rtmp.Event]) -> None:
    server = publishing_server()
    server.receive_data(wire)
    assert get_all_events(server) == events
    # Byte at a time gives the same events (no chunk is consumed before it is complete).
    server = publishing_server()
    got: list[rtmp.Event] = []
    for i in range(len(wire)):
        server.receive_data(wire[i : i + 1])
        got += get_all_events(server)
    assert got == events


INVALID: list[tuple[str, bytes, str]] = [
    (
        "fmt1 on a chunk stream never seen",
        h("47 000000 000001 08 00"),
        "chunk type 1 on chunk stream 7 with no previous type 0 header",
    ),
    (
        "new header in the middle of a message",
        SET_CHUNK_SIZE_4 + h("06 000000 00000a 09 01000000 00010203  86 000000"),
        "type 2 header on chunk stream 6 while a message is incomplete",
    ),
    (
        "message larger than max_message_size",
        h("04 000000 100000 08 01000000"),
        "message of 1048576 bytes exceeds max_message_size=65536",
    ),
    (
        "Set Chunk Size 0",
        h("02 000000 000004 01 00000000 00000000"),
        "invalid Set Chunk Size 0",
    ),
    (
        "Set Chunk Size with the top bit set",
        h("02 000000 000004 01 00000000 80000000"),
        "invalid Set Chunk Size 2147483648",
    ),
    (
        "short control message",
        h("02 000000 000002 05 00000000 0000"),
        "Window Acknowledgement Size message of 2 bytes, need 4",
    ),
    (
        "short user control message",
        h("02 000000 000001 04 00000000 00"),
        "User Control message of 1 bytes, need >= 2",
    ),
    (
        "too many partial messages",
        SET_CHUNK_SIZE_4
        + h("04 000000 000008 08 01000000 00000000")
        + h("06 000000 000008 09 01000000 00000000"),
        "more than max_partial_chunk_streams=1 interleaved partial messages",
    ),
    (
        "too many chunk streams",
        h("07 000000 000000 08 01000000  08 000000 000000 08 01000000")
        + h("09 000000 000000 08 01000000  0a 000000 000000 08 01000000"),
        "more than 6 chunk streams in use",
    ),
    (
        "truncated aggregate header",
        h("04 000000 000004 16 01000000 08000000"),
        "truncated sub-message header in aggregate message",
    ),
    (
        "truncated aggregate body",
        h("04 000000 00000c 16 01000000 08 000002 000000 00 000000 aa"),
        "truncated sub-message body in aggregate message",
    ),
]


@pytest.mark.parametrize(("wire", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_chunk_errors(wire: bytes, message: str) -> None:
    server = publishing_server(
        max_message_size=65536, max_partial_chunk_streams=1, max_chunk_streams=6
    )
    server.receive_data(wire)
    with pytest.raises(rtmp.RemoteProtocolError) as info:
        get_all_events(server)
    assert str(info.value) == message
    assert server.state is rtmp.State.ERROR


def test_eof_inside_a_chunk_is_an_error_but_between_chunks_is_not() -> None:
    server = publishing_server()
    server.receive_data(h("04 000000 000003 08 01000000 61"))
    server.receive_data(b"")
    with pytest.raises(rtmp.RemoteProtocolError, match="incomplete chunk"):
        server.next_event()
    server = publishing_server()
    server.receive_data(b"")
    assert get_all_events(server) == [rtmp.ConnectionClosed()]
    assert server.next_event() == rtmp.ConnectionClosed()
    assert server.state is rtmp.State.CLOSED
    server.receive_data(b"")
    with pytest.raises(RuntimeError, match="after EOF"):
        server.receive_data(b"x")


def test_received_media_events_equal_constructed_ones() -> None:
    from protocols.rtmp._events import received_audio, received_video

    video = received_video(1, 0xFFFFFFFF, b"\x17")
    audio = received_audio(1, 0, b"\xaf")
    assert video == V(stream_id=1, timestamp=0xFFFFFFFF, payload=b"\x17")
    assert audio == A(stream_id=1, timestamp=0, payload=b"\xaf")
    assert type(video) is V and type(audio) is A
