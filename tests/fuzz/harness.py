"""What each fuzz target checks, and the seed corpus it starts from (no atheris here).

The ``fuzz_*.py`` scripts wrap these functions for atheris; ``test_harness.py``
runs them on the seeds under pytest, so a harness that rots fails the normal suite.

The property is the same for every target (the protocol suites' "arbitrary
input" invariant): arbitrary bytes produce values/events or the package's own error
(:class:`~protocols.rtmp.RemoteProtocolError`, :class:`~protocols.amf.AMFDecodeError`,
:class:`~protocols.flv.FLVError`). Any other exception, and any broken round trip
or invariant (an ``AssertionError``), is a crash. The RTMP target also checks
invariant 1: an input split into many ``receive_data`` calls gives the same events
as the input in one piece.

Input layout: the first byte of every input selects a *mode* (which entry point,
which starting state) and how the rest is split into ``receive_data`` calls;
the rest is the payload. Seeds carry the same first byte, so libFuzzer keeps
mutating real sessions in the right mode.
"""

from __future__ import annotations

import base64
import functools
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from protocols import amf, flv, fmp4, hls, proxy, resumable, rtmp, tus
from tests.protocols.fmp4.helpers import parse_boxes, read_fragment
from trioflix.chat import protocol as chat

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "TARGETS",
    "amf0_one_input",
    "amf3_one_input",
    "chat_one_input",
    "flv_one_input",
    "flvconfig_one_input",
    "fmp4_one_input",
    "hls_one_input",
    "llhls_one_input",
    "proxy_one_input",
    "resumable_one_input",
    "rtmp_one_input",
    "seeds",
    "tus_one_input",
]

ROOT = Path(__file__).resolve().parents[2]
RTMP_VECTORS = ROOT / "tests" / "protocols" / "rtmp" / "vectors"
FLV_VECTORS = ROOT / "tests" / "protocols" / "flv" / "vectors"

HANDSHAKE_LEN = 1 + 1536 + 1536  # C0 C1 C2
U32 = 0xFFFFFFFF


def _random(seed: int) -> random.Random:
    return random.Random(seed)


def _pieces(data: bytes, step_code: int) -> list[bytes]:
    """Split ``data`` for ``receive_data``: whole (0) or in pieces of ``step_code**2`` bytes."""
    if step_code == 0:
        return [data]
    step = step_code * step_code
    return [data[i : i + step] for i in range(0, len(data), step)]


# --- RTMP ---------------------------------------------------------------------------------

# Modes (input[0] & 3); input[0] >> 2 is the split code for _pieces.
RTMP_RAW = 0  # a server fed the input as is: handshake, chunks, AMF
RTMP_AFTER_HANDSHAKE = 1  # a server after a canned C0/C1/C2
RTMP_PUBLISHING = 2  # a server after handshake, connect, createStream, publish (accepted)
RTMP_CLIENT_PLAY = 3  # a client that connects and plays, fed the input as the server's bytes


def _rtmp_server() -> rtmp.Connection:
    return rtmp.Connection(rtmp.SERVER, random_bytes=_random(2).randbytes)


def _rtmp_client() -> rtmp.Connection:
    return rtmp.Connection(rtmp.CLIENT, random_bytes=_random(1).randbytes)


def _answer(conn: rtmp.Connection, event: rtmp.Event) -> None:
    """Accept everything, so that the deeper states are reached."""
    if isinstance(event, rtmp.Connect):
        conn.accept_connect()
    elif isinstance(event, rtmp.Publish):
        conn.accept_publish(event.stream_id)
    elif isinstance(event, rtmp.Play):
        conn.accept_play(event.stream_id)
        conn.send_metadata(event.stream_id, {"width": 160.0})
        conn.send_media(event.stream_id, "video", 0, b"\x17\x00\x00\x00\x00")
    elif isinstance(event, rtmp.HandshakeComplete) and conn.role is rtmp.CLIENT:
        conn.send(rtmp.Connect(app="live", tc_url="rtmp://127.0.0.1/live"))
    elif isinstance(event, rtmp.ConnectAccepted):
        conn.send(rtmp.CreateStream())
    elif isinstance(event, rtmp.StreamCreated) and conn.role is rtmp.CLIENT:
        conn.send(rtmp.Play(stream_id=event.stream_id, stream_name="testkey"))


def _check_event(event: rtmp.Event) -> None:
    if isinstance(event, rtmp.AudioData | rtmp.VideoData | rtmp.Metadata | rtmp.DataMessage):
        assert 0 <= event.timestamp <= U32, event
    if isinstance(event, rtmp.AudioData | rtmp.VideoData):
        assert isinstance(event.payload, bytes), event


def _check_failed(conn: rtmp.Connection, exc: rtmp.RemoteProtocolError) -> None:
    assert conn.state is rtmp.State.ERROR
    assert exc.status_hint is None or isinstance(exc.status_hint, str)
    try:
        conn.next_event()
    except rtmp.RemoteProtocolError:
        return
    raise AssertionError("next_event() worked after a RemoteProtocolError")


def _drive(conn: rtmp.Connection, pieces: list[bytes]) -> list[rtmp.Event | str]:
    """Feed ``pieces`` then EOF, answering as :func:`_answer` does.

    Returns the events; stops at the first ``RemoteProtocolError``, after checking
    that the connection stays failed, and ends the list with ``"RemoteProtocolError"``.
    """
    events: list[rtmp.Event | str] = []
    for piece in [*pieces, b""]:
        conn.receive_data(piece)
        try:
            while (event := conn.next_event()) is not rtmp.NEED_DATA:
                assert isinstance(event, rtmp.Event), event
                _check_event(event)
                events.append(event)
                if isinstance(event, rtmp.ConnectionClosed):
                    conn.data_to_send()
                    return events
                _answer(conn, event)
        except rtmp.RemoteProtocolError as exc:
            _check_failed(conn, exc)
            return [*events, "RemoteProtocolError"]
        conn.data_to_send()
    raise AssertionError("EOF did not produce ConnectionClosed or an error")


@functools.cache
def _ffmpeg_publish() -> bytes:
    return (RTMP_VECTORS / "ffmpeg-publish-h264-aac.bin").read_bytes()


