"""Pull tokens: bound to a channel and a short life, signed with the site's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from trioflix.auth.tokens import LEEWAY_S
from trioflix.cluster.pull_auth import PULL_TOKEN_TTL_S, PullTokenRejected, PullTokens, Rejection

SECRET = "s" * 48
NOW = 1_800_000_000.0
SIG = "A" * 43


def rejection(token: str, channel: str = "alice", now: float = NOW) -> PullTokenRejected:
    with pytest.raises(PullTokenRejected) as refused:
        PullTokens(SECRET).verify(token, channel, now)
    return refused.value


def test_a_token_is_good_for_its_channel_until_it_expires() -> None:
    tokens = PullTokens(SECRET)
    token = tokens.issue("alice", NOW)
    for now in (NOW, NOW + PULL_TOKEN_TTL_S, NOW + PULL_TOKEN_TTL_S + LEEWAY_S):
        tokens.verify(token, "alice", now)
    tokens.verify(token, "alice", NOW - LEEWAY_S)  # the verifier's clock is a little behind
    # Channel names are any text: they travel base64url-encoded.
    tokens.verify(tokens.issue("ünïcode.and/dots", NOW), "ünïcode.and/dots", NOW)


def test_an_expired_token_is_refused() -> None:
    token = PullTokens(SECRET).issue("alice", NOW)
    refused = rejection(token, now=NOW + PULL_TOKEN_TTL_S + LEEWAY_S + 1)
    assert refused.reason is Rejection.EXPIRED
    assert str(refused) == "pull token refused (expired): expired 6 s ago"


def test_a_token_for_another_channel_is_refused() -> None:
    refused = rejection(PullTokens(SECRET).issue("bob", NOW))
    assert refused.reason is Rejection.WRONG_CHANNEL
    assert str(refused) == "pull token refused (wrong channel): made for channel 'bob', not 'alice'"


def test_a_token_from_another_secret_is_refused() -> None:
    refused = rejection(PullTokens("t" * 48).issue("alice", NOW))
    assert refused.reason is Rejection.BAD_SIGNATURE
    assert str(refused) == (
        "pull token refused (bad signature): not signed with this site's secret, or altered"
        " (do all hosts share JWT_SECRET?)"
    )


def test_a_token_signed_with_the_secret_itself_is_refused() -> None:
    # Only the key derived for pull tokens signs them; a value signed with the bare
    # secret (as login tokens are) is no pull token.
    payload = PullTokens(SECRET).issue("alice", NOW).rpartition(".")[0]
    digest = hmac.digest(SECRET.encode(), payload.encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert rejection(f"{payload}.{signature}").reason is Rejection.BAD_SIGNATURE


@pytest.mark.parametrize("part", [0, 1, 2])
def test_a_tampered_token_is_refused(part: int) -> None:
    token = PullTokens(SECRET).issue("alice", NOW)
    pieces = token.split(".")
    replacement = {0: "Ym9i", 1: str(int(NOW) + 10 * PULL_TOKEN_TTL_S), 2: "A" * len(pieces[2])}
    pieces[part] = replacement[part]
    assert rejection(".".join(pieces)).reason is Rejection.BAD_SIGNATURE


def test_a_token_that_lives_too_long_is_refused() -> None:
    # Made by a host whose clock runs ahead: signed, but with an expiry no host would give now.
    token = PullTokens(SECRET).issue("alice", NOW + 60)
    refused = rejection(token)
    assert refused.reason is Rejection.TOO_LONG
    assert str(refused) == (
        "pull token refused (lives too long): expires in 90 s, more than the 30 s a host gives"
        " a token (is this host's clock behind?)"
    )


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        f"YWxpY2U.soon.{SIG}",
        f"%%%.1800000030.{SIG}",
        f"_w.1800000030.{SIG}",  # not UTF-8
        f"YWxpY2U.1800000030.{SIG}=",
        "YWxpY2U.1800000030.short",
    ],
)
def test_a_malformed_token_is_refused(token: str) -> None:
    refused = rejection(token)
    assert refused.reason is Rejection.MALFORMED
    assert str(refused) == "pull token refused (malformed): expected <channel>.<expiry>.<signature>"


def test_a_token_made_for_another_use_is_refused() -> None:
    stop = PullTokens(SECRET, b"trioflix-cluster-stop")
    token = stop.issue("alice", NOW)
    stop.verify(token, "alice", NOW)
    assert rejection(token).reason is Rejection.BAD_SIGNATURE  # not a pull token
    with pytest.raises(PullTokenRejected, match="bad signature"):
        stop.verify(PullTokens(SECRET).issue("alice", NOW), "alice", NOW)
