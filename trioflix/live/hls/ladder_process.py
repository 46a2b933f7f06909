"""The live ladder's child process: ``python -m trioflix.live.hls.ladder_process CONFIG_JSON``.

It exists so that decoding, scaling and encoding never run in the server
process: a crash in FFmpeg or x264 ends this process, not the server, and its
CPU time shows up against it.

Input, on stdin: an FLV stream (header, then tags) of the source's video tags,
each frame that starts a segment preceded by a script-data tag whose first AMF0
value is ``"onCut"``. Every byte is parsed by :mod:`protocols.flv` and
:mod:`protocols.amf`.

Output: one FLV stream per rung, each on the file descriptor the parent passed
for it (``rungs[i].fd``), muxed by FFmpeg's FLV muxer with packet-level flushing.
Video only; the parent adds the source's audio.

Theory of operation
-------------------
* The main thread reads stdin and decodes once; each decoded picture goes, by
  reference, to every rung's bounded queue. A full queue blocks the main thread
  (backpressure reaches the parent through the pipe); the parent measures each
  rung's lag behind the live edge and drops a rung that falls behind by closing
  its pipe.
* Each rung thread scales (bicubic, as ffmpeg's scale filter does by default) and
  encodes with libx264; both release the GIL, so rungs run in parallel.
* Keyframes: x264's own keyframe placement is off (``scenecut=0`` and an endless
  GOP); a picture whose source frame followed an ``onCut`` marker is encoded as an
  IDR. Pictures come out of the decoder in presentation order, so the marker is
  matched by presentation timestamp. A rung starts at the first marked picture,
  so its first segment starts where a source segment does.
* Timestamps never go back in a rung: a picture not after the previous one (a new
  publisher stitched a few ms early onto the old one's timeline) is moved to 1 ms
  after it, as FFmpeg's muxer refuses the stream otherwise.
* A rung whose pipe breaks (the parent dropped it) stops; the others go on. EOF
  on stdin flushes every encoder and exits 0.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import sys
import threading
from fractions import Fraction
from typing import Any, Final

import av
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from protocols import amf, flv, hls
from trioflix.live.hls.ladder_spec import CUT_MARKER

__all__ = ["main"]

logger = logging.getLogger("trioflix.live.hls.ladder_process")

READ_BYTES: Final = 256 * 1024
# Decoded pictures waiting per rung: 8 is a quarter second at 30 fps, and at 1080p
# 8 x 3 MB; the pictures are shared between rungs, not copied.
QUEUE_FRAMES: Final = 8
PUT_POLL_S: Final = 0.5  # a blocked hand-off re-checks whether its rung is still alive
# x264 never places a keyframe by itself: only the source's segment starts do.
ENDLESS_GOP: Final = 1 << 30
MS: Final = Fraction(1, 1000)
_DECODERS: Final = {"avc1": "h264", "hvc1": "hevc"}


class Rung:
    """One rendition: a queue of decoded pictures, a thread that scales and encodes."""

    def __init__(self, config: dict[str, Any], preset: str, fps: float) -> None:
        self.name: str = config["name"]
        self.width: int = config["width"]
        self.height: int = config["height"]
        self.kbps: int = config["kbps"]
        self.fd: int = config["fd"]
        self.preset = preset
        self.fps = fps
        self.alive = True
        # One scaler per rung: VideoFrame.reformat caches one on the frame, and the
        # frame is shared by every rung's thread.
        self.scaler = VideoReformatter()
        self.queue: queue.Queue[tuple[av.VideoFrame, bool] | None] = queue.Queue(QUEUE_FRAMES)
        self.thread = threading.Thread(target=self._run, name=f"rung-{self.name}", daemon=True)

    def offer(self, frame: av.VideoFrame, key: bool) -> None:
        while self.alive:
            try:
                self.queue.put((frame, key), timeout=PUT_POLL_S)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        while self.alive:
            try:
                self.queue.put(None, timeout=PUT_POLL_S)
                return
            except queue.Full:
                continue

    def _open(self) -> tuple[av.container.OutputContainer, av.VideoStream]:
        output = os.fdopen(self.fd, "wb")
        container = av.open(output, "w", format="flv", options={"flush_packets": "1"})
        stream = container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = MS
        stream.codec_context.time_base = MS
        stream.bit_rate = self.kbps * 1000
        # Capped VBR: peaks stay near the declared BANDWIDTH, as players assume.
        vbv = self.kbps
        stream.options = {
            "preset": self.preset,
            "tune": "zerolatency",
            "forced-idr": "1",
            "x264-params": (
                f"scenecut=0:keyint={ENDLESS_GOP}:min-keyint=1"
                f":vbv-maxrate={vbv}:vbv-bufsize={vbv * 2}"
            ),
        }
        return container, stream

    def _run(self) -> None:
        try:
            container, stream = self._open()
        except Exception:
            logger.exception("rung %s: cannot open its encoder", self.name)
            self.alive = False
            return
        started = False
        last_pts = -1
        try:
            while self.alive:
                item = self.queue.get()
                if item is None:
                    break
                frame, key = item
                if not started and not key:
                    continue  # start where a source segment starts
                started = True
                scaled = self.scaler.reformat(
                    frame, self.width, self.height, "yuv420p", interpolation="BICUBIC"
                )
                # A new publisher's timestamps are stitched onto the old one's and may
                # start a few ms before its last picture: FFmpeg's muxer refuses a
                # timestamp that goes back (EINVAL), which would end the rung.
                last_pts = scaled.pts = max(int(frame.pts or 0), last_pts + 1)
                scaled.time_base = MS
                scaled.pict_type = PictureType.I if key else PictureType.NONE
                for packet in stream.encode(scaled):
                    container.mux(packet)
            if self.alive:
                for packet in stream.encode(None):
                    container.mux(packet)
        except (BrokenPipeError, av.error.BrokenPipeError):
            logger.info("rung %s: dropped by the server", self.name)
        except Exception:
            logger.exception("rung %s: encoder failed", self.name)
        finally:
            self.alive = False
            try:
                container.close()
            except Exception:  # the pipe is gone; nothing left to flush to
                pass


class Decoder:
    """Source video tags in, pictures out (with presentation timestamps in ms)."""

    def __init__(self, fourcc: str, config: bytes) -> None:
        self.fourcc = fourcc
        context = av.CodecContext.create(_DECODERS[fourcc], "r")
        assert isinstance(context, av.VideoCodecContext)
        self.context = context
        self.context.extradata = config
        self.context.thread_type = "AUTO"

    def decode(self, data: bytes | None, dts: int = 0, pts: int = 0) -> list[av.VideoFrame]:
        if data is None:
            packet = None
        else:
            packet = av.Packet(data)
            packet.dts = dts
            packet.pts = pts
            packet.time_base = MS
        try:
            frames = self.context.decode(packet)
        except av.error.InvalidDataError:
            return []  # a damaged frame: skip it, as players do
        return [f for f in frames if isinstance(f, av.VideoFrame) and f.pts is not None]


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    config = json.loads(argv[1])
    rungs = [Rung(r, config["preset"], float(config["fps"])) for r in config["rungs"]]
    for rung in rungs:
        rung.thread.start()
    reader = flv.FLVReader()
    unwrapper = hls.TimestampUnwrapper()
    decoder: Decoder | None = None
    cuts: set[int] = set()
    cut_next = False
    stdin = sys.stdin.buffer
    assert isinstance(stdin, io.BufferedReader)

    def dispatch(frames: list[av.VideoFrame]) -> None:
        for frame in frames:
            pts = int(frame.pts or 0)
            key = pts in cuts
            if key:
                cuts.discard(pts)
            for stale in [c for c in cuts if c < pts - 10_000]:
                cuts.discard(stale)  # a marked frame the decoder never produced
            for rung in rungs:
                rung.offer(frame, key)

    done = False
    while not done and any(r.alive for r in rungs):
        data = stdin.read1(READ_BYTES)
        reader.receive_data(data)
        while (event := reader.next_event()) is not flv.NEED_DATA:
            if isinstance(event, flv.FLVEnd):
                done = True
                break
            if not isinstance(event, flv.FLVTag):
                continue
            if event.tag_type == flv.TagType.SCRIPT_DATA:
                values = amf.decode_amf0(event.data)
                cut_next = bool(values) and values[0] == CUT_MARKER
                continue
            if event.tag_type != flv.TagType.VIDEO:
                continue
            tag = flv.parse_video_tag(event.data)
            fourcc = tag.fourcc
            if fourcc not in _DECODERS:
                continue
            dts = unwrapper.unwrap(event.timestamp_ms)
            if tag.is_sequence_header:
                if decoder is not None:
                    dispatch(decoder.decode(None))
                decoder = Decoder(fourcc, tag.data)
                continue
            if decoder is None or not tag.is_coded_frame or decoder.fourcc != fourcc:
                continue
            pts = dts + tag.composition_time_ms
            if cut_next:
                cuts.add(pts)
                cut_next = False
            dispatch(decoder.decode(tag.data, dts, pts))
        if not data:
            break
    if decoder is not None:
        dispatch(decoder.decode(None))
    for rung in rungs:
        rung.close()
    for rung in rungs:
        rung.thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
