"""The chat's pure parts: frames, text and emotes, tiers, webhook signatures, images, buckets."""

from __future__ import annotations

import json

import pytest

from trioflix.chat.content import GLOBAL_EMOTES, clean_text, find_blocked_term, parse_segments
from trioflix.chat.images import image_info
from trioflix.chat.limits import TokenBucket
from trioflix.chat.payments import sign_webhook, verify_webhook
from trioflix.chat.protocol import (
    ChatError,
    Send,
    Timeout,
    decode_client_frame,
    event_parts,
    nonce_of,
)
from trioflix.chat.superchat import tier_for

from .helpers import provider_signature


def test_client_frames_decode_strictly() -> None:
    assert decode_client_frame('{"type":"send","nonce":"a","text":"hi"}') == Send(
        nonce="a", text="hi"
    )
    assert decode_client_frame(
        '{"type":"timeout","nonce":"b","user":"x","seconds":1209600}'
    ) == Timeout(nonce="b", user="x", seconds=1209600)
    for text, code in [
        ("nope", "malformed_frame"),
        ("[1]", "invalid_frame"),
        ('{"type":"fly","nonce":"a"}', "invalid_frame"),
        ('{"type":"send","nonce":"a"}', "invalid_frame"),
        ('{"type":"send","nonce":"a","text":"x","extra":1}', "invalid_frame"),
        ('{"type":"send","nonce":"","text":"x"}', "invalid_frame"),
        ('{"type":"timeout","nonce":"a","user":"x","seconds":0}', "invalid_frame"),
        ('{"type":"timeout","nonce":"a","user":"x","seconds":1209601}', "invalid_frame"),
    ]:
        with pytest.raises(ChatError) as refused:
            decode_client_frame(text)
        assert refused.value.code == code, text
    assert nonce_of('{"type":"fly","nonce":"n1"}') == "n1"
    assert nonce_of('{"nonce": 5}') is None


def test_event_parts_join_around_the_id() -> None:
    head, tail = event_parts("message", {"ts": 1.5, "text": 'a "quote"\n'})
    frame = head + "42" + tail
    assert json.loads(frame) == {"type": "message", "id": 42, "ts": 1.5, "text": 'a "quote"\n'}
    assert "\n" not in frame  # frames can be joined with newlines
    head, tail = event_parts("x", {})
    assert json.loads(head + "7" + tail) == {"type": "x", "id": 7}


def test_text_is_cleaned_and_parsed() -> None:
    assert clean_text("  a\x00b\u202ec\n ", 10) == "a b c"
    with pytest.raises(ChatError, match="empty"):
        clean_text(" \n\t", 10)
    with pytest.raises(ChatError) as too_long:
        clean_text("x" * 11, 10)
    assert too_long.value.code == "message_too_long"
    assert parse_segments("::fire::fire", GLOBAL_EMOTES) == [
        {"type": "text", "text": ":"},
        {"type": "emote", "code": "fire", "emoji": "\U0001f525"},
        {"type": "text", "text": ":fire"},
    ]
    assert parse_segments(":unknown:", GLOBAL_EMOTES) == [{"type": "text", "text": ":unknown:"}]
    assert find_blocked_term("You are a BadWord!", ["badword"]) == "badword"
    assert find_blocked_term("fine", ["badword"]) is None


def test_tiers_follow_the_table() -> None:
    assert tier_for(100, "USD").pin_s == 0
    assert tier_for(499, "USD").pin_s == 0
    assert tier_for(500, "USD").pin_s == 120
    assert tier_for(50_000, "EUR").pin_s == 5 * 3600
    assert tier_for(10**9, "USD").max_length == 350
    for amount, currency, code in [
        (99, "USD", "amount_too_small"),
        (500, "JPY", "unsupported_currency"),
    ]:
        with pytest.raises(ChatError) as refused:
            tier_for(amount, currency)
        assert refused.value.code == code


def test_webhook_signature() -> None:
    body = b'{"id":"evt"}'
    header = provider_signature("s" * 32, body, 1_000_000)
    # What the project signs with is the documented scheme, byte for byte.
    assert sign_webhook("s" * 32, body, 1_000_000) == header
    verify_webhook("s" * 32, header, body, 1_000_100)
    verify_webhook("s" * 32, header, body, 1_000_300)  # the 5-minute window's edges
    verify_webhook("s" * 32, header, body, 999_700)
    verify_webhook("s" * 32, "v1=deadbeef," + header, body, 1_000_000)  # any v1 may match
    for secret, sig, data, now in [
        ("t" * 32, header, body, 1_000_000),
        ("s" * 32, header, body + b" ", 1_000_000),
        ("s" * 32, header, body, 1_000_301),
        ("s" * 32, header, body, 999_699),
        ("s" * 32, "t=abc,v1=00", body, 1_000_000),
        ("s" * 32, "", body, 1_000_000),
    ]:
        with pytest.raises(ChatError) as refused:
            verify_webhook(secret, sig, data, now)
        assert refused.value.code == "invalid_signature"


def test_images_are_sniffed() -> None:
    gif = b"GIF89a" + (28).to_bytes(2, "little") + (30).to_bytes(2, "little") + b"\x00" * 20
    assert image_info(gif, "image/gif") == "image/gif"
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (27).to_bytes(3, "little") * 2
    assert image_info(vp8x, "image/webp") == "image/webp"
    with pytest.raises(ChatError) as mislabelled:
        image_info(gif, "image/png")
    assert mislabelled.value.status == 415
    with pytest.raises(ChatError) as huge:
        image_info(b"GIF89a" + b"\xff\xff\xff\xff" + b"\x00" * 20, "image/gif")
    assert huge.value.code == "image_too_large"
    jpeg = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x1e\x00\x1c" + b"\x00" * 12  # 28x30 SOF0
    with pytest.raises(ChatError) as not_for_emotes:
        image_info(jpeg, "image/jpeg")
    assert not_for_emotes.value.status == 415
    assert not_for_emotes.value.message == "the image must be PNG, GIF or WebP"
    photo = image_info(jpeg, "image/jpeg", formats=("png", "jpeg"), max_bytes=len(jpeg))
    assert photo == "image/jpeg"
    with pytest.raises(ChatError) as too_many_bytes:
        image_info(jpeg, "image/jpeg", formats=("jpeg",), max_bytes=len(jpeg) - 1)
    assert too_many_bytes.value.status == 413


def test_token_bucket() -> None:
    bucket = TokenBucket(2, 1.0, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(1.0)
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(1.0) == 0.0
    assert not bucket.full(1.0) and bucket.full(3.0)
