"""The fuzz harnesses, run on their corpora under pytest (no atheris needed).

This keeps the targets from rotting, checks that every seed and every input of the
corpus kept in the repository is a clean pass (events or the package's own error), so a
fuzzing run starts from a sound corpus, and replays every crash found and fixed
(``tests/fuzz/regressions/TARGET/``), so each stays fixed.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import pytest

from protocols import flv, rtmp
from tests.fuzz import harness, run

if TYPE_CHECKING:
    from pathlib import Path

# The repository corpus grows by merged, small inputs only (run.SAVE_MAX_BYTES each).
MAX_CORPUS_BYTES = 512 * 1024


def _files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.is_file())


@pytest.mark.parametrize("target", sorted(harness.TARGETS))
def test_every_seed_passes_its_target(target: str) -> None:
    found = harness.seeds(target)
    assert len(found) >= 9
    for data in found.values():
        harness.TARGETS[target](data)


@pytest.mark.parametrize("target", sorted(harness.TARGETS))
def test_the_repository_corpus_passes_its_target(target: str) -> None:
    files = _files(run.CORPUS / target)
    assert len(files) >= 3
    for path in files:
        harness.TARGETS[target](path.read_bytes())


def test_every_fixed_crash_stays_fixed() -> None:
    directories = sorted(run.REGRESSIONS.iterdir())
    assert {d.name for d in directories} <= set(harness.TARGETS)
    vectors = [path for directory in directories for path in _files(directory)]
    assert vectors, "no regression vectors: each fixed crash is kept as one"
    for path in vectors:
        harness.TARGETS[path.parent.name](path.read_bytes())


def test_the_repository_corpus_stays_small() -> None:
    total = sum(path.stat().st_size for path in run.CORPUS.rglob("*") if path.is_file())
    assert total <= MAX_CORPUS_BYTES
    assert {path.name for path in run.CORPUS.iterdir()} == set(harness.TARGETS)


def test_the_runner_says_atheris_is_missing_instead_of_reporting_crashes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit) as exited:
        run.main(["1", "amf0"])
    assert exited.value.code == 2
    assert "atheris is not installed" in capsys.readouterr().err


def test_the_plan_shares_processes_round_robin() -> None:
    slices = run.plan(["a", "b", "c"], 3600, 2)  # 2400 CPU seconds per target
    assert [(s.target, s.round) for s in slices[:4]] == [("a", 0), ("b", 0), ("c", 0), ("a", 1)]
    assert {s.seconds for s in slices} == {600}
    assert sum(s.seconds for s in slices) == 3600 * 2
    assert [s.seconds for s in run.plan(["a"], 10, 1)] == [10]


def test_rtmp_seeds_reach_the_media() -> None:
    """The seeds are real sessions: each mode's seed gets as far as media events."""
    vector = (harness.RTMP_VECTORS / "pyav-publish-hevc-aac.bin").read_bytes()
    events = harness._drive(harness._rtmp_server(), [vector])
    assert sum(isinstance(e, rtmp.VideoData) for e in events) == 27
    client = harness._rtmp_client()
    events = harness._drive(client, [harness._server_to_client_play_session()])
    assert [type(e).__name__ for e in events if not isinstance(e, rtmp.AudioData)] == [
        "HandshakeComplete",
        "ConnectAccepted",
        "StreamCreated",
        "StreamBegin",
        "Status",  # NetStream.Play.Reset
        "PlayAccepted",
        "DataMessage",  # |RtmpSampleAccess
        "Metadata",
        "VideoData",
        "VideoData",
        "VideoData",
        "VideoData",
        "VideoData",
        "VideoData",
        "VideoData",
        "Status",
        "StreamEOF",
        "ConnectionClosed",
    ]


def test_flv_seeds_reach_the_multitrack_parsers() -> None:
    """The captured multitrack vector seeds the ``flv`` target with multitrack video and
    audio bodies, and the target splits each into its tracks as the live ingest does."""
    seeds = harness.seeds("flv")
    video = [d[1:] for d in seeds.values() if d[0] & 7 == harness.FLV_VIDEO_BODY]
    audio = [d[1:] for d in seeds.values() if d[0] & 7 == harness.FLV_AUDIO_BODY]
    multitrack_video = [body for body in video if flv.is_multitrack_video(body)]
    multitrack_audio = [body for body in audio if flv.is_multitrack_audio(body)]
    assert len(multitrack_video) >= 3 and len(multitrack_audio) >= 2
    # A reserved AvMultitrackType is an error only the multitrack parser sees (the
    # plain tag parser takes the body after the header byte as opaque).
    body = multitrack_video[0]
    broken = bytes((body[0], 0xF0 | body[1] & 0x0F)) + body[2:]
    flv.parse_video_tag(broken)
    with pytest.raises(flv.FLVError, match="reserved AvMultitrackType"):
        harness._video_body(broken)
    harness.flv_one_input(bytes((harness.FLV_VIDEO_BODY,)) + broken)
