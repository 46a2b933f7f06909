"""The check before a finished upload is queued: real videos in every common container
pass, files that are no video are refused with a reason a person understands."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.interop.media import FFMPEG, require
from trioflix.storage import LocalStorageConfig, open_object_store
from trioflix.uploads.playable import BLOCK_BYTES, refusal

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow  # the samples are encoded with ffmpeg, a few seconds

#: name -> ffmpeg arguments after the 2 s test source (picture and tone).
VIDEOS = {
    # Noise, so that it spans several blocks with its index (moov) at the end.
    "end_index.mp4": [
        *["-vf", "noise=alls=60:allf=t", "-c:v", "libx264", "-preset", "ultrafast"],
        *["-c:a", "aac"],
    ],
    "clip.mov": ["-c:v", "libx264", "-c:a", "aac"],
    "clip.mkv": ["-c:v", "libx264", "-c:a", "aac"],
    "clip.webm": ["-c:v", "libvpx", "-c:a", "libopus"],
    "clip.flv": ["-c:v", "libx264", "-c:a", "aac"],
    "clip.ts": ["-c:v", "libx264", "-c:a", "aac"],
    "clip.avi": ["-c:v", "mpeg4", "-c:a", "mp3"],
}
SOURCE = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine"]


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(
        [require(FFMPEG, "ffmpeg"), "-loglevel", "error", "-y", *arguments],
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("playable")
    for name, codecs in VIDEOS.items():
        _ffmpeg(*SOURCE, "-t", "2", *codecs, str(folder / name))
    _ffmpeg("-i", str(folder / "clip.mkv"), "-frames:v", "1", str(folder / "picture.png"))
    _ffmpeg("-i", str(folder / "clip.mkv"), "-frames:v", "1", str(folder / "picture.jpg"))
    # A song with its album art: the art is a video stream of one picture.
    _ffmpeg(
        *["-i", str(folder / "clip.mkv"), "-i", str(folder / "picture.jpg")],
        *["-map", "0:a", "-map", "1", "-c:a", "libmp3lame", "-c:v", "copy"],
        *["-disposition:v", "attached_pic", str(folder / "song.mp3")],
    )
    (folder / "notes.txt").write_bytes(b"this is a text file, not a film\n" * 100)
    (folder / "empty").write_bytes(b"")
    return folder


async def _refusal(samples: Path, tmp_path: Path, name: str) -> str | None:
    config = LocalStorageConfig(root=tmp_path / "objects")
    async with open_object_store(config, data_dir=tmp_path) as store:
        await store.put_file("uploads/x/data", samples / name)
        return await refusal(store, "uploads/x/data")


@pytest.mark.parametrize("name", VIDEOS)
async def test_videos_in_every_common_container_pass(
    samples: Path, tmp_path: Path, name: str
) -> None:
    assert await _refusal(samples, tmp_path, name) is None


async def test_the_index_at_the_end_is_read_across_blocks(samples: Path, tmp_path: Path) -> None:
    # What the test above proves for this file only holds if it spans blocks.
    assert (samples / "end_index.mp4").stat().st_size > 2 * BLOCK_BYTES


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("notes.txt", "it is not a media file we can read"),
        ("empty", "it is not a media file we can read"),
        ("picture.png", "it is a still picture, not a video"),
        ("picture.jpg", "it is a still picture, not a video"),
        ("song.mp3", "no video stream found"),
    ],
)
async def test_files_that_are_no_video_are_refused_with_the_reason(
    samples: Path, tmp_path: Path, name: str, reason: str
) -> None:
    refused = await _refusal(samples, tmp_path, name)
    assert refused == f"This file is not a video we can play ({reason})."
