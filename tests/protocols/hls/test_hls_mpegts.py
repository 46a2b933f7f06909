"""TSMuxer: PSI tables, PES packetization, Annex B conversion, ADTS, timestamps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import flv, hls

from .helpers import parse_ts, pes_packets, pes_timestamps

SPS = b"\x67\x64\x00\x1f\xac"
PPS = b"\x68\xee\x3c\x80"
AVC = flv.AVCDecoderConfig(
    profile=100, compatibility=0, level=31, nal_length_size=4, sps=(SPS,), pps=(PPS,)
)
VPS, HSPS, HPPS = b"\x40\x01\x0c", b"\x42\x01\x01", b"\x44\x01\xc1"
HEVC = flv.HEVCDecoderConfig(
    profile_space=0,
    tier_flag=0,
    profile_idc=1,
    compatibility_flags=0x60000000,
    constraint_flags=b"\xb0" + bytes(5),
    level_idc=93,
    chroma_format=1,
    bit_depth_luma=8,
    bit_depth_chroma=8,
    nal_length_size=4,
    arrays=tuple(
        flv.HEVCNalArray(nal_type=t, complete=True, units=(n,))
        for t, n in ((32, VPS), (33, HSPS), (34, HPPS))
    ),
)
ASC = flv.parse_audio_specific_config(b"\x11\x90")  # AAC-LC 48 kHz stereo
SC = b"\x00\x00\x00\x01"


def lp(*nals: bytes, size: int = 4) -> bytes:
    return b"".join(len(n).to_bytes(size, "big") + n for n in nals)


def crc32_mpeg2(data: bytes) -> int:
    """Bit-by-bit CRC-32/MPEG-2 (13818-1 Annex A), independent of the package's table."""
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 31) ^ ((byte >> bit) & 1)
            crc = ((crc << 1) & 0xFFFFFFFF) ^ (0x04C11DB7 if top else 0)
    return crc


def muxer(video: object = AVC, audio: object = ASC) -> hls.TSMuxer:
    m = hls.TSMuxer()
    m.set_video_config(video)  # type: ignore[arg-type]
    m.set_audio_config(audio)  # type: ignore[arg-type]
    return m


def sections(data: bytes) -> list[bytes]:
    """PSI sections (pointer field 0) of PAT/PMT packets, CRC included."""
    out = []
    for p in parse_ts(data):
        assert p.payload[0] == 0
        length = ((p.payload[2] & 0x0F) << 8) | p.payload[3]
        out.append(p.payload[1 : 4 + length])
    return out


def test_crc32_mpeg2_check_value() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the CRC catalogue's check value


def test_pat_and_pmt() -> None:
    pat, pmt = sections(muxer().tables())
    assert crc32_mpeg2(pat) == 0 and crc32_mpeg2(pmt) == 0  # CRC over section + CRC is 0
    assert pat[0] == 0x00 and pat[8:12] == b"\x00\x01\xf0\x00"  # program 1 -> PMT PID 0x1000
    assert pmt[0] == 0x02
    assert pmt[8:10] == b"\xe1\x00"  # PCR on the video PID
    assert pmt[12:17] == bytes((hls.STREAM_TYPE_H264, 0xE1, 0x00, 0xF0, 0x00))
    assert pmt[17:22] == bytes((hls.STREAM_TYPE_AAC, 0xE1, 0x01, 0xF0, 0x00))


def test_pmt_hevc_audio_only_and_version_changes() -> None:
    m = muxer(HEVC, None)
    (_, pmt) = sections(m.tables())
    assert pmt[12] == hls.STREAM_TYPE_HEVC and len(pmt) == 12 + 5 + 4
    assert (pmt[5] >> 1) & 0x1F == 0
    (_, same) = sections(m.tables())
    assert (same[5] >> 1) & 0x1F == 0
    m.set_video_config(None)
    m.set_audio_config(ASC)
    (_, pmt) = sections(m.tables())
    assert (pmt[5] >> 1) & 0x1F == 1  # new version_number for the changed program
    assert pmt[8:10] == b"\xe1\x01"  # PCR moves to the audio PID
    m.set_audio_config(None)
    with pytest.raises(hls.HLSError, match="nothing to put in the PMT"):
        m.tables()


