"""Image headers: files from real encoders (vectors/README.md), then hand-made edge cases."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import image

VECTORS = Path(__file__).parent / "vectors"

# file -> (format, width, height); every vector is 33x17 (testsrc)
EXPECTED = {
    "ffmpeg-33x17.png": "png",
    "ffmpeg-33x17.gif": "gif",
    "ffmpeg-33x17-lossy.webp": "webp",
    "ffmpeg-33x17-lossless.webp": "webp",
    "pillow-33x17-alpha.webp": "webp",
    "ffmpeg-33x17.jpg": "jpeg",
    "pillow-33x17-progressive-exif.jpg": "jpeg",
}


def test_the_corpus_is_there() -> None:
    assert sorted(p.name for p in VECTORS.iterdir() if p.name != "README.md") == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_files(name: str) -> None:
    data = (VECTORS / name).read_bytes()
    header = image.read_header(data)
    assert (header.format, header.width, header.height) == (EXPECTED[name], 33, 17)
    assert header.content_type == f"image/{EXPECTED[name]}"
    assert header.format in image.FORMATS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_file_cut_inside_its_header_is_an_error(name: str) -> None:
    data = (VECTORS / name).read_bytes()
    size = len(data)
    for end in range(size):
        try:
            image.read_header(data[:end])
        except image.ImageError:
            continue
        size = end  # the shortest prefix that has the whole header
        break
    assert size < len(data)  # a header is read from the file's first bytes only
    assert image.read_header(data[:size]) == image.read_header(data)


def _jpeg(*segments: bytes) -> bytes:
    return b"\xff\xd8" + b"".join(segments)


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


SOF0_640x480 = _segment(0xC0, b"\x08" + struct.pack(">HH", 480, 640) + b"\x01\x01\x11\x00")


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (_jpeg(SOF0_640x480), (640, 480)),
        # fill bytes before a marker, a standalone RST and TEM, an APPn, DHT (C4) and
        # DAC (CC), which sit in the SOF range but are not frame headers
        (
            _jpeg(
                b"\xff\xff\xff\xd0\xff\x01",
                _segment(0xE0, b"JFIF\x00"),
                _segment(0xC4, b"\x00" * 17),
                _segment(0xCC, b"\x00\x00"),
                SOF0_640x480,
            ),
            (640, 480),
        ),
        # SOF2 (progressive) and SOF15 (lossless hierarchical arithmetic)
        (_jpeg(_segment(0xC2, b"\x08" + struct.pack(">HH", 1, 4000))), (4000, 1)),
        (_jpeg(_segment(0xCF, b"\x08" + struct.pack(">HH", 7, 9))), (9, 7)),
    ],
)
def test_jpeg_markers(data: bytes, size: tuple[int, int]) -> None:
    header = image.read_header(data)
    assert (header.format, header.width, header.height) == ("jpeg", *size)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "not a PNG, GIF, WebP or JPEG image"),
        (b"BM6\x00\x00\x00", "not a PNG, GIF, WebP or JPEG image"),  # BMP
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIDAT" + b"\x00" * 8, "must start with its IHDR"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00", "cut short"),
        (b"GIF89a\x21", "cut short"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 7 + b"\x00\x00\x00", "without its start"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2e", "without its signature"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f\x00", "cut short"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 10, "cut short"),
        (b"RIFF\x00\x00\x00\x00WEBPALPH", "first chunk is b'ALPH'"),
        (b"\xff\xd8", "cut short"),
        (b"\xff\xd8\x00\xe0", "no marker at byte 2"),
        (b"\xff\xd8\xff\xff", "cut short"),  # fill bytes to the end
        (_jpeg(_segment(0xE0, b"")[:-1]), "cut short"),
        (_jpeg(b"\xff\xe0\x00\x01"), "a segment length of 1"),
        (_jpeg(_segment(0xE0, b"JFIF\x00"), b"\xff\xda\x00\x08"), "before the first scan"),
        (_jpeg(b"\xff\xd9"), "before the first scan"),
        (_jpeg(_segment(0xC0, b"\x08\x00\x00\x02\x80")), "deferred to a DNL"),
        (_jpeg(_segment(0xC0, b"\x08\x01")[:7]), "cut short"),
    ],
)
def test_broken_headers(data: bytes, error: str) -> None:
    with pytest.raises(image.ImageError, match=re.escape(error)):
        image.read_header(data)


def test_image_error_is_a_value_error() -> None:
    assert issubclass(image.ImageError, ValueError)


@given(st.binary(max_size=64))
def test_any_bytes_give_a_header_or_the_error(data: bytes) -> None:
    for prefix in (b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8X"):
        try:
            header = image.read_header(prefix + data)
        except image.ImageError:
            continue
        assert header.width >= 0 and header.height >= 0
