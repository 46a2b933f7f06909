"""Publish HEVC over enhanced RTMP in real time, as a current OBS does (run as a script).

The system ffmpeg (5.1) cannot put HEVC in FLV; the FFmpeg 8 libraries inside
PyAV write it as enhanced RTMP (FourCC ``hvc1``). ``python publish_hevc.py URL
SECONDS`` sends SECONDS of 320x180/25 fps testsrc with a 440 Hz AAC tone, paced
to the wall clock so viewers can join mid-stream.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import av

FPS = 25
SAMPLE_RATE = 44100


def publish(url: str, seconds: int) -> None:
    video_in = av.open(f"testsrc=size=320x180:rate={FPS}", format="lavfi")
    audio_in = av.open(f"sine=frequency=440:sample_rate={SAMPLE_RATE}", format="lavfi")
    out = av.open(url, "w", format="flv")
    video = out.add_stream("libx265", rate=FPS)
    audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
    assert isinstance(video, av.VideoStream) and isinstance(audio, av.AudioStream)
    video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
    video.time_base = Fraction(1, FPS)
    video.options = {
        "preset": "ultrafast",
        "crf": "35",
        "x265-params": f"log-level=error:keyint={FPS}:min-keyint={FPS}:bframes=2:b-adapt=0",
    }
    audio.bit_rate = 32000
    audio_frames = audio_in.decode(audio=0)
    samples = 0
    start = time.monotonic()
    for i, frame in enumerate(video_in.decode(video=0)):
        if i == seconds * FPS:
            break
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, FPS)
        frame.pict_type = av.video.frame.PictureType.NONE  # let x265 choose frame types
        out.mux(video.encode(frame))
        while samples < (i + 1) * SAMPLE_RATE // FPS:
            sound = next(audio_frames)
            samples += sound.samples
            out.mux(audio.encode(sound))
        time.sleep(max(0.0, start + (i + 1) / FPS - time.monotonic()))
    out.mux(video.encode(None))
    out.mux(audio.encode(None))
    out.close()


if __name__ == "__main__":
    publish(sys.argv[1], int(sys.argv[2]))