def test_frames_before_configuration() -> None:
    m = hls.TSMuxer()
    with pytest.raises(hls.HLSError, match="before the video sequence header"):
        m.video_frame(lp(b"\x65"), dts_ms=0, keyframe=True)
    with pytest.raises(hls.HLSError, match="before the AAC sequence header"):
        m.audio_frame(b"x", pts_ms=0)


def test_h264_idr_gets_aud_and_parameter_sets() -> None:
    data = muxer().video_frame(
        lp(b"\x09\xf0", b"\x06sei", b"\x65idr"), dts_ms=40, cts_ms=80, keyframe=False
    )
    packets = parse_ts(data)
    assert packets[0].random_access  # an IDR is a random access point whatever the tag says
    pts, dts, payload = pes_timestamps(pes_packets(packets, hls.VIDEO_PID)[0])
    assert (pts, dts) == ((1000 + 120) * 90, (1000 + 40) * 90)
    # the publisher's own AUD is replaced by ours; SPS/PPS go before the SEI and IDR
    assert payload == SC + b"\x09\xf0" + SC + SPS + SC + PPS + SC + b"\x06sei" + SC + b"\x65idr"
    assert packets[0].pcr == (1040 - 100) * 90


def test_h264_idr_with_inband_parameter_sets_and_non_idr() -> None:
    m = muxer()
    inband = m.video_frame(lp(b"\x67own", b"\x68own", b"\x65"), dts_ms=0, keyframe=True)
    _, dts, payload = pes_timestamps(pes_packets(parse_ts(inband), hls.VIDEO_PID)[0])
    assert dts is None  # PTS only when PTS == DTS
    assert payload == SC + b"\x09\xf0" + SC + b"\x67own" + SC + b"\x68own" + SC + b"\x65"
    inter = m.video_frame(lp(b"\x41p", size=4), dts_ms=33, keyframe=False)
    packets = parse_ts(inter)
    assert not packets[0].random_access and packets[0].pcr is not None
    assert (
        pes_timestamps(pes_packets(packets, hls.VIDEO_PID)[0])[2]
        == SC + b"\x09\xf0" + SC + b"\x41p"
    )


def test_hevc_irap_gets_aud_and_vps_sps_pps() -> None:
    m = muxer(HEVC, None)
    cra = lp(b"\x2a\x01cra")  # NAL type 21 (CRA)
    payload = pes_timestamps(
        pes_packets(parse_ts(m.video_frame(cra, dts_ms=0, keyframe=True)), hls.VIDEO_PID)[0]
    )[2]
    assert payload == SC + b"\x46\x01\x50" + SC + VPS + SC + HSPS + SC + HPPS + SC + b"\x2a\x01cra"
    trail = lp(b"\x02\x01t", b"\x46\x01\x50")  # TRAIL_R plus a stray AUD, dropped
    payload = pes_timestamps(
        pes_packets(parse_ts(m.video_frame(trail, dts_ms=1, keyframe=False)), hls.VIDEO_PID)[0]
    )[2]
    assert payload == SC + b"\x46\x01\x50" + SC + b"\x02\x01t"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00\x00", "prefix is truncated"),
        (b"\x00\x00\x00\x05\x65", "does not fit"),
        (b"\x00\x00\x00\x00", "length 0 does not fit"),
    ],
)
def test_malformed_access_units(data: bytes, message: str) -> None:
    m = muxer()
    with pytest.raises(hls.HLSError, match=message):
        m.video_frame(data, dts_ms=0, keyframe=True)
    # a failed frame consumes no continuity counter
    assert parse_ts(m.video_frame(lp(b"\x41"), dts_ms=0, keyframe=False))[0].counter == 0


