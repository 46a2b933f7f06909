"""The WebRTC settings: ICE servers, TURN credentials, UDP ports, candidate addresses,
and the ``Link`` headers a WHEP answer hands the player."""

from __future__ import annotations

import pytest

from trioflix.api.whep import ice_server_links
from trioflix.config import ConfigError, Settings


def test_webrtc_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        environ={
            "TRIOFLIX_ICE_SERVERS": (
                "stun:stun.example.com:3478, turn:turn.example.com?transport=udp"
            ),
            "TRIOFLIX_TURN_USERNAME": "trioflix",
            "TRIOFLIX_TURN_CREDENTIAL": 'pa"ss',
            "TRIOFLIX_WEBRTC_PORTS": "50000-50999",
            "TRIOFLIX_WEBRTC_ADDRESSES": "203.0.113.10,2001:db8::1",
        }
    )
    assert settings.ice_servers == (
        "stun:stun.example.com:3478",
        "turn:turn.example.com?transport=udp",
    )
    assert settings.webrtc_ports == (50000, 50999)
    assert settings.webrtc_addresses == ("203.0.113.10", "2001:db8::1")
    assert ice_server_links(settings) == [
        '<stun:stun.example.com:3478>; rel="ice-server"',
        '<turn:turn.example.com?transport=udp>; rel="ice-server"; username="trioflix";'
        ' credential="pa\\"ss"; credential-type="password"',
    ]


def test_webrtc_defaults_offer_host_candidates_alone() -> None:
    settings = Settings.from_env(environ={})
    assert settings.webrtc
    assert settings.ice_servers == ()
    assert settings.webrtc_ports is None
    assert settings.webrtc_addresses == ()
    assert ice_server_links(settings) == []
    assert Settings.from_env(environ={"TRIOFLIX_WEBRTC_PORTS": "any"}).webrtc_ports is None


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("TRIOFLIX_ICE_SERVERS", "http://stun.example.com", "stun: or turn: URLs"),
        ("TRIOFLIX_WEBRTC_PORTS", "50000", "LOW-HIGH"),
        ("TRIOFLIX_WEBRTC_PORTS", "60000-50000", "LOW <= HIGH"),
        ("TRIOFLIX_WEBRTC_PORTS", "80-90", "1024-65535"),
        ("TRIOFLIX_WEBRTC_ADDRESSES", "example.com", "IP addresses"),
    ],
)
def test_bad_webrtc_settings_are_refused(env: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        Settings.from_env(environ={env: value})
    assert env in str(refused.value)
