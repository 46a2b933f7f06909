"""The draft's request rules, one by one, and the answers' headers."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import resumable

APPEND = {"Content-Type": "application/partial-upload"}
SHA = hashlib.sha256(b"abc").digest()
DIGEST = f"sha-256=:{base64.b64encode(SHA).decode()}:"
OTHER = f"sha-256=:{base64.b64encode(bytes(32)).decode()}:"


def refused(method: str, headers: dict[str, str], resource: resumable.Resource = "upload") -> Any:
    with pytest.raises(resumable.ResumableError) as caught:
        resumable.parse_request(method, headers, resource)
    return caught.value


def test_creation() -> None:
    req = resumable.parse_request(
        "POST",
        {"upload-complete": "?0", "Upload-Length": "10", "Content-Length": "3"},
        "creation",
    )
    assert req == resumable.Creation(complete=False, length=10, content_length=3)


def test_creation_complete_with_a_digest_of_the_representation() -> None:
    req = resumable.parse_request(
        "POST", {"Upload-Complete": "?1", "Content-Length": "3", "Repr-Digest": DIGEST}, "creation"
    )
    assert req == resumable.Creation(complete=True, length=None, content_length=3, repr_sha256=SHA)


def test_a_partial_creation_keeps_the_representation_digest_for_later() -> None:
    # Repr-Digest covers the whole upload, checked once it is complete.
    req = resumable.parse_request(
        "POST", {"Upload-Complete": "?0", "Repr-Digest": DIGEST}, "creation"
    )
    assert isinstance(req, resumable.Creation)
    assert (req.sha256, req.repr_sha256) == (None, SHA)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_header"),
        ({"Upload-Complete": "true"}, "invalid_header"),
        ({"Upload-Complete": "?1", "Upload-Length": "-1"}, "invalid_header"),
        ({"Upload-Complete": "?1", "Upload-Length": "x"}, "invalid_header"),
        ({"Upload-Complete": "?1", "Content-Length": "x"}, "invalid_header"),
        ({"Upload-Complete": "?1", "Content-Length": "\u00b2"}, "invalid_header"),
        ({"Upload-Complete": "?1", "Content-Digest": "sha-256"}, "invalid_header"),
        ({"Upload-Complete": "?1", "Content-Digest": "sha-256=:AAEC:"}, "invalid_header"),
        (
            {"Upload-Complete": "?1", "Content-Digest": DIGEST, "Repr-Digest": OTHER},
            "invalid_header",
        ),
    ],
)
def test_creation_refused(headers: dict[str, str], code: str) -> None:
    error = refused("POST", headers, "creation")
    assert (error.status, error.code) == (400, code)
    assert error.problem()["type"] == "about:blank"
    assert error.problem()["title"] == "Bad Request"


@pytest.mark.parametrize(
    "headers",
    [
        # Complete, yet the content is not the declared length.
        {"Upload-Complete": "?1", "Upload-Length": "5", "Content-Length": "3"},
        # Partial, yet the content runs past the declared length.
        {"Upload-Complete": "?0", "Upload-Length": "2", "Content-Length": "3"},
    ],
)
def test_creation_with_inconsistent_lengths(headers: dict[str, str]) -> None:
    error = refused("POST", headers, "creation")
    assert error.status == 400
    assert error.problem()["type"] == resumable.INCONSISTENT_UPLOAD_LENGTH


@pytest.mark.parametrize(
    ("method", "resource"),
    [("GET", "creation"), ("PATCH", "creation"), ("POST", "upload"), ("PUT", "upload")],
)
def test_methods_not_allowed(method: str, resource: resumable.Resource) -> None:
    error = refused(method, {}, resource)
    assert error.status == 405


def test_offset_retrieval_and_cancellation() -> None:
    assert resumable.parse_request("HEAD", {}, "upload") == resumable.OffsetRetrieval()
    assert resumable.parse_request("DELETE", {}, "upload") == resumable.Cancellation()


def test_append() -> None:
    req = resumable.parse_request(
        "PATCH",
        {**APPEND, "Upload-Offset": "5", "Upload-Complete": "?1", "Content-Digest": DIGEST},
        "upload",
    )
    assert req == resumable.Append(offset=5, complete=True, sha256=SHA)


@pytest.mark.parametrize("offset", ["0", "5"])
def test_an_append_carries_the_representation_digest(offset: str) -> None:
    req = resumable.parse_request(
        "PATCH",
        {**APPEND, "Upload-Offset": offset, "Upload-Complete": "?1", "Repr-Digest": DIGEST},
        "upload",
    )
    assert isinstance(req, resumable.Append)
    assert (req.sha256, req.repr_sha256) == (None, SHA)


def test_digests_of_the_same_bytes_must_agree() -> None:
    both = {"Content-Digest": DIGEST, "Repr-Digest": OTHER}
    with pytest.raises(resumable.ResumableError, match="differ for the same bytes"):
        resumable.parse_request("POST", {"Upload-Complete": "?1", **both}, "creation")
    # Not the same bytes: this content is not the whole upload.
    req = resumable.parse_request(
        "PATCH", {**APPEND, "Upload-Offset": "5", "Upload-Complete": "?1", **both}, "upload"
    )
    assert isinstance(req, resumable.Append)
    assert req.sha256 == SHA and req.repr_sha256 is not None


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Upload-Offset": "0", "Upload-Complete": "?1"}, 415),
        (
            {
                "Content-Type": "application/octet-stream",
                "Upload-Offset": "0",
                "Upload-Complete": "?1",
            },
            415,
        ),
        ({**APPEND, "Upload-Complete": "?1"}, 400),
        ({**APPEND, "Upload-Offset": "0"}, 400),
        ({**APPEND, "Upload-Offset": "?1", "Upload-Complete": "?1"}, 400),
    ],
)
def test_append_refused(headers: dict[str, str], status: int) -> None:
    assert refused("PATCH", headers).status == status


def test_append_media_type_with_parameters() -> None:
    headers = {
        "content-type": "Application/Partial-Upload; x=1",
        "Upload-Offset": "0",
        "Upload-Complete": "?0",
    }
    assert resumable.parse_request("PATCH", headers, "upload") == resumable.Append(
        offset=0, complete=False
    )


# --- appends against an upload ------------------------------------------------


def plan(
    progress: resumable.Progress, max_size: int | None = None, **append: Any
) -> resumable.AppendPlan:
    return progress.plan_append(resumable.Append(**append), max_size)


def plan_refused(
    progress: resumable.Progress, max_size: int | None = None, **append: Any
) -> resumable.ResumableError:
    with pytest.raises(resumable.ResumableError) as caught:
        plan(progress, max_size, **append)
    return caught.value


AT_5 = resumable.Progress(offset=5, length=None, complete=False)
AT_5_OF_10 = resumable.Progress(offset=5, length=10, complete=False)


def test_completed_upload_refuses_appends_before_the_offset_is_checked() -> None:
    done = resumable.Progress(offset=10, length=10, complete=True)
    error = plan_refused(done, offset=3, complete=False)
    assert error.status == 409
    assert error.problem()["type"] == resumable.COMPLETED_UPLOAD


def test_mismatching_offset() -> None:
    error = plan_refused(AT_5_OF_10, offset=3, complete=False)
    assert error.status == 409
    body = error.problem()
    assert body["type"] == resumable.MISMATCHING_UPLOAD_OFFSET
    assert (body["expected-offset"], body["provided-offset"]) == (5, 3)
    assert body["title"] == "Conflict"


def test_plans() -> None:
    assert plan(AT_5, offset=5, complete=False) == resumable.AppendPlan(
        declared_length=None, limit=None, complete=False
    )
    assert plan(AT_5, 100, offset=5, complete=False).limit == 95
    assert plan(AT_5, offset=5, complete=False, length=9) == resumable.AppendPlan(
        declared_length=9, limit=4, complete=False
    )
    # Complete with a known content length: the length becomes known.
    assert plan(AT_5, offset=5, complete=True, content_length=3) == resumable.AppendPlan(
        declared_length=8, limit=3, complete=True
    )
    assert plan(AT_5_OF_10, offset=5, complete=True, content_length=5, length=10) == (
        resumable.AppendPlan(declared_length=None, limit=5, complete=True)
    )


@pytest.mark.parametrize(
    "append",
    [
        {"length": 11},  # differs from the known length
        {"length": 9, "complete": True},  # differs too
        {"complete": True, "content_length": 4},  # ends short of the length
        {"content_length": 6},  # runs past it
    ],
)
def test_inconsistent_lengths(append: dict[str, Any]) -> None:
    error = plan_refused(AT_5_OF_10, offset=5, **{"complete": False, **append})
    assert error.status == 400
    assert error.problem()["type"] == resumable.INCONSISTENT_UPLOAD_LENGTH


def test_length_below_the_offset() -> None:
    error = plan_refused(AT_5, offset=5, complete=False, length=4)
    assert error.problem()["type"] == resumable.INCONSISTENT_UPLOAD_LENGTH


@pytest.mark.parametrize(
    "append", [{"length": 101}, {"complete": True, "content_length": 96}, {"content_length": 96}]
)
def test_too_large(append: dict[str, Any]) -> None:
    error = plan_refused(AT_5, 100, offset=5, **{"complete": False, **append})
    assert (error.status, error.code) == (413, "upload_too_large")


@given(
    offset=st.integers(0, 50),
    length=st.none() | st.integers(0, 60),
    req_offset=st.integers(0, 50),
    req_length=st.none() | st.integers(0, 60),
    content=st.none() | st.integers(0, 60),
    complete=st.booleans(),
)
def test_a_plan_never_lets_bytes_past_the_length(
    offset: int,
    length: int | None,
    req_offset: int,
    req_length: int | None,
    content: int | None,
    complete: bool,
) -> None:
    if length is not None and length < offset:
        length = offset
    progress = resumable.Progress(offset=offset, length=length, complete=False)
    planned: resumable.AppendPlan | int
    try:
        planned = plan(
            progress,
            40,
            offset=req_offset,
            length=req_length,
            content_length=content,
            complete=complete,
        )
    except resumable.ResumableError as exc:
        planned = exc.status
    if isinstance(planned, int):
        assert planned in (400, 409, 413)
        return
    final = planned.declared_length if planned.declared_length is not None else length
    assert planned.limit is not None
    assert offset + planned.limit <= max(final if final is not None else 40, offset)
    if complete and content is not None:
        assert final == offset + content


# --- answers -------------------------------------------------------------------


def test_progress_headers() -> None:
    assert list(resumable.progress_headers(AT_5)) == [
        ("Upload-Offset", "5"),
        ("Upload-Complete", "?0"),
    ]
    done = resumable.Progress(offset=10, length=10, complete=True)
    assert dict(resumable.progress_headers(done))["Upload-Length"] == "10"
    assert dict(resumable.progress_headers(done))["Upload-Complete"] == "?1"


def test_limit_header() -> None:
    assert resumable.limit_header(max_size=100, expires_s=60) == "max-size=100, expires=60"
    assert resumable.limit_header(max_size=None, expires_s=-3) == "expires=0"
    assert resumable.limit_header(max_size=None, expires_s=None) is None


def test_problem_members() -> None:
    assert resumable.problem(404, "not_found", "no such upload") == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no such upload",
        "code": "not_found",
    }
