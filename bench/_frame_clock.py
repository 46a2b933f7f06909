"""A clock drawn into video frames: each frame carries, in big black and white blocks,
the milliseconds since the publisher's epoch at which it was handed to the encoder.

The picture is :data:`WIDTH` x :data:`HEIGHT`. Its top :data:`CLOCK_ROWS` blocks hold
the :data:`BITS`-bit value: a row of :data:`BLOCKS_PER_ROW` data blocks (most
significant bit first, white is 1), then the same row inverted, then the next data
row and its inverse. A bit is read as "the data block is brighter than its inverse",
which needs no threshold (an encoder's level shift or the browser's range conversion
moves both alike), and a frame is readable only if every pair differs by at least
:data:`MIN_CONTRAST` (a block smeared by compression or a half-drawn picture is not
read as a wrong time). Below the clock a white bar moves across a grey field and the
bottom rows are fresh noise in every frame, so the encoder sees motion and detail as
in a camera's stream. ``bench/latency.py`` reads the same layout
back in the browser (:data:`DECODE_JS`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CLOCK_HEIGHT_PX",
    "DECODE_JS",
    "HEIGHT",
    "WIDTH",
    "decode_luma",
    "frame_yuv420p",
]

WIDTH = 640
HEIGHT = 360
BITS = 32  # ms since the epoch: 49 days, far more than a run
BLOCK_PX = 40  # 16 blocks across 640 px; x264's 16x16 macroblocks keep them sharp
BLOCKS_PER_ROW = WIDTH // BLOCK_PX
CLOCK_ROWS = 2 * BITS // BLOCKS_PER_ROW  # data and inverted rows: 4 rows, 160 px
CLOCK_HEIGHT_PX = CLOCK_ROWS * BLOCK_PX
SAMPLE_PX = 16  # the centre of a block is averaged: its edges blur in 4:2:0 and x264
MIN_CONTRAST = 64  # of 0..255: sharp blocks differ by ~200, a smeared one by much less
BLACK, WHITE, GREY = 16, 235, 128  # video (limited) range luma
BAR_PX = 40
BAR_STEP_PX = 8  # per frame: the bar crosses the picture in 80 frames
# Fresh noise in the bottom rows of every frame: detail the encoder cannot predict, so
# that the stream comes near its bit rate as a camera's would, not a few dozen kbit/s.
NOISE_ROWS = 40


def _clock_rows(value: int) -> list[bytes]:
    """The clock's pixel rows (luma) for ``value``."""
    bits = [(value >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    rows = []
    for start in range(0, BITS, BLOCKS_PER_ROW):
        chunk = bits[start : start + BLOCKS_PER_ROW]
        for invert in (0, 1):
            line = b"".join(bytes([WHITE if bit ^ invert else BLACK]) * BLOCK_PX for bit in chunk)
            rows.extend([line] * BLOCK_PX)
    return rows


def frame_yuv420p(value: int, index: int) -> bytes:
    """One ``yuv420p`` frame showing ``value`` (0 <= value < 2**32), frame ``index``'s bar.

    Raises:
        ValueError: ``value`` does not fit in the clock's bits.
    """
    if not 0 <= value < 1 << BITS:
        raise ValueError(f"{value} does not fit in {BITS} bits")
    x = index * BAR_STEP_PX % (WIDTH - BAR_PX)
    bar = bytes([GREY]) * x + bytes([WHITE]) * BAR_PX + bytes([GREY]) * (WIDTH - BAR_PX - x)
    noise = os.urandom(WIDTH * NOISE_ROWS)
    luma = b"".join(_clock_rows(value)) + bar * (HEIGHT - CLOCK_HEIGHT_PX - NOISE_ROWS) + noise
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    return luma + chroma + chroma


def decode_luma(luma: Sequence[int] | bytes, stride: int) -> int | None:
    """The value a decoded frame's luma plane (``stride`` bytes a row, at least
    :data:`WIDTH` x :data:`CLOCK_ROWS` blocks) shows, or None if it is not readable."""

    def mean(block_x: int, block_row: int) -> float:
        x0 = block_x * BLOCK_PX + (BLOCK_PX - SAMPLE_PX) // 2
        y0 = block_row * BLOCK_PX + (BLOCK_PX - SAMPLE_PX) // 2
        total = 0
        for y in range(y0, y0 + SAMPLE_PX):
            total += sum(luma[y * stride + x0 : y * stride + x0 + SAMPLE_PX])
        return total / (SAMPLE_PX * SAMPLE_PX)

    value = 0
    for i in range(BITS):
        row, column = divmod(i, BLOCKS_PER_ROW)
        data, inverse = mean(column, 2 * row), mean(column, 2 * row + 1)
        if abs(data - inverse) < MIN_CONTRAST:
            return None
        value = value << 1 | (data > inverse)
    return value


# The same reading in the page: ``g2gDecode(rgba, width)`` on the canvas's top
# CLOCK_ROWS * BLOCK_PX rows scaled to the video's size (luma from RGB, BT.601 weights).
DECODE_JS = f"""
function g2gDecode(rgba, width) {{
  const scale = width / {WIDTH};
  const block = {BLOCK_PX} * scale, sample = Math.max(1, Math.round({SAMPLE_PX} * scale));
  const mean = (bx, row) => {{
    const x0 = Math.round(bx * block + (block - sample) / 2);
    const y0 = Math.round(row * block + (block - sample) / 2);
    let total = 0;
    for (let y = y0; y < y0 + sample; y++) {{
      for (let x = x0; x < x0 + sample; x++) {{
        const i = 4 * (y * width + x);
        total += 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
      }}
    }}
    return total / (sample * sample);
  }};
  let value = 0;
  for (let i = 0; i < {BITS}; i++) {{
    const row = Math.floor(i / {BLOCKS_PER_ROW}), column = i % {BLOCKS_PER_ROW};
    const data = mean(column, 2 * row), inverse = mean(column, 2 * row + 1);
    if (Math.abs(data - inverse) < {MIN_CONTRAST}) return null;
    value = value * 2 + (data > inverse ? 1 : 0);
  }}
  return value;
}}
"""
