"""Still images from decoded frames, with PyAV alone: JPEG encoding, darkness, sprite sheets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import av

__all__ = ["Brightness", "SpriteSheet", "brightness", "encode_jpeg", "fit_width"]

JPEG_QSCALE = 4  # mjpeg quantiser: 2 best .. 31 worst; 4 is visually clean and small
PROBE_SIZE = (32, 18)  # luma statistics on a thumbnail of a thumbnail: cheap, good enough


def fit_width(width: int, height: int, target_width: int) -> tuple[int, int]:
    """``(w, h)`` at most ``target_width`` wide with the aspect ratio kept; both even."""
    w = min(target_width, width)
    h = max(2, round(height * w / width / 2) * 2)
    return max(2, w // 2 * 2), h


def encode_jpeg(frame: av.VideoFrame, width: int, height: int) -> bytes:
    """``frame`` scaled to ``width`` x ``height`` as a baseline JPEG."""
    context = av.CodecContext.create("mjpeg", "w")
    context.width = width
    context.height = height
    context.pix_fmt = "yuvj420p"
    context.time_base = Fraction(1, 25)
    context.qmin = context.qmax = JPEG_QSCALE
    picture = frame.reformat(width, height, format="yuvj420p")
    picture.pts = 0
    packets = [*context.encode(picture), *context.encode(None)]
    return b"".join(bytes(p) for p in packets)


@dataclass(frozen=True, slots=True)
class Brightness:
    mean: float  # average luma, 0..255
    spread: float  # standard deviation of luma: a flat (black, white) picture is near 0

    @property
    def usable(self) -> bool:
        """Not a black, blank or fade frame: worth showing as a poster."""
        return self.mean > 32 and self.spread > 12


def brightness(frame: av.VideoFrame) -> Brightness:
    small = frame.reformat(*PROBE_SIZE, format="gray")
    plane = small.planes[0]
    data = bytes(plane)
    width, height = PROBE_SIZE
    values = [data[row * plane.line_size + x] for row in range(height) for x in range(width)]
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return Brightness(mean, spread)


class SpriteSheet:
    """Seek-preview tiles laid out in a grid, as one JPEG with a WebVTT index.

    Tiles are kept as scaled yuv420p planes (a few KiB each), so memory is
    bounded by ``max_tiles``.
    """

    def __init__(self, tile_width: int, tile_height: int, columns: int, max_tiles: int) -> None:
        self.tile_width = tile_width
        self.tile_height = tile_height
        self.columns = columns
        self.max_tiles = max_tiles
        self._tiles: list[tuple[float, list[bytes]]] = []

    def __len__(self) -> int:
        return len(self._tiles)

    def add(self, frame: av.VideoFrame, at_s: float) -> None:
        if len(self._tiles) >= self.max_tiles:
            return
        tile = frame.reformat(self.tile_width, self.tile_height, format="yuv420p")
        planes = []
        for index, plane in enumerate(tile.planes):
            width = self.tile_width if index == 0 else self.tile_width // 2
            rows = self.tile_height if index == 0 else self.tile_height // 2
            raw = bytes(plane)
            planes.append(
                b"".join(
                    raw[r * plane.line_size : r * plane.line_size + width] for r in range(rows)
                )
            )
        self._tiles.append((at_s, planes))

    def render(self, duration: float, image_url: str) -> tuple[bytes, str]:
        """The sheet as JPEG bytes, and the WebVTT index pointing into ``image_url``."""
        rows = max(1, math.ceil(len(self._tiles) / self.columns))
        sheet = av.VideoFrame(self.tile_width * self.columns, self.tile_height * rows, "yuv420p")
        for index, plane in enumerate(sheet.planes):
            scale = 1 if index == 0 else 2
            tile_w, tile_h = self.tile_width // scale, self.tile_height // scale
            buffer = bytearray(b"\x10" if index == 0 else b"\x80") * (
                plane.line_size * plane.height
            )
            for number, (_at, tile_planes) in enumerate(self._tiles):
                x0 = (number % self.columns) * tile_w
                y0 = (number // self.columns) * tile_h
                source = tile_planes[index]
                for r in range(tile_h):
                    first = (y0 + r) * plane.line_size + x0
                    buffer[first : first + tile_w] = source[r * tile_w : (r + 1) * tile_w]
            plane.update(bytes(buffer))
        image = encode_jpeg(sheet, sheet.width, sheet.height)
        cues = ["WEBVTT", ""]
        for number, (start, _planes) in enumerate(self._tiles):
            end = self._tiles[number + 1][0] if number + 1 < len(self._tiles) else duration
            x = (number % self.columns) * self.tile_width
            y = (number // self.columns) * self.tile_height
            cues += [
                f"{_timestamp(start)} --> {_timestamp(max(end, start + 0.001))}",
                f"{image_url}#xywh={x},{y},{self.tile_width},{self.tile_height}",
                "",
            ]
        return image, "\n".join(cues)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