@given(size=st.integers(1, 2000), audio=st.booleans(), key=st.booleans())
def test_any_pes_size_packetizes_exactly(size: int, audio: bool, key: bool) -> None:
    """Every payload size, including those needing 0, 1 or many stuffing bytes."""
    m = muxer(None if audio else AVC, ASC)
    body = bytes(range(256)) * (size // 256 + 1)
    if audio:
        data = m.audio_frame(body[:size], pts_ms=0)
    else:
        data = m.video_frame(lp(b"\x41" + body[: size - 1]), dts_ms=0, keyframe=key)
    packets = parse_ts(data)
    assert [p.counter for p in packets] == [i % 16 for i in range(len(packets))]
    pid = hls.AUDIO_PID if audio else hls.VIDEO_PID
    (pes,) = pes_packets(packets, pid)
    length = int.from_bytes(pes[4:6], "big")
    assert length == len(pes) - 6
    _, _, payload = pes_timestamps(pes)
    if audio:
        assert payload[7:] == body[:size]
        assert packets[0].random_access  # audio-only: every AAC frame is a random access point
    else:
        assert payload.endswith(b"\x41" + body[: size - 1])
        assert packets[0].random_access == key


def test_large_video_pes_is_unbounded() -> None:
    data = muxer().video_frame(lp(b"\x41" + bytes(70000)), dts_ms=0, keyframe=False)
    (pes,) = pes_packets(parse_ts(data), hls.VIDEO_PID)
    assert pes[4:6] == b"\x00\x00"


def test_adts_header() -> None:
    data = muxer(None, ASC).audio_frame(b"\x21" * 10, pts_ms=21)
    pts, dts, payload = pes_timestamps(pes_packets(parse_ts(data), hls.AUDIO_PID)[0])
    assert (pts, dts) == ((1000 + 21) * 90, None)
    # LC (profile 1), 48 kHz (index 3), 2 channels, frame length 17, fullness 0x7FF
    assert payload == bytes((0xFF, 0xF1, 0x4C, 0x80, 0x02, 0x3F, 0xFC)) + b"\x21" * 10


def test_adts_for_he_aac_uses_the_core_object_type() -> None:
    he = flv.parse_audio_specific_config(b"\x2b\x11\x88\x00")
    data = muxer(None, he).audio_frame(b"x", pts_ms=0)
    payload = pes_timestamps(pes_packets(parse_ts(data), hls.AUDIO_PID)[0])[2]
    assert payload[2] >> 6 == 1 and (payload[2] >> 2) & 0x0F == 6  # LC core at 24 kHz


def asc(
    *,
    object_type: int = 2,
    sample_rate_index: int = 3,
    sample_rate: int = 48000,
    channel_config: int = 2,
) -> flv.AudioSpecificConfig:
    return flv.AudioSpecificConfig(
        object_type=object_type,
        sample_rate_index=sample_rate_index,
        sample_rate=sample_rate,
        channel_config=channel_config,
        core_object_type=object_type,
    )


@pytest.mark.parametrize(
    ("config", "raw", "message"),
    [
        (asc(object_type=42), b"x", "object type 42"),
        (asc(sample_rate_index=15, sample_rate=1234), b"x", "explicit AAC sampling"),
        (asc(channel_config=0), b"x", "channel configuration 0"),
        (ASC, bytes(8192), "too long for ADTS"),
    ],
)
def test_adts_errors(config: flv.AudioSpecificConfig, raw: bytes, message: str) -> None:
    with pytest.raises(hls.HLSError, match=message):
        muxer(None, config).audio_frame(raw, pts_ms=0)


def test_timestamps_wrap_at_33_bits_and_offset_is_configurable() -> None:
    m = hls.TSMuxer(timestamp_offset_ms=0)
    m.set_audio_config(ASC)
    wrap_ms = (1 << 33) // 90 + 1
    pts, _, _ = pes_timestamps(
        pes_packets(parse_ts(m.audio_frame(b"x", pts_ms=wrap_ms)), hls.AUDIO_PID)[0]
    )
    assert pts == (wrap_ms * 90) % (1 << 33)
    m.set_video_config(AVC)
    packets = parse_ts(m.video_frame(lp(b"\x41"), dts_ms=0, cts_ms=0, keyframe=False))
    assert packets[0].pcr == (1 << 33) - 100 * 90  # PCR 100 ms before DTS 0 wraps too
