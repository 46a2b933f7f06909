"""The HLS VOD ladder: which renditions to make, and one writer per rendition.

Renditions are at or below the source height (never upscaled). Every
rendition gets the same frame rate and a keyframe exactly every
:data:`GOP_SECONDS` (fixed GOP, scene-cut off), so segment boundaries line up
across renditions and a player can switch at any segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av

from protocols.hls import Variant

if TYPE_CHECKING:
    from pathlib import Path

    from trioflix.media.probe import MediaInfo

__all__ = [
    "AUDIO_BITRATE",
    "GOP_SECONDS",
    "LADDER",
    "SEGMENT_SECONDS",
    "RenditionWriter",
    "Rung",
    "avc_codec_string",
    "measure_playlist",
    "plan_ladder",
    "x264_options",
]

#: (height, video bits/s): the usual 16:9 ladder, from 1080p down to 360p.
LADDER: tuple[tuple[int, int], ...] = (
    (1080, 5_000_000),
    (720, 2_800_000),
    (480, 1_400_000),
    (360, 800_000),
)
AUDIO_BITRATE = 128_000
AUDIO_RATE = 48_000
GOP_SECONDS = 2  # keyframe interval; segments are whole GOPs
SEGMENT_SECONDS = 4
MAX_FPS = 60.0
X264_PRESET = "veryfast"
_SPS_START = re.compile(rb"\x00\x00\x01[\x27\x47\x67]")  # Annex B start code + SPS NAL header


@dataclass(frozen=True, slots=True, kw_only=True)
class Rung:
    name: str  # "720p": also the rendition's directory
    width: int
    height: int
    bitrate: int  # video bits/s


def plan_ladder(info: MediaInfo) -> list[Rung]:
    """Rungs at or below the source's display height; one at the source size if it is
    smaller than the lowest rung."""
    src_w, src_h = info.video.display_width, info.video.display_height

    def rung(height: int, bitrate: int) -> Rung:
        width = max(2, round(src_w * height / src_h / 2) * 2)
        return Rung(name=f"{height}p", width=width, height=height, bitrate=bitrate)

    rungs = [rung(h, rate) for h, rate in LADDER if h <= src_h]
    if not rungs:
        height = max(2, src_h // 2 * 2)
        rungs = [rung(height, LADDER[-1][1] * height // LADDER[-1][0])]
    return rungs


def output_fps(info: MediaInfo) -> Fraction:
    fps = info.video.fps if 0 < info.video.fps <= MAX_FPS else 30.0
    return Fraction(fps).limit_denominator(1001)


def x264_options(rung: Rung, gop: int) -> dict[str, str]:
    """libx264 settings shared by our encoder and the ffmpeg command the benchmark runs."""
    return {
        "preset": X264_PRESET,
        "profile": "high",
        "g": str(gop),
        "keyint_min": str(gop),
        "sc_threshold": "0",
        "maxrate": str(rung.bitrate * 3 // 2),
        "bufsize": str(rung.bitrate * 2),
    }


def avc_codec_string(data: bytes) -> str:
    """RFC 6381 ``avc1.PPCCLL`` from an avcC record or Annex B bytes holding the SPS."""
    if data[:1] == b"\x01" and len(data) >= 4:  # avcC: version, profile, constraints, level
        return f"avc1.{data[1]:02X}{data[2]:02X}{data[3]:02X}"
    match = _SPS_START.search(data)
    if match is None or len(data) < match.end() + 3:
        return "avc1.640028"
    profile, constraints, level = data[match.end() : match.end() + 3]
    return f"avc1.{profile:02X}{constraints:02X}{level:02X}"


class RenditionWriter:
    """Encodes one rung into ``<dir>/<name>/index.m3u8`` + ``seg_NNNNN.ts``.

    Resource handling:
        Call :meth:`close` (flushes encoders and writes the playlist's ENDLIST).
    """

    def __init__(self, directory: Path, rung: Rung, fps: Fraction, with_audio: bool) -> None:
        self.rung = rung
        self.directory = directory / rung.name
        self.directory.mkdir(parents=True, exist_ok=True)
        self._container = av.open(
            str(self.directory / "index.m3u8"),
            "w",
            format="hls",
            options={
                "hls_time": str(SEGMENT_SECONDS),
                "hls_playlist_type": "vod",
                "hls_segment_filename": str(self.directory / "seg_%05d.ts"),
                "hls_flags": "independent_segments",
            },
        )
        gop = max(1, round(fps * GOP_SECONDS))
        self._video = self._container.add_stream(
            "libx264", rate=fps, options=x264_options(rung, gop)
        )
        self._video.width = rung.width
        self._video.height = rung.height
        self._video.pix_fmt = "yuv420p"
        self._video.bit_rate = rung.bitrate
        self._video.codec_context.time_base = 1 / fps
        self._audio = None
        if with_audio:
            self._audio = self._container.add_stream("aac", rate=AUDIO_RATE)
            self._audio.layout = "stereo"
            self._audio.bit_rate = AUDIO_BITRATE
        self._next_pts = 0
        self.codecs: tuple[str, ...] = ()

    def video(self, frame: av.VideoFrame, pts: int) -> None:
        """Encode ``frame`` (any size/format) at output frame number ``pts``."""
        if pts < self._next_pts:
            return  # duplicate timestamp from a variable-frame-rate source
        scaled = frame.reformat(self.rung.width, self.rung.height, format="yuv420p")
        scaled.pts = pts
        scaled.time_base = self._video.codec_context.time_base
        self._next_pts = pts + 1
        self._mux(self._video.encode(scaled))

    def audio(self, frame: av.AudioFrame) -> None:
        """Encode a 48 kHz stereo fltp frame of the AAC frame size."""
        if self._audio is not None:
            self._mux(self._audio.encode(frame))

    def _mux(self, packets: list[av.Packet[Any]]) -> None:
        for packet in packets:
            if not self.codecs and packet.stream.index == self._video.index:
                # With a global header (the HLS muxer asks for one) the SPS is in
                # the extradata, as avcC or Annex B; otherwise in the keyframe.
                extradata = self._video.codec_context.extradata or b""
                codecs = [avc_codec_string(extradata or bytes(packet))]
                if self._audio is not None:
                    codecs.append("mp4a.40.2")
                self.codecs = tuple(codecs)
            self._container.mux(packet)

    def close(self) -> None:
        self._mux(self._video.encode(None))
        if self._audio is not None:
            self._mux(self._audio.encode(None))
        self._container.close()

    def variant(self, fps: Fraction) -> Variant:
        """The master playlist entry, with bandwidths measured from the written segments."""
        peak, average = measure_playlist(self.directory / "index.m3u8")
        return Variant(
            uri=f"{self.rung.name}/index.m3u8",
            bandwidth=max(peak, 1),
            average_bandwidth=max(average, 1),
            codecs=self.codecs,
            resolution=(self.rung.width, self.rung.height),
            frame_rate=float(fps),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.rung.name,
            "width": self.rung.width,
            "height": self.rung.height,
            "bitrate": self.rung.bitrate,
            "playlist": f"{self.rung.name}/index.m3u8",
        }


def measure_playlist(playlist: Path) -> tuple[int, int]:
    """(peak, average) bits/s of the segments listed in a media playlist."""
    peak = 0
    total_bits = 0
    total_s = 0.0
    duration = 0.0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#"):
            bits = (playlist.parent / line).stat().st_size * 8
            total_bits += bits
            total_s += duration
            if duration > 0:
                peak = max(peak, round(bits / duration))
    average = round(total_bits / total_s) if total_s > 0 else 0
    return peak, average
