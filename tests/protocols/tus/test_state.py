"""UploadState: the PATCH rules (403/410/409/400/413), deferred length, concatenation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from protocols import tus

from .helpers import ALL, CORE, DEFAULT, Err

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
FINAL = tus.Final(urls=("/f/a",))


def patch(offset: int, **kwargs: int | None) -> tus.PatchRequest:
    return tus.PatchRequest(offset=offset, **kwargs)  # type: ignore[arg-type]


PLAN_CASES: list[
    tuple[str, tus.UploadState, tus.PatchRequest, tus.TusConfig, tus.PatchPlan | Err]
] = [
    (
        "resume",
        tus.UploadState(offset=70, length=100),
        patch(70, content_length=30),
        CORE,
        tus.PatchPlan(state=tus.UploadState(offset=70, length=100), declared_length=None, limit=30),
    ),
    (
        "chunked body, length known",
        tus.UploadState(offset=70, length=100),
        patch(70),
        CORE,
        tus.PatchPlan(state=tus.UploadState(offset=70, length=100), declared_length=None, limit=30),
    ),
    (
        "repeating the known length is fine",
        tus.UploadState(offset=0, length=100),
        patch(0, length=100),
        CORE,
        tus.PatchPlan(state=tus.UploadState(length=100), declared_length=None, limit=100),
    ),
    (
        "finished upload, empty PATCH",
        tus.UploadState(offset=5, length=5),
        patch(5, content_length=0),
        CORE,
        tus.PatchPlan(state=tus.UploadState(offset=5, length=5), declared_length=None, limit=0),
    ),
    (
        "deferred, no limit",
        tus.UploadState(offset=10),
        patch(10, content_length=10**12),
        DEFAULT,
        tus.PatchPlan(state=tus.UploadState(offset=10), declared_length=None, limit=None),
    ),
    (
        "deferred, limited by max size",
        tus.UploadState(offset=10),
        patch(10),
        ALL,
        tus.PatchPlan(state=tus.UploadState(offset=10), declared_length=None, limit=990),
    ),
    (
        "declares the deferred length",
        tus.UploadState(offset=100),
        patch(100, length=300, content_length=100),
        ALL,
        tus.PatchPlan(
            state=tus.UploadState(offset=100, length=300), declared_length=300, limit=200
        ),
    ),
    (
        "declares a length equal to the offset",
        tus.UploadState(offset=100),
        patch(100, length=100, content_length=0),
        ALL,
        tus.PatchPlan(state=tus.UploadState(offset=100, length=100), declared_length=100, limit=0),
    ),
    (
        "partial uploads are patched like any other",
        tus.UploadState(length=5, concat=tus.Partial()),
        patch(0),
        CORE,
        tus.PatchPlan(
            state=tus.UploadState(length=5, concat=tus.Partial()), declared_length=None, limit=5
        ),
    ),
    (
        "not expired yet",
        tus.UploadState(length=5, expires_at=LATER),
        patch(0),
        CORE,
        tus.PatchPlan(
            state=tus.UploadState(length=5, expires_at=LATER), declared_length=None, limit=5
        ),
    ),
    (
        "final upload",
        tus.UploadState(offset=5, length=5, concat=FINAL),
        patch(5, content_length=0),
        ALL,
        Err(403, tus.ErrorCode.FINAL_UPLOAD_NOT_PATCHABLE),
    ),
    (
        "expired",
        tus.UploadState(length=5, expires_at=NOW),
        patch(0),
        ALL,
        Err(410, tus.ErrorCode.UPLOAD_EXPIRED),
    ),
    (
        "offset behind",
        tus.UploadState(offset=70, length=100),
        patch(60),
        ALL,
        Err(
            409, tus.ErrorCode.OFFSET_MISMATCH, "Upload-Offset is 60 but the upload is at offset 70"
        ),
    ),
    (
        "offset ahead",
        tus.UploadState(offset=70, length=100),
        patch(80),
        ALL,
        Err(409, tus.ErrorCode.OFFSET_MISMATCH),
    ),
    (
        "length changed",
        tus.UploadState(offset=0, length=100),
        patch(0, length=101),
        ALL,
        Err(400, tus.ErrorCode.LENGTH_IMMUTABLE, "already 100"),
    ),
    (
        "declared length below the offset",
        tus.UploadState(offset=100),
        patch(100, length=99),
        ALL,
        Err(400, tus.ErrorCode.INVALID_HEADER, "less than the 100 bytes"),
    ),
    (
        "body past the length",
        tus.UploadState(offset=70, length=100),
        patch(70, content_length=31),
        ALL,
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE, "remaining 30 of 100 bytes"),
    ),
    (
        "body past the declared length",
        tus.UploadState(offset=0),
        patch(0, length=10, content_length=11),
        ALL,
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE),
    ),
    (
        "deferred, body past max size",
        tus.UploadState(offset=900),
        patch(900, content_length=101),
        ALL,
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE, "room for 100 more bytes"),
    ),
]


@pytest.mark.parametrize(
    ("state", "request_", "config", "expected"),
    [pytest.param(s, r, c, e, id=name) for name, s, r, c, e in PLAN_CASES],
)
def test_plan_patch(
    state: tus.UploadState,
    request_: tus.PatchRequest,
    config: tus.TusConfig,
    expected: tus.PatchPlan | Err,
) -> None:
    if isinstance(expected, Err):
        with pytest.raises(tus.TusError) as info:
            state.plan_patch(request_, config, now=NOW)
        assert (info.value.status, info.value.code) == (expected.status, expected.code)
        assert expected.fragment in info.value.message
    else:
        assert state.plan_patch(request_, config, now=NOW) == expected


def test_streaming_a_chunked_body() -> None:
    state = tus.UploadState(offset=2, length=10)
    plan = state.plan_patch(patch(2), CORE, now=NOW)
    received = 0
    for chunk in (b"abc", b"defgh"):
        received += len(chunk)
        plan.check_received(received)
    state = plan.state.advanced(received)
    assert state == tus.UploadState(offset=10, length=10)
    assert state.finished
    with pytest.raises(tus.TusError) as info:
        plan.check_received(9)
    assert info.value.status == 413


def test_max_size_lowered_below_offset() -> None:
    plan = tus.UploadState(offset=2000).plan_patch(patch(2000), ALL, now=NOW)
    assert plan.limit == 0


def test_advanced() -> None:
    state = tus.UploadState(offset=1, length=5)
    assert state.advanced(0) == state
    assert state.advanced(4).offset == 5
    with pytest.raises(ValueError, match=">= 0"):
        state.advanced(-1)
    with pytest.raises(ValueError, match="length must be >= offset"):
        state.advanced(5)
    assert tus.UploadState(offset=3).advanced(10**9).offset == 10**9 + 3


def test_properties_and_expiry() -> None:
    deferred = tus.UploadState(offset=3, expires_at=LATER)
    assert deferred.deferred and not deferred.finished
    assert not deferred.is_expired(NOW)
    assert deferred.is_expired(LATER)
    with pytest.raises(tus.TusError) as info:
        deferred.check_available(LATER)
    assert (info.value.status, info.value.code) == (410, tus.ErrorCode.UPLOAD_EXPIRED)
    # A finished upload no longer expires.
    done = tus.UploadState(offset=3, length=3, expires_at=NOW)
    assert done.finished and not done.deferred and not done.is_expired(LATER)
    done.check_available(LATER)
    # A final upload of unknown length is not "deferred": the client cannot declare it.
    assert not tus.UploadState(concat=FINAL).deferred
    assert not tus.UploadState().is_expired(NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"offset": -1}, "offset must be >= 0"),
        ({"offset": 5, "length": 4}, "length must be >= offset"),
        ({"expires_at": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_state_invariants(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tus.UploadState(**kwargs)  # type: ignore[arg-type]


def test_from_creation() -> None:
    request = tus.parse_creation(
        {"Tus-Resumable": "1.0.0", "Upload-Length": "9", "Upload-Metadata": "a YQ=="}, ALL
    )
    assert tus.UploadState.from_creation(request, expires_at=LATER) == tus.UploadState(
        length=9, metadata={"a": b"a"}, expires_at=LATER
    )
    deferred = tus.parse_creation({"Tus-Resumable": "1.0.0", "Upload-Defer-Length": "1"}, ALL)
    assert tus.UploadState.from_creation(deferred).deferred
    final = tus.parse_creation({"Tus-Resumable": "1.0.0", "Upload-Concat": "final;/f/a"}, ALL)
    assert tus.UploadState.from_creation(final, final_length=11) == tus.UploadState(
        length=11, concat=FINAL
    )
    assert tus.UploadState.from_creation(final).length is None
    with pytest.raises(ValueError, match="only for final uploads"):
        tus.UploadState.from_creation(request, final_length=3)


PART = tus.Partial()


@pytest.mark.parametrize(
    ("partials", "config", "expected"),
    [
        ([tus.UploadState(offset=5, length=5, concat=PART)], ALL, 5),
        (
            [
                tus.UploadState(offset=5, length=5, concat=PART),
                tus.UploadState(offset=6, length=6, concat=PART),
            ],
            DEFAULT,
            11,
        ),
        ([], ALL, 0),
        # concatenation-unfinished: unfinished partials are fine; deferred ones hide the length.
        ([tus.UploadState(offset=1, length=5, concat=PART)], ALL, 5),
        (
            [tus.UploadState(offset=5, length=5, concat=PART), tus.UploadState(concat=PART)],
            ALL,
            None,
        ),
        (
            [tus.UploadState(offset=5, length=5)],
            ALL,
            Err(400, tus.ErrorCode.INVALID_CONCATENATION, "upload #1 in Upload-Concat is not"),
        ),
        (
            [tus.UploadState(offset=5, length=5, concat=PART), tus.UploadState(concat=FINAL)],
            ALL,
            Err(400, tus.ErrorCode.INVALID_CONCATENATION, "upload #2"),
        ),
        (
            [tus.UploadState(offset=1, length=5, concat=PART)],
            DEFAULT,
            Err(400, tus.ErrorCode.INVALID_CONCATENATION, "#1 in Upload-Concat is not finished"),
        ),
        (
            [
                tus.UploadState(offset=600, length=600, concat=PART),
                tus.UploadState(offset=401, length=401, concat=PART),
            ],
            ALL,
            Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE, "add up to 1001 bytes"),
        ),
    ],
)
def test_final_length(
    partials: list[tus.UploadState], config: tus.TusConfig, expected: int | Err | None
) -> None:
    if isinstance(expected, Err):
        with pytest.raises(tus.TusError) as info:
            tus.final_length(partials, config)
        assert (info.value.status, info.value.code) == (expected.status, expected.code)
        assert expected.fragment in info.value.message
    else:
        assert tus.final_length(partials, config) == expected


def test_creation_with_upload_runs_the_patch_rules() -> None:
    request = tus.parse_creation(
        {
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "100",
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": "5",
        },
        ALL,
    )
    assert request.as_patch() == tus.PatchRequest(offset=0, content_length=5)
    state = tus.UploadState.from_creation(request, expires_at=LATER)
    plan = state.plan_patch(request.as_patch(), ALL, now=NOW)
    assert plan.limit == 100
    created = plan.state.advanced(5)
    response = tus.creation_response(location="/f/x", state=created, with_upload=request.has_body)
    assert response.header("Upload-Offset") == "5"
    assert response.header("Upload-Expires") == "Thu, 26 Nov 2026 13:00:00 GMT"
    bodiless = tus.parse_creation({"Tus-Resumable": "1.0.0", "Upload-Length": "1"}, ALL)
    with pytest.raises(ValueError, match="no upload data"):
        bodiless.as_patch()
