"""The soak's recording listing: an error answer fails the goal with its status and
body instead of ending the soak."""

from __future__ import annotations

from typing import Any

import httpx

from bench.soak.goals import check_goals
from bench.soak.loads import video_page

URL = "http://127.0.0.1:8000/api/videos?mine=1"


def _answer(status: int, json: object = None, text: str | None = None) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", URL), json=json, text=text)


def test_a_page_gives_its_videos_and_the_next_before() -> None:
    video = {"id": 7, "state": "ready"}
    assert video_page(_answer(200, json={"videos": [video], "next_before": 7})) == ([video], 7)
    assert video_page(_answer(200, json={"videos": [], "next_before": None})) == ([], None)


def test_an_error_answer_is_a_problem_with_its_status_and_body() -> None:
    overloaded = video_page(_answer(503, json={"error": "unavailable", "message": "busy"}))
    assert isinstance(overloaded, str)
    assert "503" in overloaded and "unavailable" in overloaded and URL in overloaded
    not_json = video_page(_answer(502, text="<html>Bad Gateway</html>"))
    assert isinstance(not_json, str) and "502" in not_json and "Bad Gateway" in not_json
    assert isinstance(video_page(_answer(200, json={"error": "odd"})), str)


def test_an_unlisted_channel_fails_the_playable_goal_naming_the_error() -> None:
    problem = video_page(_answer(503, json={"error": "unavailable"}))
    recordings: list[dict[str, Any]] = [{"playable": True}, {"playable": False, "detail": problem}]
    goals = check_goals(
        [],
        warmup_s=60,
        error_lines=[],
        uploads=[{"sha256_ok": True, "playable": True}],
        recordings=recordings,
    )
    (goal,) = (g for g in goals if g.name == "every recording and upload playable")
    assert not goal.passed
    assert "2 of 3" in goal.detail and "503" in goal.detail