@functools.cache
def _publishing_prefix_len(vector: bytes) -> int:
    """Length of the shortest prefix of ``vector`` after which the server has a Publish."""
    conn = _rtmp_server()
    for i in range(len(vector)):
        conn.receive_data(vector[i : i + 1])
        while (event := conn.next_event()) is not rtmp.NEED_DATA:
            _answer(conn, event)
            if isinstance(event, rtmp.Publish):
                return i + 1
    raise ValueError("no publish in this vector")


def _publishing_server() -> rtmp.Connection:
    vector = _ffmpeg_publish()
    conn = _rtmp_server()
    conn.receive_data(vector[: _publishing_prefix_len(vector)])
    while (event := conn.next_event()) is not rtmp.NEED_DATA:
        _answer(conn, event)
    assert conn.streams == {1: rtmp.StreamState.PUBLISHING}
    conn.data_to_send()
    return conn


def _rtmp_run(mode: int, pieces: list[bytes]) -> list[rtmp.Event | str]:
    if mode == RTMP_CLIENT_PLAY:
        return _drive(_rtmp_client(), pieces)
    if mode == RTMP_PUBLISHING:
        return _drive(_publishing_server(), pieces)
    return _drive(_rtmp_server(), pieces)


def rtmp_one_input(data: bytes) -> None:
    """Fuzz target: an RTMP server (or client) fed arbitrary bytes."""
    if not data:
        return
    mode, step_code, body = data[0] & 3, data[0] >> 2, data[1:]
    if mode == RTMP_AFTER_HANDSHAKE:
        body = _ffmpeg_publish()[:HANDSHAKE_LEN] + body
    events = _rtmp_run(mode, _pieces(body, step_code))
    if step_code:
        # Invariant: how the bytes are split changes nothing.
        assert events == _rtmp_run(mode, [body])


def _server_to_client_play_session() -> bytes:
    """Everything a server sends to a client that connects and plays a short stream."""
    return _play_session()[1]


def _play_session() -> tuple[bytes, bytes]:
    """(client bytes, server bytes) of a client that connects and plays a short stream."""
    client, server = _rtmp_client(), _rtmp_server()
    s2c = bytearray()
    c2s_all = bytearray()
    while c2s := client.data_to_send():  # b"" would mean EOF: stop when quiet
        c2s_all += c2s
        server.receive_data(c2s)
        while (event := server.next_event()) is not rtmp.NEED_DATA:
            _answer(server, event)
        out = server.data_to_send()
        s2c += out
        client.receive_data(out)
        while (event := client.next_event()) is not rtmp.NEED_DATA:
            _answer(client, event)
    stream_id = 1
    assert server.streams == {stream_id: rtmp.StreamState.PLAYING}
    for i in range(6):
        server.send_media(stream_id, "audio", 23 * i, b"\xaf\x01" + bytes(20))
        server.send_media(stream_id, "video", 40 * i, b"\x27\x01\x00\x00\x50" + bytes(200))
    server.send(rtmp.Status(stream_id=stream_id, code="NetStream.Play.UnpublishNotify"))
    server.send_stream_eof(stream_id)
    s2c += server.data_to_send()
    client.send(rtmp.PingResponse(timestamp=7))
    client.send(rtmp.CloseStream(stream_id=stream_id))
    client.send(rtmp.DeleteStream(stream_id=stream_id))
    c2s_all += client.data_to_send()
    return bytes(c2s_all), bytes(s2c)


def _chunk(csid: int, type_id: int, stream_id: int, payload: bytes) -> bytes:
    """One fmt0 chunk: a whole message of at most 128 bytes (any chunk size fits)."""
    assert len(payload) <= 128
    return (
        bytes((csid,))
        + bytes(3)
        + len(payload).to_bytes(3, "big")
        + bytes((type_id,))
        + stream_id.to_bytes(4, "little")
        + payload
    )


def _publishing_extras() -> bytes:
    """Messages ffmpeg does not send, for a server in the publishing state."""
    sub_tag = (
        bytes((8,)) + (2).to_bytes(3, "big") + bytes(7) + b"\xaf\x01" + (13).to_bytes(4, "big")
    )
    return b"".join(
        (
            _chunk(2, 2, 0, (9).to_bytes(4, "big")),  # Abort
            _chunk(2, 3, 0, (1000).to_bytes(4, "big")),  # Acknowledgement
            _chunk(2, 5, 0, (100).to_bytes(4, "big")),  # Window Acknowledgement Size
            _chunk(2, 6, 0, (5000).to_bytes(4, "big") + b"\x02"),  # Set Peer Bandwidth
            _chunk(2, 4, 0, bytes.fromhex("0006 00000007")),  # Ping Request
            _chunk(2, 4, 0, bytes.fromhex("0003 00000001 00000bb8")),  # Set Buffer Length
            _chunk(3, 17, 0, b"\x00" + amf.encode_amf0("FCUnpublish", 5.0, None, "testkey")),
            _chunk(3, 17, 0, b"\x00" + amf.encode_amf0("getStreamLength", 6.0, None, "x")),
            _chunk(3, 20, 0, amf.encode_amf0("someCall", 7.0, None)),
            _chunk(8, 15, 1, b"\x00" + amf.encode_amf0("onCuePoint", {"name": "c"})),
            _chunk(8, 18, 1, amf.encode_amf0("onTextData", {"text": "hi"})),
            _chunk(8, 22, 1, sub_tag + sub_tag),  # Aggregate of two AAC frames
            _chunk(8, 19, 1, b"\x00"),  # shared object: ignored
            _chunk(3, 20, 1, amf.encode_amf0("closeStream", 0.0, None)),
            _chunk(3, 20, 0, amf.encode_amf0("deleteStream", 8.0, None, 1.0)),
        )
    )


def _rtmp_seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(RTMP_VECTORS.glob("*.bin")):
        vector = path.read_bytes()
        start = _publishing_prefix_len(vector)
        out[f"{path.stem}-raw"] = bytes((RTMP_RAW,)) + vector
        out[f"{path.stem}-raw-split"] = bytes((RTMP_RAW | 7 << 2,)) + vector
        after_handshake = vector[HANDSHAKE_LEN:]
        out[f"{path.stem}-after-handshake"] = bytes((RTMP_AFTER_HANDSHAKE,)) + after_handshake
        out[f"{path.stem}-publishing"] = bytes((RTMP_PUBLISHING,)) + vector[start:]
    player, play = _play_session()
    out["client-play"] = bytes((RTMP_CLIENT_PLAY,)) + play
    out["client-play-split"] = bytes((RTMP_CLIENT_PLAY | 3 << 2,)) + play
    out["server-play"] = bytes((RTMP_RAW,)) + player
    out["publishing-extras"] = bytes((RTMP_PUBLISHING,)) + _publishing_extras()
    return out


