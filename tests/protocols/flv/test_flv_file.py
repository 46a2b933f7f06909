"""FLV file framing: header, tags, PreviousTagSize; incremental reading."""

from __future__ import annotations

import fractions
import io
import itertools

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import flv

HEADER_AV = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"
# tag type 9, DataSize 3, timestamp 0x345678 + extension 0x12, stream id 0, body, PTS 14.
TAG_VECTOR = b"\x09\x00\x00\x03\x34\x56\x78\x12\x00\x00\x00abc\x00\x00\x00\x0e"


def read_all(data: bytes, *, chunk: int | None = None, **kwargs: int) -> list[object]:
    """The events of ``data`` and then of the end of input, which must end the file:
    the last event is :class:`flv.FLVEnd`, or :class:`flv.FLVError` is raised."""
    reader = flv.FLVReader(**kwargs)
    events: list[object] = []
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in [*chunks, b""]:
        reader.receive_data(piece)
        while (event := reader.next_event()) is not flv.NEED_DATA:
            events.append(event)
            if isinstance(event, flv.FLVEnd):
                return events
    raise AssertionError("the end of input neither ended the file nor failed it")


def test_header_vector() -> None:
    assert flv.encode_header(has_audio=True, has_video=True) == HEADER_AV
    assert flv.encode_header(has_audio=False, has_video=True)[4] == 0x01
    assert flv.encode_header(has_audio=True, has_video=False)[4] == 0x04


def test_tag_vector() -> None:
    tag = flv.FLVTag(tag_type=flv.TagType.VIDEO, timestamp_ms=0x12345678, data=b"abc")
    assert flv.encode_tag(tag) == TAG_VECTOR
    assert read_all(HEADER_AV + TAG_VECTOR) == [
        flv.FLVHeader(has_audio=True, has_video=True),
        tag,
        flv.FLVEnd(),
    ]


tags = st.builds(
    flv.FLVTag,
    tag_type=st.sampled_from([8, 9, 18]),
    timestamp_ms=st.integers(0, 2**32 - 1),
    data=st.binary(max_size=300),
)


@given(tags=st.lists(tags, max_size=8), audio=st.booleans(), video=st.booleans())
def test_round_trip(tags: list[flv.FLVTag], audio: bool, video: bool) -> None:
    data = flv.encode_header(has_audio=audio, has_video=video)
    data += b"".join(flv.encode_tag(t) for t in tags)
    assert read_all(data) == [
        flv.FLVHeader(has_audio=audio, has_video=video),
        *tags,
        flv.FLVEnd(),
    ]


@given(tags=st.lists(tags, min_size=1, max_size=5), cuts=st.lists(st.integers(0, 2000)))
def test_any_chunking_yields_the_same_tags(tags: list[flv.FLVTag], cuts: list[int]) -> None:
    data = HEADER_AV + b"".join(flv.encode_tag(t) for t in tags)
    whole = read_all(data)
    reader = flv.FLVReader()
    events: list[object] = []
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    for start, end in itertools.pairwise(bounds):
        reader.receive_data(data[start:end])
        while (event := reader.next_event()) is not flv.NEED_DATA:
            events.append(event)
    reader.receive_data(b"")
    events.append(reader.next_event())
    assert events == whole
    assert read_all(data, chunk=1) == whole


@given(st.binary(max_size=200))
def test_random_bytes_yield_values_or_flv_error(data: bytes) -> None:
    for prefix in (b"", HEADER_AV):
        try:
            events = read_all(prefix + data, max_tag_size=64)
        except flv.FLVError:
            continue
        assert all(isinstance(e, flv.FLVHeader | flv.FLVTag | flv.FLVEnd) for e in events)


def drain(reader: flv.FLVReader) -> None:
    while reader.next_event() is not flv.NEED_DATA:
        pass


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"FLX\x01", "bad signature"),
        (b"FLV\x02\x05\x00\x00\x00\x09\x00\x00\x00\x00", "version 2"),
        (b"FLV\x01\x05\x00\x00\x00\x08\x00\x00\x00\x00", "smaller than the header"),
        (b"FLV\x01\x05\x7f\x00\x00\x00\x00\x00\x00\x00", "DataOffset 2130706432 is too large"),
        (b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x01", "PreviousTagSize0 is 1"),
        (HEADER_AV + b"\x29" + TAG_VECTOR[1:], "Filter=1"),
        (HEADER_AV + b"\x09\x00\x01\x00" + bytes(7), "tag of 256 bytes exceeds the limit of 255"),
        (HEADER_AV + TAG_VECTOR[:-1] + b"\x0f", "PreviousTagSize is 15, expected 14"),
        (HEADER_AV + TAG_VECTOR[:-2], "stream ended in the middle of a tag"),
        (HEADER_AV[:5], "stream ended in the middle of a tag"),
    ],
)
def test_errors(data: bytes, message: str) -> None:
    reader = flv.FLVReader(max_tag_size=255)
    reader.receive_data(data)
    reader.receive_data(b"")
    with pytest.raises(flv.FLVError, match=message):
        drain(reader)
    with pytest.raises(flv.FLVError, match="reader already failed"):
        reader.next_event()


