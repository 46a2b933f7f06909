"""The server serves WebRTC only with the aiortc its RTP sending loop was written for."""

from __future__ import annotations

import pytest
import trio

from trioflix.config import Settings
from trioflix.live.webrtc.aiortc_version import AIORTC_VERSION, check_aiortc
from trioflix.live.webrtc.sessions import WHEPSessions


def test_the_installed_aiortc_is_the_one_required() -> None:
    check_aiortc()


def test_another_aiortc_is_refused_naming_both_versions() -> None:
    with pytest.raises(RuntimeError) as refused:
        check_aiortc("1.17.0")
    assert f"aiortc {AIORTC_VERSION}'s RTP sending loop" in str(refused.value)
    assert "aiortc 1.17.0 is installed" in str(refused.value)


async def test_the_webrtc_service_refuses_to_start_with_another_aiortc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("trioflix.live.webrtc.aiortc_version.version", lambda dist: "1.15.0")
    sessions = WHEPSessions(Settings.from_env(environ={}), None)
    refused = pytest.RaisesExc(RuntimeError, match=r"aiortc 1\.15\.0 is installed")
    with trio.fail_after(20), pytest.RaisesGroup(refused):
        async with trio.open_nursery() as nursery:
            await nursery.start(sessions.run)