# --- AMF0 ---------------------------------------------------------------------------------


def amf0_one_input(data: bytes) -> None:
    """Fuzz target: decode_amf0; what decodes must re-encode stably."""
    try:
        values = amf.decode_amf0(data)
    except amf.AMFDecodeError:
        return
    try:
        encoded = amf.encode_amf0(*values)
    except amf.AMFEncodeError:
        # Only values that came through the AMF3 switch (0x11) may lack an AMF0 form
        # (byte arrays, names longer than 65535 bytes).
        assert b"\x11" in data
        return
    again = amf.decode_amf0(encoded)
    assert len(again) == len(values)
    assert amf.encode_amf0(*again) == encoded


def _amf0_seeds() -> dict[str, bytes]:
    shared = {"shared": 1.0}
    everything: list[object] = [
        1.5,
        True,
        "str",
        {"a": None, "b": amf.UNDEFINED, "c": amf.UNSUPPORTED},
        amf.ECMAArray({"duration": 0.0, "width": 160.0}),
        [1.0, "two", [3.0]],
        datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
        amf.XMLDocument("<a/>"),
        amf.TypedObject("flex.messaging.io.ArrayCollection", {"source": []}),
        [shared, shared],  # the second one is a reference
    ]
    out = {f"value-{i}": amf.encode_amf0(value) for i, value in enumerate(everything)}
    out["connect"] = amf.encode_amf0(
        "connect",
        1.0,
        {
            "app": "live",
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; Lavf59.27.100)",
            "tcUrl": "rtmp://127.0.0.1:1935/live",
        },
    )
    out["result"] = amf.encode_amf0(
        "_result",
        1.0,
        {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
        {"level": "status", "code": "NetConnection.Connect.Success", "objectEncoding": 0.0},
    )
    out["publish"] = amf.encode_amf0("publish", 0.0, None, "testkey", "live")
    out["avmplus"] = (
        amf.encode_amf0("x") + b"\x11" + amf.encode_amf3({"a": [1, 2.5, b"\x00"], "b": "s"})
    )
    # A long string (0x0C) with a short body: decoders must take the marker's word for
    # it, and a 64 KiB seed would slow every mutation down.
    out["long-string"] = b"\x0c\x00\x00\x00\x03abc"
    out["object-end-alone"] = b"\x09"
    out["reference-forward"] = b"\x0a\x00\x00\x00\x01\x07\x00\x00"
    # Real AMF0 from ffmpeg: the script tags (onMetaData) of the FLV corpus.
    for path in sorted(FLV_VECTORS.glob("*.flv")):
        for i, tag in enumerate(_flv_tags(path.read_bytes())):
            if tag.tag_type == flv.TagType.SCRIPT_DATA:
                out[f"{path.stem}-script-{i}"] = tag.data
    return out


# --- FLV ----------------------------------------------------------------------------------

# Modes (input[0] % 8); input[0] >> 3 is the split code for FLV_FILE.
FLV_FILE = 0  # FLVReader over the input, and every tag body parsed
FLV_VIDEO_BODY = 1
FLV_AUDIO_BODY = 2
FLV_H264_SPS = 3
FLV_HEVC_CONFIG = 4
FLV_AAC_CONFIG = 5
FLV_AVC_CONFIG = 6
FLV_SCRIPT_BODY = 7


def _flv_tags(data: bytes) -> list[flv.FLVTag]:
    reader = flv.FLVReader()
    reader.receive_data(data)
    reader.receive_data(b"")
    tags: list[flv.FLVTag] = []
    while not isinstance(event := reader.next_event(), flv.FLVEnd):
        if isinstance(event, flv.FLVTag):
            tags.append(event)
    return tags


def _avc_config(data: bytes) -> None:
    config = flv.parse_avc_config(data)
    for sps in config.sps:
        _h264_sps(sps)


def _h264_sps(data: bytes) -> None:
    sps = flv.parse_h264_sps(data)
    assert sps.width > 0 and sps.height > 0, sps


def _multitrack_video(body: bytes) -> None:
    # What the live ingest does with a multitrack publisher's message
    # (trioflix.live.channel.tracks.split_tracks): each track as a plain body.
    tag = flv.parse_multitrack_video(body)
    assert flv.encode_multitrack_video(tag) == body, tag
    for track in tag.tracks:
        single = flv.single_track_video(tag, track.track_id)
        assert single is not None, track
        _video_body(single)


def _multitrack_audio(body: bytes) -> None:
    tag = flv.parse_multitrack_audio(body)
    assert flv.encode_multitrack_audio(tag) == body, tag
    for track in tag.tracks:
        single = flv.single_track_audio(tag, track.track_id)
        if single is not None:
            _audio_body(single)


def _video_body(body: bytes) -> None:
    tag = flv.parse_video_tag(body)
    assert flv.encode_video_tag(tag) == body, tag
    if flv.is_multitrack_video(body):
        _multitrack_video(body)
    elif tag.is_sequence_header and tag.fourcc == "avc1":
        _avc_config(tag.data)
    elif tag.is_sequence_header and tag.fourcc == "hvc1":
        flv.parse_hevc_config(tag.data)


def _audio_body(body: bytes) -> None:
    tag = flv.parse_audio_tag(body)
    assert flv.encode_audio_tag(tag) == body, tag
    if flv.is_multitrack_audio(body):
        _multitrack_audio(body)
    elif tag.is_sequence_header:
        flv.parse_audio_specific_config(tag.data)


def _script_body(body: bytes) -> None:
    try:
        amf.decode_amf0(body)
    except amf.AMFDecodeError:
        pass


def _flv_file(pieces: list[bytes]) -> None:
    reader = flv.FLVReader()
    for piece in [*pieces, b""]:
        reader.receive_data(piece)
        while (event := reader.next_event()) is not flv.NEED_DATA:
            if isinstance(event, flv.FLVEnd):
                return
            if isinstance(event, flv.FLVHeader):
                continue
            again = flv.FLVReader()
            again.receive_data(flv.encode_header(has_audio=True, has_video=True))
            again.receive_data(flv.encode_tag(event))
            assert isinstance(again.next_event(), flv.FLVHeader)
            assert again.next_event() == event
            try:
                if event.tag_type == flv.TagType.VIDEO:
                    _video_body(event.data)
                elif event.tag_type == flv.TagType.AUDIO:
                    _audio_body(event.data)
                elif event.tag_type == flv.TagType.SCRIPT_DATA:
                    _script_body(event.data)
            except flv.FLVError:
                pass  # a bad tag body does not stop a reader; keep reading the file
    raise AssertionError("EOF did not produce FLVEnd or an error")


_FLV_BODY_PARSERS: dict[int, Callable[[bytes], object]] = {
    FLV_VIDEO_BODY: _video_body,
    FLV_AUDIO_BODY: _audio_body,
    FLV_H264_SPS: _h264_sps,
    FLV_HEVC_CONFIG: flv.parse_hevc_config,
    FLV_AAC_CONFIG: flv.parse_audio_specific_config,
    FLV_AVC_CONFIG: _avc_config,
    FLV_SCRIPT_BODY: _script_body,
}


def flv_one_input(data: bytes) -> None:
    """Fuzz target: the FLV reader, the tag body parsers and the codec record parsers."""
    if not data:
        return
    mode, step_code, body = data[0] & 7, data[0] >> 3, data[1:]
    try:
        if mode == FLV_FILE:
            _flv_file(_pieces(body, step_code))
        else:
            _FLV_BODY_PARSERS[mode](body)
    except flv.FLVError:
        pass


def _flv_seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(FLV_VECTORS.glob("*.flv")):
        data = path.read_bytes()
        out[f"{path.stem}-file"] = bytes((FLV_FILE,)) + data
        out[f"{path.stem}-file-split"] = bytes((FLV_FILE | 5 << 3,)) + data
        seen: set[bytes] = set()
        for i, tag in enumerate(_flv_tags(data)):
            # Every distinct tag header byte pattern once, plus all sequence headers.
            key = tag.data[:2]
            if key in seen and tag.tag_type != flv.TagType.SCRIPT_DATA:
                continue
            seen.add(key)
            modes = {int(flv.TagType.VIDEO): FLV_VIDEO_BODY, int(flv.TagType.AUDIO): FLV_AUDIO_BODY}
            mode = modes.get(tag.tag_type, FLV_SCRIPT_BODY)
            out[f"{path.stem}-tag-{i}"] = bytes((mode,)) + tag.data
            if tag.tag_type == flv.TagType.VIDEO:
                video = flv.parse_video_tag(tag.data)
                if video.is_sequence_header and video.fourcc == "avc1":
                    out[f"{path.stem}-avcc"] = bytes((FLV_AVC_CONFIG,)) + video.data
                    for j, sps in enumerate(flv.parse_avc_config(video.data).sps):
                        out[f"{path.stem}-sps-{j}"] = bytes((FLV_H264_SPS,)) + sps
                elif video.is_sequence_header and video.fourcc == "hvc1":
                    out[f"{path.stem}-hvcc"] = bytes((FLV_HEVC_CONFIG,)) + video.data
            elif tag.tag_type == flv.TagType.AUDIO:
                audio = flv.parse_audio_tag(tag.data)
                if audio.is_sequence_header:
                    out[f"{path.stem}-asc"] = bytes((FLV_AAC_CONFIG,)) + audio.data
    return out


# --- FLV codec records ---------------------------------------------------------------------


def flvconfig_one_input(data: bytes) -> None:
    """Fuzz target: the codec record parsers alone (AVC/HEVC records, H.264 SPS, AAC
    AudioSpecificConfig, video tag bodies with enhanced-RTMP FourCC headers).

    The same parsers as the ``flv`` target's body modes, with the whole budget spent on
    them rather than on the file reader. Modes as in :func:`flv_one_input`; mode 0 (a
    whole file) is read as a video tag body.
    """
    if not data:
        return
    mode, body = data[0] & 7, data[1:]
    try:
        _FLV_BODY_PARSERS.get(mode, _video_body)(body)
    except flv.FLVError:
        pass


def _flvconfig_seeds() -> dict[str, bytes]:
    return {name: data for name, data in _flv_seeds().items() if data[0] & 7 != FLV_FILE}


# --- AMF3 ---------------------------------------------------------------------------------


def amf3_one_input(data: bytes) -> None:
    """Fuzz target: decode_amf3; what decodes must re-encode stably."""
    try:
        values = amf.decode_amf3(data)
    except amf.AMFDecodeError:
        return
    encoded = amf.encode_amf3(*values)
    again = amf.decode_amf3(encoded)
    assert len(again) == len(values)
    assert amf.encode_amf3(*again) == encoded


def _amf3_seeds() -> dict[str, bytes]:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    out = {
        "scalars": amf.encode_amf3(None, True, False, 0, -1, 2**28 - 1, 2.5, "s", ""),
        "connect": amf.encode_amf3(
            {"app": "live", "tcUrl": "rtmp://h/live", "objectEncoding": 3.0}
        ),
        "nested": amf.encode_amf3([1, [2, [3, {"k": b"\x00\x01"}]], "x"]),
        "date": amf.encode_amf3(moment),
        "bytes": amf.encode_amf3(b"\x00" * 8),
        # References: the second "ab" and the second object are by index (U29 ref).
        "string-ref": b"\x06\x05ab\x06\x00",
        "object-ref": b"\x0a\x0b\x01\x03k\x04\x01\x01\x0a\x02",
        # Sealed trait with one member, then a trait reference.
        "traits": b"\x09\x03\x01\x0a\x13\x03T\x03a\x04\x01\x0a\x01\x04\x02",
        "vector-int": b"\x0d\x05\x00" + (1).to_bytes(4, "big") + (2).to_bytes(4, "big"),
        "vector-double": b"\x0f\x03\x00" + bytes(8),
        "xml": b"\x0b\x07<a/>",
    }
    return out


# --- MPEG-TS / HLS muxer ------------------------------------------------------------------

# Modes: input[0] & 1 is the segmenter's video flag (0: audio-only), (input[0] >> 1) & 3
# picks the target duration; the rest is an FLV file whose tags (and their timestamps)
# feed the segmenter.
_HLS_TARGETS_MS = (1, 40, 500, 2000)
_TS_PIDS = frozenset((hls.VIDEO_PID, hls.AUDIO_PID, hls.PMT_PID, 0))


class _TSChecker:
    """Checks MPEG-TS structure across the segments of one stream."""

    def __init__(self) -> None:
        self.counters: dict[int, int] = {}

    def segment(self, data: bytes) -> None:
        size = hls.TS_PACKET_SIZE
        assert data and len(data) % size == 0, len(data)
        pids = []
        for pos in range(0, len(data), size):
            assert data[pos] == 0x47, pos
            pid = (data[pos + 1] & 0x1F) << 8 | data[pos + 2]
            assert pid in _TS_PIDS, pid
            assert data[pos + 3] & 0x10, "every packet carries payload"
            counter = data[pos + 3] & 0x0F
            last = self.counters.get(pid)
            assert last is None or counter == (last + 1) & 0x0F, (pid, last, counter)
            self.counters[pid] = counter
            pids.append(pid)
        assert pids[:2] == [0, hls.PMT_PID], pids[:2]


def hls_one_input(data: bytes) -> None:
    """Fuzz target: the HLS segmenter and TS muxer fed the tags of an FLV file.

    Allowed: ``FLVError`` from the FLV reader or a tag body, ``HLSError`` for a corrupt
    record or frame (the segmenter then goes on with the next tag). Every segment must
    be whole 188-byte packets with the 0x47 sync byte, PAT and PMT first, continuity
    counters running on across segments, in sequence order, with a duration >= 0.
    """
    if not data:
        return
    segmenter = hls.Segmenter(
        target_duration_ms=_HLS_TARGETS_MS[data[0] >> 1 & 3], video=bool(data[0] & 1)
    )
    unwrapper = hls.TimestampUnwrapper()
    checker = _TSChecker()
    events: list[hls.SegmentEvent] = []
    try:
        for tag in _flv_tags(data[1:]):
            try:
                if tag.tag_type == flv.TagType.VIDEO:
                    video = flv.parse_video_tag(tag.data)
                    events += segmenter.push_video(video, unwrapper.unwrap(tag.timestamp_ms))
                elif tag.tag_type == flv.TagType.AUDIO:
                    audio = flv.parse_audio_tag(tag.data)
                    events += segmenter.push_audio(audio, unwrapper.unwrap(tag.timestamp_ms))
            except (flv.FLVError, hls.HLSError):
                pass  # a bad tag is dropped; the stream goes on
    except flv.FLVError:
        pass  # the file itself is broken: what was read so far still counts
    events += segmenter.finish()
    opened: hls.SegmentStarted | None = None
    for event in events:
        if isinstance(event, hls.SegmentStarted):
            assert opened is None
            opened = event
            continue
        assert opened is not None and opened.sequence == event.sequence
        assert event.duration_ms >= 0, event
        checker.segment(event.data)
        opened = None
    assert opened is None


def _hls_seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(FLV_VECTORS.glob("*.flv")):
        data = path.read_bytes()
        # Video with short segments, audio-only, video with the default target.
        for mode in (1 | 1 << 1, 1 << 1, 1 | 3 << 1):
            out[f"{path.stem}-{mode}"] = bytes((mode,)) + data
    return out


# --- fMP4 muxer ---------------------------------------------------------------------------

# Modes: input[0] & 3 picks after how many video frames a part is cut (keyframes always
# cut), input[0] >> 2 & 1 cuts after every audio frame too; the rest is an FLV file whose
# tags (and their unwrapped timestamps) feed a Fragmenter, as an LL-HLS writer would.
_FMP4_PART_FRAMES = (1, 2, 6, 1 << 30)


class _FMP4Session:
    """A fragmenter per codec-record set: a changed record flushes and starts a new one
    (a new init segment), the sequence numbers running on."""

    def __init__(self) -> None:
        self.video: fmp4.VideoConfig | None = None
        self.audio: flv.AudioSpecificConfig | None = None
        self.fragmenter: fmp4.Fragmenter | None = None
        self.sequence = 1

    def record(self, video: fmp4.VideoConfig | None, audio: flv.AudioSpecificConfig | None) -> None:
        if (video, audio) != (self.video, self.audio):
            self.emit(final=True)
            self.fragmenter = None
            self.video, self.audio = video, audio

    def current(self) -> fmp4.Fragmenter:
        if self.fragmenter is None:
            self.fragmenter = fmp4.Fragmenter(
                video=self.video, audio=self.audio, sequence=self.sequence
            )
            (ftyp, moov) = parse_boxes(self.fragmenter.init_segment)
            assert (ftyp.type, moov.type) == (b"ftyp", b"moov")
        return self.fragmenter

    def emit(self, *, final: bool) -> None:
        if self.fragmenter is None:
            return
        fragment = self.fragmenter.flush() if final else self.fragmenter.cut()
        if fragment is None:
            return
        assert fragment.sequence == self.sequence, (fragment.sequence, self.sequence)
        self.sequence += 1
        assert fragment.duration_ms >= 0, fragment
        read = read_fragment(fragment.data)
        assert read.sequence == fragment.sequence
        for traf, run in zip(read.trafs, fragment.tracks, strict=True):
            assert (traf.track_id, traf.base_decode_time) == (run.track_id, run.base_decode_time)
            assert sum(s.duration for s in traf.samples) == run.duration
        assert self.fragmenter.pending_bytes >= 0


def _fmp4_config(tag: flv.VideoTag | flv.ExVideoTag) -> fmp4.VideoConfig:
    return (
        flv.parse_avc_config(tag.data) if tag.fourcc == "avc1" else flv.parse_hevc_config(tag.data)
    )


def fmp4_one_input(data: bytes) -> None:
    """Fuzz target: the fMP4 fragmenter fed the tags of an FLV file, cut into parts.

    Allowed: ``FLVError`` from the FLV reader, a tag body or a codec record, and
    ``FMP4Error`` for a sample or record the muxer refuses (dropped, the stream goes on).
    Every init segment must be ``ftyp`` + ``moov``; every fragment one ``moof`` + ``mdat``
    whose boxes' sizes tile it, with sequence numbers in order across fragmenters, the
    ``trun`` samples tiling the ``mdat`` payload, and the decode times and durations the
    :class:`~protocols.fmp4.Fragment` reports.
    """
    if not data:
        return
    part_frames = _FMP4_PART_FRAMES[data[0] & 3]
    cut_on_audio = bool(data[0] >> 2 & 1)
    unwrapper = hls.TimestampUnwrapper()
    session = _FMP4Session()
    frames = 0
    try:
        for tag in _flv_tags(data[1:]):
            ts = unwrapper.unwrap(tag.timestamp_ms)
            try:
                if tag.tag_type == flv.TagType.VIDEO:
                    video = flv.parse_video_tag(tag.data)
                    if video.is_sequence_header and video.fourcc in ("avc1", "hvc1"):
                        session.record(_fmp4_config(video), session.audio)
                    elif video.is_coded_frame and session.video is not None:
                        session.current().add_video(
                            video.data,
                            dts_ms=ts,
                            cts_ms=video.composition_time_ms,
                            keyframe=video.is_keyframe,
                        )
                        frames += 1
                        if video.is_keyframe or frames % part_frames == 0:
                            session.emit(final=False)
                elif tag.tag_type == flv.TagType.AUDIO:
                    audio = flv.parse_audio_tag(tag.data)
                    if audio.is_sequence_header:
                        config = flv.parse_audio_specific_config(audio.data)
                        session.record(session.video, config)
                    elif audio.is_aac_frame and session.audio is not None:
                        session.current().add_audio(audio.data, dts_ms=ts)
                        if cut_on_audio:
                            session.emit(final=False)
            except (flv.FLVError, fmp4.FMP4Error):
                pass  # a bad tag or record is dropped; the stream goes on
    except flv.FLVError:
        pass  # the file itself is broken: what was read so far still counts
    session.emit(final=True)


def _fmp4_seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(FLV_VECTORS.glob("*.flv")):
        data = path.read_bytes()
        # Parts of 2 frames, every frame and audio frame, whole GOPs.
        for mode in (1, 0 | 1 << 2, 3):
            out[f"{path.stem}-{mode}"] = bytes((mode,)) + data
    return out


# --- tus ----------------------------------------------------------------------------------

# Modes: input[0] % 5 picks the method, input[0] >> 7 the resource (creation or upload URL).
# The rest, as Latin-1 (what HTTP header bytes map to), is "Name: value" lines; in mode
# _TUS_METADATA it is an Upload-Metadata value on its own.
_TUS_METHODS = ("POST", "HEAD", "PATCH", "DELETE", "OPTIONS")
_TUS_METADATA = 5
_TUS_CONFIG = tus.TusConfig(extensions=tuple(tus.Extension), max_size=1 << 40)


def _header_lines(text: str) -> list[tuple[str, str]]:
    return [(n, v) for n, _, v in (line.partition(":") for line in text.split("\n"))]


def tus_one_input(data: bytes) -> None:
    """Fuzz target: tus request header parsing and ``Upload-Metadata``.

    Allowed: a request or ``TusError`` (whose response must render). Metadata that
    parses must survive ``encode_metadata`` and parse back equal.
    """
    if not data:
        return
    mode, text = data[0] & 7, data[1:].decode("latin-1")
    try:
        if mode == _TUS_METADATA:
            metadata = tus.parse_metadata(text)
            assert tus.parse_metadata(tus.encode_metadata(metadata)) == metadata
            return
        resource: tus.Resource = "upload" if data[0] >> 7 else "creation"
        method = _TUS_METHODS[mode % len(_TUS_METHODS)]
        tus.parse_request(method, dict(_header_lines(text)), _TUS_CONFIG, resource=resource)
        tus.parse_request(method, _Pairs(_header_lines(text)), _TUS_CONFIG, resource=resource)
    except tus.TusError as exc:
        response = tus.error_response(exc)
        assert 400 <= response.status < 500, response


class _Pairs:
    """Headers with repeated names (as werkzeug's ``Headers`` yields them)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self._pairs


def _tus_seeds() -> dict[str, bytes]:
    metadata = tus.encode_metadata({"filename": b"clip.mp4", "filetype": b"video/mp4", "e": b""})
    creation = f"Tus-Resumable: 1.0.0\nUpload-Length: 1000\nUpload-Metadata: {metadata}"
    requests = {
        "create": (0, creation),
        "create-deferred": (0, "Tus-Resumable: 1.0.0\nUpload-Defer-Length: 1"),
        "create-partial": (0, "Tus-Resumable: 1.0.0\nUpload-Length: 5\nUpload-Concat: partial"),
        "create-final": (0, "Tus-Resumable: 1.0.0\nUpload-Concat: final;/files/a /files/b"),
        "create-with-upload": (
            0,
            "Tus-Resumable: 1.0.0\nUpload-Length: 5\n"
            "Content-Type: application/offset+octet-stream\nContent-Length: 5",
        ),
        "head": (1 | 0x80, "Tus-Resumable: 1.0.0"),
        "patch": (
            2 | 0x80,
            "Tus-Resumable: 1.0.0\nUpload-Offset: 0\n"
            "Content-Type: application/offset+octet-stream\nContent-Length: 3\n"
            "Upload-Checksum: sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        ),
        "patch-trailer": (
            2 | 0x80,
            "Tus-Resumable: 1.0.0\nUpload-Offset: 0\n"
            "Content-Type: application/offset+octet-stream\nTransfer-Encoding: chunked\n"
            "Trailer: Upload-Checksum",
        ),
        "delete": (3 | 0x80, "Tus-Resumable: 1.0.0"),
        "options": (4, ""),
        "override": (0 | 0x80, "Tus-Resumable: 1.0.0\nX-HTTP-Method-Override: DELETE"),
        "metadata": (_TUS_METADATA, metadata),
    }
    return {
        name: bytes((mode,)) + text.encode("latin-1") for name, (mode, text) in requests.items()
    }


# --- chat ---------------------------------------------------------------------------------


def chat_one_input(data: bytes) -> None:
    """Fuzz target: the chat client frame decoder (websocket text frames are UTF-8).

    Allowed: a frame or ``ChatError``; a decoded frame must re-encode and decode equal,
    and ``nonce_of`` (used to echo the nonce of a refused frame) never raises.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # the websocket layer refuses such a frame before the decoder sees it
    nonce = chat.nonce_of(text)
    assert nonce is None or 0 < len(nonce) <= 64
    try:
        frame = chat.decode_client_frame(text)
    except chat.ChatError as exc:
        code = exc.code
    else:
        assert chat.decode_client_frame(chat.encode(frame)) == frame
        return
    assert code in {"malformed_frame", "invalid_frame"}, code


def _chat_seeds() -> dict[str, bytes]:
    frames = {
        "send": {"type": "send", "nonce": "n1", "text": "hello"},
        "superchat": {"type": "superchat", "nonce": "n2", "amount": 500, "currency": "EUR"},
        "delete": {"type": "delete", "nonce": "n3", "message_id": 7},
        "ban": {"type": "ban", "nonce": "n4", "user": "bob", "reason": "spam"},
        "unban": {"type": "unban", "nonce": "n5", "user": "bob"},
        "timeout": {"type": "timeout", "nonce": "n6", "user": "bob", "seconds": 60},
        "settings": {"type": "settings", "nonce": "n7", "slow_mode_s": 5},
        "blocked-terms": {"type": "blocked_terms", "nonce": "n8", "add": ["x"], "remove": []},
        "moderator": {"type": "moderator", "nonce": "n9", "user": "bob", "add": True},
    }
    return {name: chat.encode(frame).encode() for name, frame in frames.items()}


# --- resumable ----------------------------------------------------------------------------

# Modes (input[0] & 7): 0-3 a request (POST to the creation URL, HEAD, PATCH or DELETE on
# an upload) whose "Name: value" lines are the rest, as Latin-1; a parsed append is then
# planned against an upload at offset input[0] >> 3 with (mode 2) or without a known
# length. 4-6: the rest is one field value for the Integer, Boolean or digest (Dictionary
# of Byte Sequences) parser, which must re-serialise to a value that parses equal.
_RESUMABLE_REQUESTS: tuple[tuple[str, resumable.Resource], ...] = (
    ("POST", "creation"),
    ("HEAD", "upload"),
    ("PATCH", "upload"),
    ("DELETE", "upload"),
)
_RESUMABLE_FIELD_MODES = 4
_RESUMABLE_MAX_SIZE = 1 << 40


def _byte_sequences(members: dict[str, bytes]) -> str:
    """A digest field value (RFC 9651 Dictionary of Byte Sequences) for ``members``."""
    return ", ".join(
        f"{key}=:{base64.b64encode(value).decode()}:" for key, value in members.items()
    )


def _resumable_field(kind: int, text: str) -> None:
    try:
        if kind == 0:
            number = resumable.parse_integer(text)
            assert resumable.parse_integer(str(number)) == number
        elif kind == 1:
            flag = resumable.parse_boolean(text)
            assert resumable.parse_boolean(resumable.format_boolean(flag)) is flag
        else:
            members = resumable.parse_byte_sequence_dictionary(text)
            assert members, "a field that parses has a member"
            assert resumable.parse_byte_sequence_dictionary(_byte_sequences(members)) == members
    except resumable.FieldError:
        pass


def _check_problem(exc: resumable.ResumableError) -> None:
    assert 400 <= exc.status < 500, exc.status
    body = exc.problem()
    assert body["status"] == exc.status and body["code"] == exc.code
    json.dumps(body)  # the answer's body


def _check_plan(request: resumable.Append, offset: int, length: int | None) -> None:
    progress = resumable.Progress(offset=offset, length=length, complete=False)
    try:
        plan = progress.plan_append(request, _RESUMABLE_MAX_SIZE)
    except resumable.ResumableError as exc:
        _check_problem(exc)
        return
    assert request.offset == offset
    known = plan.declared_length if plan.declared_length is not None else length
    assert known is None or offset <= known <= _RESUMABLE_MAX_SIZE, (known, offset)
    assert plan.limit is None or plan.limit >= 0
    if known is not None:
        assert plan.limit == known - offset
        if request.content_length is not None:
            assert request.content_length <= plan.limit
    # The headers the answer then carries parse back to the same state.
    answer = dict(resumable.progress_headers(progress))
    assert resumable.parse_integer(answer["Upload-Offset"]) == offset
    assert resumable.parse_boolean(answer["Upload-Complete"]) is False


def resumable_one_input(data: bytes) -> None:
    """Fuzz target: Resumable Uploads for HTTP request heads, append plans and the
    structured fields (RFC 9651) they are made of.

    Allowed: a request (a planned append obeys its length rules) or ``ResumableError``
    with a 4xx problem object; a field value that parses re-serialises to one that
    parses equal, else ``FieldError``.
    """
    if not data:
        return
    mode, text = data[0] & 7, data[1:].decode("latin-1")
    if mode >= _RESUMABLE_FIELD_MODES:
        _resumable_field(mode - _RESUMABLE_FIELD_MODES, text)
        return
    method, resource = _RESUMABLE_REQUESTS[mode]
    # As the server gets them: the whitespace around a field value is not part of it.
    lines = [(name, value.strip(" \t")) for name, value in _header_lines(text)]
    try:
        request = resumable.parse_request(method, _Pairs(lines), resource)
        # Names differ in case only: the last of them counts, as in the list.
        again = resumable.parse_request(
            method, {name.lower(): value for name, value in lines}, resource
        )
    except resumable.ResumableError as exc:
        _check_problem(exc)
        return
    if isinstance(request, resumable.Creation):
        request = request.as_append()
    if isinstance(request, resumable.Append):
        # Every structured field's last value counts (dict() keeps the last too).
        assert again == request or isinstance(again, resumable.Creation)
        offset = data[0] >> 3
        _check_plan(request, request.offset if offset == 0 else offset, 1000 if mode == 2 else None)


def _resumable_seeds() -> dict[str, bytes]:
    digest = "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"
    append = "Content-Type: application/partial-upload\nUpload-Offset: 0"
    requests = {
        "create-complete": (0, f"Upload-Complete: ?1\nContent-Length: 3\nRepr-Digest: {digest}"),
        "create-partial": (0, "Upload-Complete: ?0\nUpload-Length: 1000\nContent-Length: 10"),
        "create-chunked": (0, "Upload-Complete: ?1"),
        "head": (1, ""),
        "append": (2, f"{append}\nUpload-Complete: ?0\nContent-Length: 10"),
        "append-last": (2 | 5 << 3, f"{append}\nUpload-Complete: ?1\nContent-Digest: {digest}"),
        "append-params": (2, f"{append};x=1\nUpload-Complete: ?1;a=b\nUpload-Length: 1000"),
        "delete": (3, ""),
        "integer": (4, "-123456789012345;p"),
        "boolean": (5, " ?0;a=1 "),
        "digests": (6, f"sha-512=:AAAA:, {digest};q, sha-256=:YWJj:"),
    }
    return {
        name: bytes((mode,)) + text.encode("latin-1") for name, (mode, text) in requests.items()
    }


# --- proxy ---------------------------------------------------------------------------------


def proxy_one_input(data: bytes) -> None:
    """Fuzz target: the PROXY protocol v1 line parser, as the RTMP listener calls it
    on what it has read so far.

    Allowed: ``None`` (more may come), a header, or ``ProxyProtocolError``. A header
    ends in CRLF within ``V1_MAX_BYTES``; every shorter prefix of it asks for more; the
    bytes after it do not change it; a line written from what it parsed parses equal.
    """
    try:
        header = proxy.parse_v1(data)
    except proxy.ProxyProtocolError:
        return
    if header is None:
        assert len(data) < proxy.V1_MAX_BYTES and b"\r\n" not in data
        return
    line = data[: header.length]
    assert header.length <= proxy.V1_MAX_BYTES and line.endswith(b"\r\n")
    assert proxy.parse_v1(line + b"\x00rest") == header
    for cut in (0, 1, len(proxy.V1_SIGNATURE), header.length - 1):
        assert proxy.parse_v1(line[:cut]) is None, cut
    if header.source is None:
        assert header.source_port is None and line.startswith(b"PROXY UNKNOWN")
        return
    family = "TCP6" if ":" in header.source else "TCP4"
    target = "::1" if family == "TCP6" else "127.0.0.1"
    written = f"PROXY {family} {header.source} {target} {header.source_port} 1935\r\n"
    assert proxy.parse_v1(written.encode()) == proxy.ProxyHeader(
        length=len(written), source=header.source, source_port=header.source_port
    )


def _proxy_seeds() -> dict[str, bytes]:
    lines = {
        "tcp4": b"PROXY TCP4 198.51.100.7 10.0.0.1 51234 1935\r\n",
        "tcp4-then-rtmp": b"PROXY TCP4 192.0.2.1 192.0.2.2 0 65535\r\n\x03\x00\x00",
        "tcp6": b"PROXY TCP6 2001:db8::7 2001:db8::1 443 1935\r\n",
        "tcp6-longest": b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
        "unknown": b"PROXY UNKNOWN\r\n",
        "unknown-long": b"PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n",
        "partial": b"PROXY TCP4 198.51.",
        "leading-zero-port": b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "not-proxy": b"GET / HTTP/1.1\r\n",
        "v4-in-tcp6": b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",
    }
    return lines


# --- llhls ---------------------------------------------------------------------------------


def llhls_one_input(data: bytes) -> None:
    """Fuzz target: an LL-HLS playlist request's query (``_HLS_msn``, ``_HLS_part``,
    ``_HLS_skip``), parsed as the route does and made a ``ReloadRequest``.

    Allowed: a request (numbers in range, a part only with a segment) or ``HLSError``;
    a request's directives written back as a query parse to the same request.
    """
    query = parse_qs(data.decode("utf-8", errors="replace"), keep_blank_values=True)

    def first(name: str) -> str | None:
        values = query.get(name)
        return None if values is None else values[0]  # werkzeug's args.get: the first

    try:
        request = hls.ReloadRequest.parse(first("_HLS_msn"), first("_HLS_part"), first("_HLS_skip"))
    except hls.HLSError:
        return
    for number in (request.msn, request.part):
        assert number is None or 0 <= number < 2**63, number
    assert request.part is None or request.msn is not None
    again = hls.ReloadRequest.parse(
        None if request.msn is None else str(request.msn),
        None if request.part is None else str(request.part),
        "YES" if request.skip else None,
    )
    assert again == request, (again, request)


def _llhls_seeds() -> dict[str, bytes]:
    queries = {
        "msn": "_HLS_msn=12",
        "msn-part": "_HLS_msn=12&_HLS_part=3",
        "skip": "_HLS_msn=12&_HLS_part=0&_HLS_skip=YES",
        "skip-v2": "_HLS_skip=v2",
        "part-alone": "_HLS_part=1",
        "too-large": "_HLS_msn=9223372036854775808",
        "largest": "_HLS_msn=9223372036854775807&_HLS_part=9223372036854775807",
        "repeated": "_HLS_msn=1&_HLS_msn=x&other=%00",
        "encoded": "_HLS_msn=%31%32&_HLS_part=+3",
        "unicode-digits": "_HLS_msn=%D9%A1",
    }
    return {name: query.encode() for name, query in queries.items()}


TARGETS: dict[str, Callable[[bytes], None]] = {
    "rtmp": rtmp_one_input,
    "amf0": amf0_one_input,
    "amf3": amf3_one_input,
    "flv": flv_one_input,
    "flvconfig": flvconfig_one_input,
    "hls": hls_one_input,
    "fmp4": fmp4_one_input,
    "tus": tus_one_input,
    "chat": chat_one_input,
    "resumable": resumable_one_input,
    "proxy": proxy_one_input,
    "llhls": llhls_one_input,
}

_SEEDS = {
    "rtmp": _rtmp_seeds,
    "amf0": _amf0_seeds,
    "amf3": _amf3_seeds,
    "flv": _flv_seeds,
    "flvconfig": _flvconfig_seeds,
    "hls": _hls_seeds,
    "fmp4": _fmp4_seeds,
    "tus": _tus_seeds,
    "chat": _chat_seeds,
    "resumable": _resumable_seeds,
    "proxy": _proxy_seeds,
    "llhls": _llhls_seeds,
}


def seeds(target: str) -> dict[str, bytes]:
    """The seed corpus of ``target``: name -> input (first byte = mode, see above)."""
    return _SEEDS[target]()
