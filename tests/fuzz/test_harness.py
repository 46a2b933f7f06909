"""The fuzz harnesses, run on their seed corpus under pytest (no atheris needed).

This keeps the targets from rotting, and checks that every seed is a clean pass
(events or the package's own error), so a fuzzing run starts from a sound corpus.
"""

from __future__ import annotations

import pytest

from protocols import rtmp
from tests.fuzz import harness


@pytest.mark.parametrize("target", sorted(harness.TARGETS))
def test_every_seed_passes_its_target(target: str) -> None:
    found = harness.seeds(target)
    assert len(found) >= 10
    for data in found.values():
        harness.TARGETS[target](data)


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
