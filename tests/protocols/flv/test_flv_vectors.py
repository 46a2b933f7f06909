"""FLV files written by real muxers (vectors/README.md): decoded, re-encoded, re-split."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols import flv

VECTORS = Path(__file__).parent / "vectors"
FILES = sorted(p.name for p in VECTORS.glob("*.flv"))


def read_all(pieces: list[bytes]) -> list[flv.FLVHeader | flv.FLVTag]:
    reader = flv.FLVReader()
    out: list[flv.FLVHeader | flv.FLVTag] = []
    for piece in [*pieces, b""]:
        reader.receive_data(piece)
        while (event := reader.next_event()) is not flv.NEED_DATA:
            if isinstance(event, flv.FLVEnd):
                return out
            out.append(event)
    raise AssertionError("no FLVEnd after EOF")


def test_the_corpus_is_there() -> None:
    assert FILES == [
        "ffmpeg-flv1-mp3.flv",
        "ffmpeg-h264-aac.flv",
        "ffmpeg9-multitrack-h264-aac.flv",
        "pyav-hevc-aac.flv",
    ]


@pytest.mark.parametrize("name", FILES)
def test_reencoding_gives_the_same_bytes(name: str) -> None:
    data = (VECTORS / name).read_bytes()
    header, *tags = read_all([data])
    assert header == flv.FLVHeader(has_audio=True, has_video=True)
    encoded = flv.encode_header(has_audio=True, has_video=True)
    for tag in tags:
        assert isinstance(tag, flv.FLVTag)
        encoded += flv.encode_tag(tag)
    assert encoded == data


@pytest.mark.parametrize("name", FILES)
def test_byte_at_a_time_gives_the_same_tags(name: str) -> None:
    data = (VECTORS / name).read_bytes()
    assert read_all([data[i : i + 1] for i in range(len(data))]) == read_all([data])


@pytest.mark.parametrize(
    ("name", "video", "audio"),
    [
        ("ffmpeg-h264-aac.flv", "avc1", flv.SoundFormat.AAC),
        ("ffmpeg-flv1-mp3.flv", None, flv.SoundFormat.MP3),
        ("pyav-hevc-aac.flv", "hvc1", flv.SoundFormat.AAC),
    ],
)
def test_tag_bodies_and_codec_records(name: str, video: str | None, audio: int) -> None:
    tags = [t for t in read_all([(VECTORS / name).read_bytes()]) if isinstance(t, flv.FLVTag)]
    videos = [flv.parse_video_tag(t.data) for t in tags if t.tag_type == flv.TagType.VIDEO]
    audios = [flv.parse_audio_tag(t.data) for t in tags if t.tag_type == flv.TagType.AUDIO]
    assert len(videos) >= 25 and len(audios) >= 20
    assert {v.fourcc for v in videos} == {video}
    assert {a.sound_format for a in audios} == {audio}
    for body, tag in zip(
        [t.data for t in tags if t.tag_type == flv.TagType.VIDEO], videos, strict=True
    ):
        assert flv.encode_video_tag(tag) == body
    headers = [v for v in videos if v.is_sequence_header]
    if video == "avc1":
        (config,) = [flv.parse_avc_config(v.data) for v in headers]
        sps = flv.parse_h264_sps(config.sps[0])
        assert (sps.width, sps.height) == (160, 120)
    elif video == "hvc1":
        (hevc,) = [flv.parse_hevc_config(v.data) for v in headers]
        assert hevc.nal_length_size == 4
    if audio == flv.SoundFormat.AAC:
        (asc,) = [flv.parse_audio_specific_config(a.data) for a in audios if a.is_sequence_header]
        assert asc.sample_rate == 44100


def test_ffmpeg9_multitrack_tracks_split_into_plain_bodies() -> None:
    """Track 1 of each multitrack body becomes a legacy body like track 0's, and round trips."""
    tags = read_all([(VECTORS / "ffmpeg9-multitrack-h264-aac.flv").read_bytes()])
    bodies = [t for t in tags if isinstance(t, flv.FLVTag)]
    video = [t.data for t in bodies if t.tag_type == flv.TagType.VIDEO]
    audio = [t.data for t in bodies if t.tag_type == flv.TagType.AUDIO]
    multi_video_bodies = [b for b in video if flv.is_multitrack_video(b)]
    multi_audio_bodies = [b for b in audio if flv.is_multitrack_audio(b)]
    assert len(multi_video_bodies) >= 25 and len(multi_audio_bodies) >= 20
    multi_video = [flv.parse_multitrack_video(b) for b in multi_video_bodies]
    multi_audio = [flv.parse_multitrack_audio(b) for b in multi_audio_bodies]
    assert [flv.encode_multitrack_video(t) for t in multi_video] == multi_video_bodies
    assert [flv.encode_multitrack_audio(t) for t in multi_audio] == multi_audio_bodies
    assert {(t.multitrack_type, tuple(p.track_id for p in t.tracks)) for t in multi_video} == {
        (flv.AvMultitrackType.ONE_TRACK, (1,))
    }
    plain = [flv.single_track_video(tag, 1) for tag in multi_video]
    parsed = [flv.parse_video_tag(b) for b in plain if b is not None]
    assert len(parsed) == len(multi_video)
    assert all(isinstance(v, flv.VideoTag) and v.codec_id == flv.VideoCodecId.AVC for v in parsed)
    assert any(v.composition_time_ms > 0 for v in parsed)  # B-frames keep their offsets
    (config,) = [flv.parse_avc_config(v.data) for v in parsed if v.is_sequence_header]
    sps = flv.parse_h264_sps(config.sps[0])
    assert (sps.width, sps.height) == (80, 60)
    track0 = [flv.parse_video_tag(b) for b in video if not flv.is_multitrack_video(b)]
    keyframes = [v.is_keyframe for v in parsed if v.is_coded_frame]
    assert keyframes == [v.is_keyframe for v in track0 if v.is_coded_frame]
    aac = [flv.parse_audio_tag(b) for t in multi_audio if (b := flv.single_track_audio(t, 1))]
    (asc,) = [flv.parse_audio_specific_config(a.data) for a in aac if a.is_sequence_header]
    assert asc.sample_rate == 44100
