"""Throwaway publisher for the RTMP vectors (not collected by pytest).

The system ffmpeg (5.1) cannot put HEVC in FLV; the FFmpeg libraries bundled in
PyAV (libavformat 62, FFmpeg 8) can, as enhanced RTMP (FourCC ``hvc1``), like a
current OBS. ``python publish_pyav.py URL CODEC`` encodes one second of
``testsrc`` at 160x120/25 fps with CODEC (``libx265`` or ``libx264``) plus a 440 Hz
AAC tone and publishes it to URL (an ``rtmp://`` URL, or a file name to write an
FLV file). See README.md for the exact command lines.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av

SECONDS = 1
FPS = 25
SAMPLE_RATE = 44100


def publish(url: str, codec: str) -> None:
    video_in = av.open(f"testsrc=size=160x120:rate={FPS}", format="lavfi")
    audio_in = av.open(f"sine=frequency=440:sample_rate={SAMPLE_RATE}", format="lavfi")
    out = av.open(url, "w", format="flv")
    video = out.add_stream(codec, rate=FPS)
    audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
    assert isinstance(video, av.VideoStream) and isinstance(audio, av.AudioStream)
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    video.time_base = Fraction(1, FPS)
    # One GOP per second, a low quality (tiny frames) and B-frames in a fixed
    # pattern, so composition time offsets appear on the wire.
    options = {"preset": "fast", "crf": "40", "g": str(FPS), "bf": "2"}
    if codec == "libx265":
        options["x265-params"] = "log-level=error:keyint=25:min-keyint=25:bframes=2:b-adapt=0"
    else:
        options["x264-params"] = "b-adapt=0:bframes=2"
    video.options = dict(options)
    audio.bit_rate = 32000
    for i, frame in enumerate(video_in.decode(video=0)):
        if i == SECONDS * FPS:
            break
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, FPS)
        # lavfi marks every frame as I, which forces intra frames and no B-frames.
        frame.pict_type = av.video.frame.PictureType.NONE
        out.mux(video.encode(frame))
    samples = 0
    for sound in audio_in.decode(audio=0):
        if samples >= SECONDS * SAMPLE_RATE:
            break
        samples += sound.samples
        out.mux(audio.encode(sound))
    out.mux(video.encode(None))
    out.mux(audio.encode(None))
    out.close()
    video_in.close()
    audio_in.close()


if __name__ == "__main__":
    publish(sys.argv[1], sys.argv[2])
