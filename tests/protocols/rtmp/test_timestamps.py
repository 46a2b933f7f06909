"""Timestamp regression vectors for the protocol layer.

Streams longer than 4.66 hours (timestamps past 0xFFFFFF ms: extended timestamps,
also on type 3 chunks), longer than 49.7 days (past 2**32 ms: 32-bit wrap),
B-frames with composition time offsets (negative ones too), and the non-monotonic
DTS and backward jumps that OBS hardware encoders produce. In every case the
decoded events carry the exact timestamps and payloads: the RTMP layer neither
sorts, clamps nor "fixes" timestamps; that is the application's business.

Three kinds of vectors: hand-built wire bytes pin the decoder (RTMP spec 5.3.1.2,
5.3.1.3), a client Connection publishing to a server pins our encoder against our
decoder (and one wire image pins the encoder), and the recorded sessions in
vectors/ pin real producers' B-frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols import flv, rtmp

from .helpers import ConnectionPair, get_all_events, seeded_random

A = rtmp.AudioData
V = rtmp.VideoData

VECTORS = Path(__file__).parent / "vectors"
EXT = 0xFFFFFF  # the 24-bit field value that announces an extended timestamp
WRAP = 1 << 32


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def avc(frame_type: int, cts: int, data: bytes = b"\x00\x00\x00\x01\x65") -> bytes:
    """An AVC NALU video tag body with a signed 24-bit composition time offset."""
    return bytes(((frame_type << 4) | 7, 1)) + (cts & 0xFFFFFF).to_bytes(3, "big") + data


def publishing_pair() -> tuple[ConnectionPair, int]:
    pair = ConnectionPair()
    return pair, pair.start_publishing()


# --- hand-built wire bytes -> events --------------------------------------------------------

SET_CHUNK_SIZE_4 = h("02 000000 000004 01 00000000 00000004")

WIRE_CASES: list[tuple[str, bytes, list[rtmp.Event]]] = [
    (
        "past 0xFFFFFF with small deltas: fmt2/fmt3 need no extended field",
        h("06 fffff0 000001 09 01000000 01")
        + h("86 000028 02")  # delta 40 -> 0x1000018
        + h("c6 03"),  # delta 40 again -> 0x1000040
        [
            V(stream_id=1, timestamp=0xFFFFF0, payload=b"\x01"),
            V(stream_id=1, timestamp=0x1000018, payload=b"\x02"),
            V(stream_id=1, timestamp=0x1000040, payload=b"\x03"),
        ],
    ),
    (
        "exactly 0xFFFFFF is already written as an extended timestamp",
        h("06 ffffff 000001 09 01000000 00ffffff 01"),
        [V(stream_id=1, timestamp=0xFFFFFF, payload=b"\x01")],
    ),
    (
        "extended timestamp repeated on each type 3 continuation, audio interleaved",
        SET_CHUNK_SIZE_4
        + h("06 ffffff 00000a 09 01000000 01000000 00010203")
        + h("04 000010 000002 08 01000000 aabb")  # another chunk stream in between
        + h("c6 01000000 04050607")
        + h("c6 01000000 0809"),
        [
            A(stream_id=1, timestamp=0x10, payload=h("aabb")),
            V(stream_id=1, timestamp=0x1000000, payload=bytes(range(10))),
        ],
    ),
    (
        "extended fmt1 delta then multi-chunk type 3 continuations with the same field",
        SET_CHUNK_SIZE_4
        + h("06 000064 000001 09 01000000 01")
        + h("46 ffffff 000006 09 01000000 0a0b0c0d  c6 01000000 0e0f"),
        [
            V(stream_id=1, timestamp=100, payload=b"\x01"),
            V(stream_id=1, timestamp=0x1000064, payload=h("0a0b0c0d0e0f")),
        ],
    ),
    (
        "type 3 starting a new message after an extended fmt0: delta = the fmt0 value",
        h("06 ffffff 000001 09 01000000 01000000 01  c6 01000000 02"),
        [
            V(stream_id=1, timestamp=0x1000000, payload=b"\x01"),
            V(stream_id=1, timestamp=0x2000000, payload=b"\x02"),
        ],
    ),
    (
        "32-bit wrap through fmt2 and fmt3 deltas",
        h("06 ffffff 000001 09 01000000 ffffffc0 01")
        + h("86 000028 02")  # 0xFFFFFFE8
        + h("c6 03")  # wraps to 0x10
        + h("c6 04"),  # 0x38
        [
            V(stream_id=1, timestamp=0xFFFFFFC0, payload=b"\x01"),
            V(stream_id=1, timestamp=0xFFFFFFE8, payload=b"\x02"),
            V(stream_id=1, timestamp=0x10, payload=b"\x03"),
            V(stream_id=1, timestamp=0x38, payload=b"\x04"),
        ],
    ),
    (
        "32-bit wrap on a multi-chunk message with extended type 3 continuations",
        SET_CHUNK_SIZE_4
        + h("06 ffffff 000006 09 01000000 ffffffff 00010203  c6 ffffffff 0405")
        + h("46 000001 000001 09 ff"),  # fmt1: a new length, delta 1
        [
            V(stream_id=1, timestamp=0xFFFFFFFF, payload=bytes(range(6))),
            V(stream_id=1, timestamp=0, payload=b"\xff"),
        ],
    ),
    (
        "a backward step written as an extended delta of 2**32 - 40 (modular arithmetic)",
        h("06 0003e8 000001 09 01000000 01  86 ffffff ffffffd8 02"),
        [
            V(stream_id=1, timestamp=1000, payload=b"\x01"),
            V(stream_id=1, timestamp=960, payload=b"\x02"),
        ],
    ),
    (
        "a backward jump written as a new fmt0 (encoder restart, OBS reconnect)",
        h("06 001388 000001 09 01000000 01  06 0003e8 000001 09 01000000 02"),
        [
            V(stream_id=1, timestamp=5000, payload=b"\x01"),
            V(stream_id=1, timestamp=1000, payload=b"\x02"),
        ],
    ),
    (
        "B-frame tag bodies pass through untouched, negative composition time included",
        h("06 000050 00000a 09 01000000")
        + avc(2, -40)
        # 0x28 = 40 ms later; fmt1 because the body length is new
        + h("46 000028 000009 09")
        + avc(3, 80, b"\x00\x00\x00\x00"),
        [
            V(stream_id=1, timestamp=80, payload=avc(2, -40)),
            V(stream_id=1, timestamp=120, payload=avc(3, 80, b"\x00\x00\x00\x00")),
        ],
    ),
]


@pytest.mark.parametrize(
    ("wire", "events"), [c[1:] for c in WIRE_CASES], ids=[c[0] for c in WIRE_CASES]
)
def test_timestamp_wire_vectors(wire: bytes, events: list[rtmp.Event]) -> None:
    whole, _ = publishing_pair()
    whole.server.receive_data(wire)
    assert get_all_events(whole.server) == events
    # The same bytes one at a time: partial headers and extended fields resume cleanly.
    split, _ = publishing_pair()
    got: list[rtmp.Event] = []
    for i in range(len(wire)):
        split.server.receive_data(wire[i : i + 1])
        got += get_all_events(split.server)
    assert got == events


def test_negative_composition_time_survives_the_tag_parser() -> None:
    tag = flv.parse_video_tag(avc(2, -40))
    assert isinstance(tag, flv.VideoTag)
    assert tag.composition_time_ms == -40
    assert flv.encode_video_tag(tag) == avc(2, -40)
    assert flv.parse_video_tag(avc(1, -0x800000)).composition_time_ms == -0x800000


# --- our encoder against our decoder ------------------------------------------------------

# (name, [(kind, timestamp, payload)]); payloads above 4096 bytes (the client's chunk
# size) span several chunks, so type 3 continuations carry the extended timestamp.
BIG = bytes(range(256)) * 20  # 5120 bytes: two chunks
SCENARIOS: list[tuple[str, list[tuple[str, int, bytes]]]] = [
    (
        "4.66 hours: crossing 0xFFFFFF",
        [
            (
                "video" if i % 2 else "audio",
                EXT - 100 + 20 * i,
                avc(1, 0, BIG) if i % 2 else b"\xaf",
            )
            for i in range(12)
        ],
    ),
    (
        "49.7 days: crossing 2**32 (the timestamps wrap, then keep counting)",
        [("video", (WRAP - 120 + 40 * i) % WRAP, avc(2, 40, BIG[: 100 * i])) for i in range(8)],
    ),
    (
        "extended deltas: every step larger than 0xFFFFFF",
        [("audio", (EXT + 1) * i, b"\xaf\x01" + bytes(i)) for i in range(5)],
    ),
    (
        "B-frames: DTS monotonic, composition offsets positive, zero and negative",
        [
            ("video", dts, avc(1 if dts == 0 else 2, cts))
            for dts, cts in [(0, 80), (40, 160), (80, 40), (120, 0), (160, -40), (200, -80)]
        ],
    ),
    (
        "OBS hardware encoder: DTS steps back, repeats, and jumps",
        [
            ("video", dts, avc(2, cts))
            for dts, cts in [
                (0, 0),
                (33, 33),
                (67, -33),
                (66, 34),  # one ms backwards
                (66, 0),  # the same DTS twice
                (100, 0),
                (4100, 0),  # a 4 s jump forward (encoder stall)
                (133, 0),  # and back again
                (EXT + 5, 0),  # and up past 24 bits
                (7, 0),  # and back below
            ]
        ],
    ),
    (
        "audio behind video (interleaving by DTS is not required)",
        [
            ("video", 1000, avc(1, 0)),
            ("audio", 900, b"\xaf\x01"),
            ("video", 1040, avc(2, 0)),
            ("audio", 923, b"\xaf\x01"),
            ("audio", 946, b"\xaf\x01"),
        ],
    ),
]


@pytest.mark.parametrize("items", [s[1] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_publish_timestamps_arrive_exactly(items: list[tuple[str, int, bytes]]) -> None:
    pair, stream_id = publishing_pair()
    sent: list[rtmp.Event] = []
    for kind, timestamp, payload in items:
        event = (A if kind == "audio" else V)(
            stream_id=stream_id, timestamp=timestamp, payload=payload
        )
        pair.client.send(event)
        sent.append(event)
    assert pair.transfer() == (sent, [])


def test_encoder_writes_the_extended_timestamp_on_type_3_continuations() -> None:
    pair, stream_id = publishing_pair()
    payload = bytes(4100)  # chunk size 4096: one continuation chunk
    pair.client.send(V(stream_id=stream_id, timestamp=0x1000000, payload=payload))
    wire = pair.client.data_to_send()
    # csid 6 (video) has sent nothing yet: fmt0, then one type 3 chunk, both with
    # the 4-byte extended timestamp (RTMP spec 5.3.1.3).
    assert wire == (
        h("06 ffffff 001004 09 01000000 01000000")
        + payload[:4096]
        + h("c6 01000000")
        + payload[4096:]
    )
    pair.server.receive_data(wire)
    assert get_all_events(pair.server) == [
        V(stream_id=stream_id, timestamp=0x1000000, payload=payload)
    ]


def test_server_sends_long_stream_timestamps_to_a_player() -> None:
    """The other direction: what the server plays out keeps the exact timestamps."""
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.send(rtmp.Play(stream_id=stream_id, stream_name="live"))
    pair.transfer()
    pair.server.accept_play(stream_id)
    pair.transfer()
    timestamps = [EXT - 40, EXT, EXT + 40, WRAP - 1, 0, 40, 20]
    for ts in timestamps:
        pair.server.send_media(stream_id, "video", ts, avc(2, -20, BIG))
    _, client_events = pair.transfer()
    assert client_events == [
        V(stream_id=stream_id, timestamp=ts, payload=avc(2, -20, BIG)) for ts in timestamps
    ]


# --- recorded producers -------------------------------------------------------------------


def coded_frames(name: str) -> list[tuple[int, int]]:
    """(DTS, composition offset) of every coded video frame in a recorded publish."""
    server = rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(2))
    server.receive_data((VECTORS / name).read_bytes())
    server.receive_data(b"")
    frames: list[tuple[int, int]] = []
    while not isinstance(event := server.next_event(), rtmp.ConnectionClosed):
        assert event is not rtmp.NEED_DATA
        if isinstance(event, rtmp.Connect):
            server.accept_connect()
        elif isinstance(event, rtmp.Publish):
            server.accept_publish(event.stream_id)
        elif isinstance(event, rtmp.VideoData):
            tag = flv.parse_video_tag(event.payload)
            if tag.is_coded_frame:
                frames.append((event.timestamp, tag.composition_time_ms))
    return frames


@pytest.mark.parametrize(
    ("name", "offsets"),
    [
        # x264 with 2 B-frames: I/P frames show 80 or 160 ms later, B-frames 40 ms.
        ("ffmpeg-publish-h264-bframes-aac.bin", [80, 160, 40, 40] + [160, 40, 40] * 7),
        # x265, enhanced RTMP: B-frames use CodedFramesX, which means offset 0.
        ("pyav-publish-hevc-aac.bin", [80, 160, 80, 0] + [160, 80, 0] * 7),
    ],
)
def test_recorded_b_frames(name: str, offsets: list[int]) -> None:
    frames = coded_frames(name)
    assert [dts for dts, _ in frames] == [40 * i for i in range(25)]  # DTS: monotonic
    assert [cts for _, cts in frames] == offsets
    # Display times (DTS + offset) are each 40 ms frame slot exactly once: reordered.
    assert sorted(dts + cts for dts, cts in frames) == [80 + 40 * i for i in range(25)]
