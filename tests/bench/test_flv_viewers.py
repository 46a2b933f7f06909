"""The benchmark's light viewer walks FLV tag framing without parsing bodies: it sees
the same tags however the bytes are split between reads, and broken framing fails."""

from __future__ import annotations

import pytest

from bench._flv_viewers import TagFraming
from protocols import flv


def body(tags: list[tuple[flv.TagType, int, bytes]]) -> bytes:
    return b"".join(flv.encode_tag_fields(kind, ts, data) for kind, ts, data in tags)


TAGS = [
    (flv.TagType.VIDEO, 0, b"\x17\x01" + b"k" * 700),
    (flv.TagType.AUDIO, 21, b"\xaf\x01" + b"a" * 30),
    (flv.TagType.VIDEO, 0x1234567, b"\x27\x01" + b"p" * 90),  # past 24 bits: extended
    (flv.TagType.SCRIPT_DATA, 40, b"\x02"),
]


@pytest.mark.parametrize("step", [1, 7, 15, 16, 1000, 10_000])
def test_any_split_walks_the_same_tags(step: int) -> None:
    first, *rest = TAGS
    data = body(TAGS)
    # The walker starts at the first tag's PreviousTagSize, as after a parsed keyframe.
    start = 11 + len(first[2])
    framing = TagFraming(11 + len(first[2]))
    video: list[int] = []
    for at in range(start, len(data), step):
        video += framing.feed(memoryview(data)[at : at + step])
    assert framing.tags == len(rest)
    assert video == [0x1234567]


def test_a_wrong_previous_tag_size_is_an_error() -> None:
    data = bytearray(body(TAGS))
    start = 11 + len(TAGS[0][2])
    data[start + 3] ^= 1
    with pytest.raises(flv.FLVError, match="PreviousTagSize"):
        TagFraming(start).feed(bytes(data[start:]))


def test_an_unknown_tag_type_is_an_error() -> None:
    data = bytearray(body(TAGS))
    start = 11 + len(TAGS[0][2])
    data[start + 4] = 7
    with pytest.raises(flv.FLVError, match="tag type"):
        TagFraming(start).feed(bytes(data[start:]))