def test_longer_header_is_skipped() -> None:
    data = b"FLV\x01\x01\x00\x00\x00\x0c" + b"xyz" + b"\x00\x00\x00\x00" + TAG_VECTOR
    events = read_all(data, chunk=1)
    assert events[0] == flv.FLVHeader(has_audio=False, has_video=True)
    assert events[1] == flv.FLVTag(tag_type=9, timestamp_ms=0x12345678, data=b"abc")


def test_data_after_eof() -> None:
    reader = flv.FLVReader()
    reader.receive_data(b"")
    assert isinstance(reader.next_event(), flv.FLVEnd)
    with pytest.raises(RuntimeError, match="after EOF"):
        reader.receive_data(b"FLV")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tag_type": 32, "timestamp_ms": 0, "data": b""},
        {"tag_type": 8, "timestamp_ms": 2**32, "data": b""},
        {"tag_type": 8, "timestamp_ms": -1, "data": b""},
        {"tag_type": 8, "timestamp_ms": 0, "data": bytes(1 << 24)},
    ],
)
def test_tag_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        flv.FLVTag(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not fit"):
        flv.encode_tag_fields(**kwargs)  # type: ignore[arg-type]
    data = kwargs["data"]
    assert isinstance(data, bytes)
    with pytest.raises(ValueError, match="does not fit"):
        flv.encode_tag_envelope(kwargs["tag_type"], kwargs["timestamp_ms"], len(data))  # type: ignore[arg-type]


@given(
    st.integers(0, 31),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=300),
)
def test_encode_tag_fields_is_encode_tag(tag_type: int, timestamp_ms: int, data: bytes) -> None:
    tag = flv.FLVTag(tag_type=tag_type, timestamp_ms=timestamp_ms, data=data)
    assert flv.encode_tag_fields(tag_type, timestamp_ms, data) == flv.encode_tag(tag)
    header, trailer = flv.encode_tag_envelope(tag_type, timestamp_ms, len(data))
    assert header + data + trailer == flv.encode_tag(tag)
    assert read_all(HEADER_AV + flv.encode_tag(tag))[1] == tag


def test_reads_an_flv_written_by_ffmpeg() -> None:
    """PyAV's FLV muxer (FFmpeg) writes H.264 + AAC; every tag body parses."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flv") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="mono")
        for i in range(25):
            frame = av.VideoFrame(160, 96, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 9) & 0xFF]) * (plane.line_size * plane.height))
            frame.pts = i
            frame.time_base = fractions.Fraction(1, 25)
            out.mux(video.encode(frame))
        for i in range(43):
            aframe = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            aframe.planes[0].update(bytes(4096))
            aframe.sample_rate, aframe.pts = 44100, i * 1024
            out.mux(audio.encode(aframe))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    events = read_all(buffer.getvalue(), chunk=1000)
    assert events[0] == flv.FLVHeader(has_audio=True, has_video=True)
    assert isinstance(events[-1], flv.FLVEnd)
    body_tags = [e for e in events if isinstance(e, flv.FLVTag)]
    videos = [flv.parse_video_tag(t.data) for t in body_tags if t.tag_type == flv.TagType.VIDEO]
    audios = [flv.parse_audio_tag(t.data) for t in body_tags if t.tag_type == flv.TagType.AUDIO]
    assert body_tags[0].tag_type == flv.TagType.SCRIPT_DATA  # onMetaData
    assert videos[0].is_sequence_header
    config = flv.parse_avc_config(videos[0].data)
    sps = flv.parse_h264_sps(config.sps[0])
    assert (sps.width, sps.height) == (160, 96)
    assert sum(v.is_coded_frame for v in videos) == 25
    assert videos[1].is_keyframe
    assert audios[0].is_sequence_header
    asc = flv.parse_audio_specific_config(audios[0].data)
    assert (asc.object_type, asc.sample_rate, asc.channel_config) == (2, 44100, 1)
    assert sum(a.is_aac_frame for a in audios) >= 43
