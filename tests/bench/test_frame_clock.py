"""The latency benchmark's frame clock: the time drawn into a frame is read back from
the picture after a real x264 encode (the benchmark's own ffmpeg settings) and a PyAV
decode, by the Python reader and by the page's JavaScript reader (in node, on the
RGBA pixels a canvas would hold), and a picture without a clock reads as nothing
rather than as a wrong time."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import TYPE_CHECKING

import av
import pytest

from bench._frame_clock import (
    CLOCK_HEIGHT_PX,
    DECODE_JS,
    HEIGHT,
    WIDTH,
    decode_luma,
    frame_yuv420p,
)
from bench.latency import FPS, encoder_command
from tests.interop.media import FFMPEG, require

if TYPE_CHECKING:
    from pathlib import Path

# Every bit set and cleared, in both halves of the clock, and a typical run's values.
VALUES = [0, 1, 0xFFFF_FFFF, 0x8000_0001, 0x5555_AAAA, *range(61_234, 61_234 + 60 * 33, 33)]
NODE = shutil.which("node")
# g2gDecode on each frame of a file of RGBA pictures (argv: path, width, height).
READ_ALL_JS = """
const [path, width, height] = [process.argv[1], +process.argv[2], +process.argv[3]];
const bytes = require("fs").readFileSync(path);
const size = width * height * 4, values = [];
for (let at = 0; at < bytes.length; at += size) {
  values.push(g2gDecode(bytes.subarray(at, at + size), width));
}
console.log(JSON.stringify(values));
"""


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> list[av.VideoFrame]:
    """The frames showing VALUES, encoded as the benchmark's publisher encodes them."""
    require(FFMPEG, "ffmpeg")
    encoded = tmp_path_factory.mktemp("clock") / "clock.flv"
    frames = b"".join(frame_yuv420p(value, index) for index, value in enumerate(VALUES))
    subprocess.run(encoder_command(str(encoded)), input=frames, check=True)
    with av.open(str(encoded)) as container:
        return list(container.decode(video=0))


@pytest.mark.slow
@pytest.mark.interop
def test_the_time_in_a_frame_survives_x264_and_decoding(decoded: list[av.VideoFrame]) -> None:
    read = [decode_luma(bytes(frame.planes[0]), frame.planes[0].line_size) for frame in decoded]
    assert read == VALUES
    assert len(VALUES) > 2 * FPS  # past the second keyframe: P-frames read too


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.parametrize("width", [WIDTH, WIDTH // 2])
def test_the_page_reads_the_same_time(
    decoded: list[av.VideoFrame], width: int, tmp_path: Path
) -> None:
    """At the stream's size and at half of it (the reader scales its blocks)."""
    node = require(NODE, "node")
    height = CLOCK_HEIGHT_PX * width // WIDTH
    pictures = tmp_path / "rgba"
    with pictures.open("wb") as out:
        for frame in decoded:
            rgba = frame.reformat(width=width, height=HEIGHT * width // WIDTH, format="rgba")
            out.write(rgba.to_ndarray()[:height].tobytes())
    answer = subprocess.run(
        [node, "-e", DECODE_JS + READ_ALL_JS, str(pictures), str(width), str(height)],
        capture_output=True,
        check=True,
        text=True,
    )
    assert json.loads(answer.stdout) == VALUES


def test_a_picture_without_a_clock_is_not_read() -> None:
    frame = bytearray(frame_yuv420p(0x1234_5678, 0))
    assert decode_luma(frame, WIDTH) == 0x1234_5678
    # One block pair smeared to grey (a half-drawn picture): the frame is not read.
    for y in range(CLOCK_HEIGHT_PX):
        frame[y * WIDTH : y * WIDTH + 40] = bytes([128]) * 40
    assert decode_luma(frame, WIDTH) is None


@pytest.mark.parametrize("value", [-1, 1 << 32])
def test_a_time_that_does_not_fit_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        frame_yuv420p(value, 0)
