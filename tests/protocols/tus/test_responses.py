"""Response builders and HTTP-date formatting."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import tus

from .helpers import ALL, CORE, DEFAULT

EXPIRES = datetime(2014, 6, 25, 16, 0, tzinfo=UTC)
EXPIRES_TEXT = "Wed, 25 Jun 2014 16:00:00 GMT"  # the tus expiration example


def test_options_all() -> None:
    response = tus.options_response(ALL)
    assert response == tus.TusResponse(
        status=204,
        headers=(
            ("Tus-Resumable", "1.0.0"),
            ("Tus-Version", "1.0.0"),
            (
                "Tus-Extension",
                "creation,creation-with-upload,creation-defer-length,expiration,checksum,"
                "checksum-trailer,termination,concatenation,concatenation-unfinished",
            ),
            ("Tus-Max-Size", "1000"),
            ("Tus-Checksum-Algorithm", "sha1,sha256,md5"),
        ),
    )


def test_options_core_only() -> None:
    # No extensions: Tus-Extension MUST be omitted; no limit: no Tus-Max-Size.
    assert tus.options_response(CORE).headers == (
        ("Tus-Resumable", "1.0.0"),
        ("Tus-Version", "1.0.0"),
    )


def test_options_lists_exactly_the_configured_extensions_in_order() -> None:
    config = tus.TusConfig(extensions=(tus.Extension.TERMINATION, tus.Extension.CREATION))
    assert tus.options_response(config).header("tus-extension") == "termination,creation"


def test_creation_response() -> None:
    state = tus.UploadState(length=100, expires_at=EXPIRES)
    assert tus.creation_response(location="/files/ab", state=state) == tus.TusResponse(
        status=201,
        headers=(
            ("Tus-Resumable", "1.0.0"),
            ("Location", "/files/ab"),
            ("Upload-Expires", EXPIRES_TEXT),
        ),
    )
    with_upload = tus.creation_response(
        location="https://h/files/ab", state=tus.UploadState(offset=5, length=100), with_upload=True
    )
    assert with_upload.headers == (
        ("Tus-Resumable", "1.0.0"),
        ("Location", "https://h/files/ab"),
        ("Upload-Offset", "5"),
    )


@pytest.mark.parametrize("location", ["", "/a b", "/a\r\nX: y", "/\u00e9"])
def test_creation_response_rejects_bad_location(location: str) -> None:
    with pytest.raises(ValueError, match="invalid Location"):
        tus.creation_response(location=location, state=tus.UploadState(length=1))


@pytest.mark.parametrize(
    ("state", "headers"),
    [
        (
            tus.UploadState(offset=70, length=100),
            {"Upload-Offset": "70", "Upload-Length": "100"},
        ),
        (tus.UploadState(offset=0, length=0), {"Upload-Offset": "0", "Upload-Length": "0"}),
        (tus.UploadState(offset=3), {"Upload-Offset": "3", "Upload-Defer-Length": "1"}),
        (
            tus.UploadState(length=9, metadata={"filename": b"a.mp4", "x": b""}),
            {"Upload-Offset": "0", "Upload-Length": "9", "Upload-Metadata": "filename YS5tcDQ=,x"},
        ),
        (
            tus.UploadState(offset=2, length=5, concat=tus.Partial(), expires_at=EXPIRES),
            {
                "Upload-Offset": "2",
                "Upload-Length": "5",
                "Upload-Concat": "partial",
                "Upload-Expires": EXPIRES_TEXT,
            },
        ),
        # A finished final upload: offset == length, both present.
        (
            tus.UploadState(offset=11, length=11, concat=tus.Final(urls=("/f/a", "/f/b"))),
            {"Upload-Offset": "11", "Upload-Length": "11", "Upload-Concat": "final;/f/a /f/b"},
        ),
        # Concatenation not finished: no Upload-Offset; length known.
        (
            tus.UploadState(offset=0, length=11, concat=tus.Final(urls=("/f/a",))),
            {"Upload-Length": "11", "Upload-Concat": "final;/f/a"},
        ),
        # Length not computable yet: neither Upload-Length nor Upload-Defer-Length.
        (tus.UploadState(concat=tus.Final(urls=("/f/a",))), {"Upload-Concat": "final;/f/a"}),
        # Finished: Upload-Expires no longer applies.
        (
            tus.UploadState(offset=1, length=1, expires_at=EXPIRES),
            {"Upload-Offset": "1", "Upload-Length": "1"},
        ),
    ],
)
def test_head_response(state: tus.UploadState, headers: dict[str, str]) -> None:
    response = tus.head_response(state)
    assert response.status == 200
    assert dict(response.headers) == {
        "Tus-Resumable": "1.0.0",
        "Cache-Control": "no-store",
        **headers,
    }


def test_patch_response() -> None:
    state = tus.UploadState(offset=100, length=200, expires_at=EXPIRES)
    assert tus.patch_response(state) == tus.TusResponse(
        status=204,
        headers=(
            ("Tus-Resumable", "1.0.0"),
            ("Upload-Offset", "100"),
            ("Upload-Expires", EXPIRES_TEXT),
        ),
    )
    done = tus.patch_response(tus.UploadState(offset=200, length=200, expires_at=EXPIRES))
    assert done.header("Upload-Expires") is None
    assert done.header("upload-offset") == "200"


def test_termination_and_error_responses() -> None:
    assert tus.termination_response() == tus.TusResponse(
        status=204, headers=(("Tus-Resumable", "1.0.0"),)
    )
    with pytest.raises(tus.TusError) as info:
        tus.parse_request("GET", {}, DEFAULT, resource="creation")
    assert tus.error_response(info.value) == tus.TusResponse(
        status=405, headers=(("Tus-Resumable", "1.0.0"), ("Allow", "OPTIONS, POST"))
    )


def test_format_http_date() -> None:
    assert tus.format_http_date(EXPIRES) == EXPIRES_TEXT
    # Other zones are converted to GMT; microseconds are dropped.
    cest = timezone(timedelta(hours=2))
    moment = datetime(2026, 11, 26, 1, 2, 3, 999999, tzinfo=cest)
    assert tus.format_http_date(moment) == "Wed, 25 Nov 2026 23:02:03 GMT"
    assert tus.format_http_date(datetime(1, 1, 1, tzinfo=UTC)) == "Mon, 01 Jan 0001 00:00:00 GMT"
    with pytest.raises(ValueError, match="timezone-aware"):
        tus.format_http_date(datetime(2026, 1, 1))


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)), timezone.max]),
    )
)
def test_format_http_date_matches_stdlib(moment: datetime) -> None:
    text = tus.format_http_date(moment)
    assert text == email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)
    assert email.utils.parsedate_to_datetime(text) == moment.replace(microsecond=0)
    assert len(text) == 29
