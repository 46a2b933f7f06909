"""The ladder setting: parsing, validation through Settings, and planning per source."""

from __future__ import annotations

import pytest

from trioflix.config import ConfigError, Settings
from trioflix.live.hls.ladder_spec import RungSpec, parse_ladder, plan_rungs


def test_parse_defaults_bitrates_and_off() -> None:
    assert parse_ladder("360p,1080p:6000k,720p") == (
        RungSpec(1080, 6000),
        RungSpec(720, 2800),
        RungSpec(360, 800),
    )
    assert parse_ladder("off") == ()
    assert parse_ladder(" OFF ") == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("720", "not like 720p"),
        ("720p:fast", "not like 720p"),
        ("721p", "must be even"),
        ("720p,720p:2000k", "listed twice"),
        ("40p", "must be even, 90..4320"),
    ],
)
def test_bad_ladders_are_refused_by_settings(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ={"TRIOFLIX_HLS_LADDER": value})


def test_segment_and_preset_settings() -> None:
    settings = Settings.from_env(
        environ={"TRIOFLIX_HLS_SEGMENT": "4", "TRIOFLIX_HLS_PRESET": "superfast"}
    )
    assert (settings.hls_segment, settings.hls_preset) == (4.0, "superfast")
    with pytest.raises(ConfigError, match="between 1 and 10"):
        Settings.from_env(environ={"TRIOFLIX_HLS_SEGMENT": "0.5"})
    with pytest.raises(ConfigError, match="TRIOFLIX_HLS_PRESET must be one of"):
        Settings.from_env(environ={"TRIOFLIX_HLS_PRESET": "placebo"})


def test_plan_keeps_rungs_below_the_source_and_its_aspect() -> None:
    ladder = parse_ladder("1080p,720p,480p,360p")
    planned = plan_rungs(ladder, 1280, 720)
    assert [(p.name, p.width, p.height) for p in planned] == [
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    # 4:3 and portrait sources keep their shape; widths stay even.
    assert [(p.width, p.height) for p in plan_rungs(ladder, 1440, 1080)] == [
        (960, 720),
        (640, 480),
        (480, 360),
    ]
    portrait = plan_rungs(ladder, 1080, 1920)[0]
    assert (portrait.width, portrait.height) == (608, 1080)
    assert plan_rungs(ladder, 640, 360) == []


def test_part_setting() -> None:
    assert Settings().hls_part == 300
    assert Settings.from_env(environ={"TRIOFLIX_HLS_PART": "200"}).hls_part == 200
    assert Settings.from_env(environ={"TRIOFLIX_HLS_PART": "off"}).hls_part is None
    with pytest.raises(ConfigError, match="between 100 and 1000 ms"):
        Settings.from_env(environ={"TRIOFLIX_HLS_PART": "50"})
    with pytest.raises(ConfigError, match="whole number of milliseconds"):
        Settings.from_env(environ={"TRIOFLIX_HLS_PART": "0.3"})
