"""A WHIP publisher's media as FLV tag bodies: what an RTMP publisher would have sent.

The channel's live path takes FLV audio and video tag bodies (HLS, the ladder,
HTTP-FLV, RTMP play and the recorder all read them), so WebRTC's media is made
into them once, at the door:

- **H.264, not decoded:** each access unit arrives as an Annex B byte stream
  (aiortc's depacketiser joins the RTP payloads, RFC 6184); its NAL units become
  length-prefixed (4-byte) NALU packets, and each new SPS/PPS pair becomes an AVC
  sequence header (an AVCDecoderConfigurationRecord) sent before the frame that
  carries it. Frames before the first SPS/PPS and keyframe are dropped (a decoder
  could not start on them). The RTP 90 kHz clock becomes milliseconds.
- **Opus to AAC,** decoded and encoded by PyAV (:class:`OpusToAAC`, synchronous:
  run it in a worker thread), with the AAC sequence header (its
  AudioSpecificConfig) first.

WebRTC has no B-frames (no decode order), so composition times are always 0.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Final

from protocols import flv

__all__ = ["AAC_BITRATE", "H264ToFLV", "OpusToAAC"]

VIDEO_CLOCK_HZ: Final = 90_000  # RFC 6184 5.1: H.264's RTP clock
OPUS_CLOCK_HZ: Final = 48_000  # RFC 7587 4.1: Opus's RTP clock, whatever the real rate
AAC_RATE: Final = 48_000
AAC_BITRATE: Final = 128_000  # stereo speech and music, as OBS's default AAC
_NAL_IDR: Final = 5
_NAL_SPS: Final = 7
_NAL_PPS: Final = 8
_NAL_AUD: Final = 9  # an access unit delimiter: FLV frames are whole access units already


class H264ToFLV:
    """Annex B access units in, FLV video tag bodies out (for one publisher)."""

    def __init__(self) -> None:
        self._sps: bytes | None = None
        self._pps: bytes | None = None
        self._sent_config: tuple[bytes, bytes] | None = None
        self._started = False
        self.keyframes = 0  # keyframes converted (the keyframe requests read it)

    def convert(self, annex_b: bytes, rtp_timestamp: int) -> list[tuple[int, bytes]]:
        """The FLV bodies, each with its time in ms, for one access unit (its RTP time
        counted from the stream's first packet)."""
        timestamp_ms = rtp_timestamp * 1000 // VIDEO_CLOCK_HZ
        frame: list[bytes] = []
        keyframe = False
        for nal in flv.split_annex_b(annex_b):
            nal_type = nal[0] & 0x1F
            if nal_type == _NAL_SPS and len(nal) >= 4:
                self._sps = nal
            elif nal_type == _NAL_PPS:
                self._pps = nal
            elif nal_type != _NAL_AUD:
                keyframe = keyframe or nal_type == _NAL_IDR
                frame.append(nal)
        out: list[tuple[int, bytes]] = []
        if self._sps is not None and self._pps is not None:
            config = (self._sps, self._pps)
            if config != self._sent_config:
                self._sent_config = config
                out.append((timestamp_ms, self._sequence_header(*config)))
        if keyframe and self._sent_config is not None:
            self._started = True
            self.keyframes += 1
        if frame and self._started:
            body = b"".join(len(nal).to_bytes(4, "big") + nal for nal in frame)
            tag = flv.VideoTag(
                frame_type=flv.FrameType.KEY if keyframe else flv.FrameType.INTER,
                codec_id=flv.VideoCodecId.AVC,
                packet_type=flv.AVCPacketType.NALU,
                data=body,
            )
            out.append((timestamp_ms, flv.encode_video_tag(tag)))
        return out

    @staticmethod
    def _sequence_header(sps: bytes, pps: bytes) -> bytes:
        record = flv.AVCDecoderConfig(
            profile=sps[1],
            compatibility=sps[2],
            level=sps[3],
            nal_length_size=4,
            sps=(sps,),
            pps=(pps,),
        )
        tag = flv.VideoTag(
            frame_type=flv.FrameType.KEY,
            codec_id=flv.VideoCodecId.AVC,
            packet_type=flv.AVCPacketType.SEQUENCE_HEADER,
            data=flv.encode_avc_config(record),
        )
        return flv.encode_video_tag(tag)


def _aac_tag(packet_type: flv.AACPacketType, data: bytes) -> bytes:
    # FLV's sound rate/size/type fields are fixed for AAC (44 kHz, 16 bit, stereo):
    # the AudioSpecificConfig carries the real ones (FLV spec E.4.2.1).
    return flv.encode_audio_tag(
        flv.AudioTag(
            sound_format=flv.SoundFormat.AAC,
            sound_rate=3,
            sound_size=1,
            sound_type=1,
            aac_packet_type=packet_type,
            data=data,
        )
    )


class OpusToAAC:
    """Opus packets in, FLV AAC audio tag bodies out. Synchronous: PyAV, for a worker
    thread. Publish :meth:`sequence_header` first."""

    def __init__(self) -> None:
        import av  # loaded with the first WHIP publisher, not with the server

        self._av = av
        self._decoder: Any = av.CodecContext.create("libopus", "r")
        self._encoder: Any = av.CodecContext.create("aac", "w")
        self._encoder.sample_rate = AAC_RATE
        self._encoder.layout = "stereo"
        self._encoder.format = "fltp"
        self._encoder.bit_rate = AAC_BITRATE
        self._encoder.time_base = Fraction(1, AAC_RATE)
        self._encoder.open()
        self._resampler = av.AudioResampler(
            format="fltp", layout="stereo", rate=AAC_RATE, frame_size=self._encoder.frame_size
        )
        self._next_pts: int | None = None
        self._first_pts = 0
        self._shift: int | None = None  # samples: the encoder's priming, moved past 0

    def sequence_header(self) -> bytes:
        """The AAC sequence header (the encoder's AudioSpecificConfig) as an FLV body."""
        return _aac_tag(flv.AACPacketType.SEQUENCE_HEADER, bytes(self._encoder.extradata))

    def transcode(self, packets: list[tuple[bytes, int]]) -> list[tuple[int, bytes]]:
        """FLV bodies with their times (ms) for Opus packets with their RTP times (48 kHz,
        from the stream's first packet). Packets that do not decode are skipped."""
        out: list[tuple[int, bytes]] = []
        for data, rtp_timestamp in packets:
            if self._next_pts is None:
                # AAC's clock runs on from the first packet; Opus's gaps (silence
                # suppression, loss) are not filled, so the audio may drift early
                # by what is lost.
                self._next_pts = self._first_pts = rtp_timestamp * AAC_RATE // OPUS_CLOCK_HZ
            try:
                frames = self._decoder.decode(self._av.Packet(data))
            except self._av.FFmpegError:
                continue
            for frame in frames:
                frame.pts = None
                for resampled in self._resampler.resample(frame):
                    resampled.pts = self._next_pts
                    self._next_pts += resampled.samples
                    for packet in self._encoder.encode(resampled):
                        if self._shift is None:
                            # The AAC encoder's first packets are its priming, stamped
                            # before the first sample: FLV has no negative times, so
                            # the audio starts that much (~28 ms) later.
                            self._shift = max(0, self._first_pts - int(packet.pts))
                        pts = int(packet.pts) + self._shift
                        timestamp_ms = pts * 1000 // AAC_RATE
                        out.append((timestamp_ms, _aac_tag(flv.AACPacketType.RAW, bytes(packet))))
        return out
