"""Test helpers: synthesise H.264/AAC with PyAV in FLV/RTMP tag form; read TS packets back."""

from __future__ import annotations

import array
import fractions
import math
import re
from dataclasses import dataclass, field
from typing import Any

import av
from av.codec.context import Flags

from protocols import flv


def split_annex_b(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    parts = re.split(b"\x00\x00\x01", data)
    return [p.rstrip(b"\x00") for p in parts if p.rstrip(b"\x00")]


def avcc(nals: list[bytes], length_size: int = 4) -> bytes:
    return b"".join(len(n).to_bytes(length_size, "big") + n for n in nals)


def avc_config_record(sps: bytes, pps: bytes, length_size: int = 4) -> bytes:
    """An AVCDecoderConfigurationRecord built by hand from one SPS and one PPS."""
    return (
        bytes((1, sps[1], sps[2], sps[3], 0xFC | (length_size - 1), 0xE1))
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


def yuv_frame(width: int, height: int, index: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = bytes(((x * 2 + index * 5) & 0xFF) for x in range(width)) * height
    chroma = bytes(((y + index) & 0xFF) for y in range(height // 2) for _ in range(width // 2))
    for plane, data in zip(frame.planes, (luma, chroma, chroma), strict=True):
        assert plane.line_size == plane.width
        plane.update(data)
    frame.pts = index
    return frame


def encode_h264(
    width: int, height: int, frames: int, *, fps: int = 30, keyint: int = 60, bframes: int = 2
) -> tuple[bytes, list[Any]]:
    """libx264 packets (Annex B) and the codec extradata (Annex B SPS + PPS)."""
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height = width, height
    cc.pix_fmt = "yuv420p"
    cc.time_base = fractions.Fraction(1, fps)
    cc.framerate = fractions.Fraction(fps, 1)
    cc.flags |= Flags.global_header
    cc.options = {
        "preset": "veryfast",
        "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes={bframes}",
    }
    packets = []
    for i in range(frames):
        packets += cc.encode(yuv_frame(width, height, i))
    packets += cc.encode(None)
    assert cc.extradata is not None
    return bytes(cc.extradata), packets


def encode_aac(seconds: float, *, rate: int = 48000) -> tuple[bytes, list[Any]]:
    """AAC-LC stereo packets and the AudioSpecificConfig."""
    cc = av.CodecContext.create("aac", "w")
    cc.sample_rate = rate
    cc.layout = "stereo"
    cc.format = "fltp"
    cc.time_base = fractions.Fraction(1, rate)
    cc.flags |= Flags.global_header
    packets = []
    for i in range(int(seconds * rate) // 1024):
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        tone = array.array(
            "f", (0.3 * math.sin(2 * math.pi * 440 * (i * 1024 + k) / rate) for k in range(1024))
        ).tobytes()
        for plane in frame.planes:
            plane.update(tone)
        frame.sample_rate = rate
        frame.pts = i * 1024
        frame.time_base = fractions.Fraction(1, rate)
        packets += cc.encode(frame)
    packets += cc.encode(None)
    assert cc.extradata is not None
    return bytes(cc.extradata), packets


@dataclass
class Stream:
    """H.264 + AAC in RTMP/FLV form: (timestamp_ms, tag body) pairs in send order."""

    video_tags: list[tuple[int, bytes]] = field(default_factory=list)
    audio_tags: list[tuple[int, bytes]] = field(default_factory=list)
    # Expected presentation times in ms, per stream, of every coded frame.
    video_pts_ms: list[int] = field(default_factory=list)
    audio_pts_ms: list[int] = field(default_factory=list)
    keyframes: int = 0

    def interleaved(self) -> list[tuple[str, int, bytes]]:
        tagged = [("video", ts, b) for ts, b in self.video_tags]
        tagged += [("audio", ts, b) for ts, b in self.audio_tags]
        # Sequence headers first, then by timestamp (stable: encoder order within a kind).
        return sorted(tagged, key=lambda t: (t[2][1] != 0, t[1]))


def _ts(value: int | None) -> int:
    assert value is not None
    return value


def make_stream(
    seconds: float = 5.0,
    *,
    width: int = 320,
    height: int = 192,
    fps: int = 30,
    keyint: int = 60,
    audio: bool = True,
    length_size: int = 4,
) -> Stream:
    """Encode and convert to tag form as an RTMP publisher (OBS) would send it."""
    extradata, vpackets = encode_h264(width, height, int(seconds * fps), fps=fps, keyint=keyint)
    sps, pps = split_annex_b(extradata)[:2]
    stream = Stream()
    to_ms = 1000 / fps
    first_dts = min(_ts(p.dts) for p in vpackets) * to_ms
    base = round(first_dts)
    if audio:
        asc, apackets = encode_aac(seconds)
        base = min(base, round(_ts(apackets[0].pts) * 1000 / 48000))
        stream.audio_tags.append((0, b"\xaf\x00" + asc))
        for p in apackets:
            ts = round(_ts(p.pts) * 1000 / 48000) - base
            stream.audio_tags.append((ts, b"\xaf\x01" + bytes(p)))
            stream.audio_pts_ms.append(ts)
    stream.video_tags.append(
        (0, b"\x17\x00\x00\x00\x00" + avc_config_record(sps, pps, length_size))
    )
    for p in vpackets:
        dts = round(_ts(p.dts) * to_ms) - base
        pts = round(_ts(p.pts) * to_ms) - base
        nals = split_annex_b(bytes(p))
        head = 0x17 if p.is_keyframe else 0x27
        stream.keyframes += p.is_keyframe
        cts = (pts - dts).to_bytes(3, "big", signed=True)
        stream.video_tags.append((dts, bytes((head, 1)) + cts + avcc(nals, length_size)))
        stream.video_pts_ms.append(pts)
    return stream


def feed(segmenter: object, stream: Stream) -> list[object]:
    """Push a whole stream into a Segmenter and finish it; return all events."""
    from protocols import hls

    assert isinstance(segmenter, hls.Segmenter)
    events: list[object] = []
    for kind, ts, body in stream.interleaved():
        if kind == "video":
            events += segmenter.push_video(flv.parse_video_tag(body), ts)
        else:
            events += segmenter.push_audio(flv.parse_audio_tag(body), ts)
    events += segmenter.finish()
    return events


@dataclass
class TSPacket:
    pid: int
    pusi: bool
    counter: int
    adaptation: bytes | None
    payload: bytes

    @property
    def random_access(self) -> bool:
        field = self.adaptation
        return bool(field) and field is not None and bool(field[0] & 0x40)

    @property
    def pcr(self) -> int | None:
        field = self.adaptation
        if not field or not field[0] & 0x10:
            return None
        b = field[1:7]
        return (int.from_bytes(b[:4], "big") << 1) | (b[4] >> 7)


def parse_ts(data: bytes) -> list[TSPacket]:
    """Strictly parse 188-byte packets (the test's own reading of ISO/IEC 13818-1)."""
    assert len(data) % 188 == 0
    out = []
    for pos in range(0, len(data), 188):
        pkt = data[pos : pos + 188]
        assert pkt[0] == 0x47
        pid = ((pkt[1] & 0x1F) << 8) | pkt[2]
        control = (pkt[3] >> 4) & 3
        assert control in (1, 3)
        body = pkt[4:]
        adaptation = None
        if control == 3:
            length = body[0]
            adaptation = body[1 : 1 + length]
            body = body[1 + length :]
        out.append(TSPacket(pid, bool(pkt[1] & 0x40), pkt[3] & 0x0F, adaptation, body))
    return out


def pes_packets(packets: list[TSPacket], pid: int) -> list[bytes]:
    """Reassemble the PES packets of one PID."""
    pes: list[bytearray] = []
    for p in packets:
        if p.pid != pid:
            continue
        if p.pusi:
            pes.append(bytearray())
        pes[-1] += p.payload
    return [bytes(p) for p in pes]


def pes_timestamps(pes: bytes) -> tuple[int, int | None, bytes]:
    """(PTS, DTS or None, payload) of a PES packet."""
    assert pes[:3] == b"\x00\x00\x01"

    def ts(b: bytes) -> int:
        return (
            ((b[0] >> 1) & 7) << 30 | (b[1] << 22) | ((b[2] >> 1) << 15) | (b[3] << 7) | (b[4] >> 1)
        )

    flags, header_len = pes[7], pes[8]
    pts = ts(pes[9:14])
    dts = ts(pes[14:19]) if flags & 0x40 else None
    return pts, dts, pes[9 + header_len :]
