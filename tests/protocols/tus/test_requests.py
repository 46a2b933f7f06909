"""Request parsing: headers in -> typed request or (status, code, message) out."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import tus

from .helpers import (
    ALL,
    CORE,
    CREATION,
    DEFAULT,
    SHA1_HELLO,
    STREAM,
    Err,
    MultiHeaders,
    attempt,
    h,
)

SHA1_DIGEST = base64.b64decode(SHA1_HELLO)
CHECKSUM = tus.Checksum(algorithm="sha1", digest=SHA1_DIGEST)
FINAL_AB = tus.Final(urls=("/files/a", "/files/b"))

CREATION_CASES: list[tuple[str, tus.TusConfig, dict[str, str], tus.CreationRequest | Err]] = [
    # --- valid ---------------------------------------------------------------
    ("length", ALL, h(Upload_Length="100"), tus.CreationRequest(length=100)),
    ("zero length", ALL, h(Upload_Length="0"), tus.CreationRequest(length=0)),
    ("leading zeros", ALL, h(Upload_Length="007"), tus.CreationRequest(length=7)),
    ("surrounding OWS", ALL, h(Upload_Length=" \t100 "), tus.CreationRequest(length=100)),
    ("at max size", ALL, h(Upload_Length="1000"), tus.CreationRequest(length=1000)),
    (
        "lower-case names",
        ALL,
        {"tus-resumable": "1.0.0", "upload-length": "5"},
        tus.CreationRequest(length=5),
    ),
    ("deferred", ALL, h(Upload_Defer_Length="1"), tus.CreationRequest(defer_length=True)),
    (
        "metadata from the spec example",
        ALL,
        h(
            Upload_Length="100",
            Upload_Metadata="filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential",
        ),
        tus.CreationRequest(
            length=100,
            metadata={"filename": b"world_domination_plan.pdf", "is_confidential": b""},
        ),
    ),
    (
        "partial",
        ALL,
        h(Upload_Length="5", Upload_Concat="partial"),
        tus.CreationRequest(length=5, concat=tus.Partial()),
    ),
    (
        "partial, deferred",
        ALL,
        h(Upload_Defer_Length="1", Upload_Concat="partial"),
        tus.CreationRequest(defer_length=True, concat=tus.Partial()),
    ),
    (
        "final",
        ALL,
        h(Upload_Concat="final;/files/a /files/b"),
        tus.CreationRequest(concat=FINAL_AB),
    ),
    (
        "final, extra spaces",
        ALL,
        h(Upload_Concat="final; /files/a  /files/b"),
        tus.CreationRequest(concat=FINAL_AB),
    ),
    (
        "final, offset-stream type but no body",
        ALL,
        h(Upload_Concat="final;/files/a /files/b", Content_Type=STREAM, Content_Length="0"),
        tus.CreationRequest(concat=FINAL_AB, content_length=0),
    ),
    (
        "with upload",
        ALL,
        h(Upload_Length="100", Content_Type=STREAM, Content_Length="5"),
        tus.CreationRequest(length=100, has_body=True, content_length=5),
    ),
    (
        "with upload, media type parameters and case",
        ALL,
        h(Upload_Length="100", Content_Type="Application/Offset+Octet-Stream; x=y"),
        tus.CreationRequest(length=100, has_body=True),
    ),
    (
        "with upload, empty body",
        ALL,
        h(Upload_Length="100", Content_Type=STREAM, Content_Length="0"),
        tus.CreationRequest(length=100, has_body=True, content_length=0),
    ),
    (
        "with upload, chunked, deferred",
        ALL,
        h(Upload_Defer_Length="1", Content_Type=STREAM, Transfer_Encoding="gzip, Chunked"),
        tus.CreationRequest(defer_length=True, has_body=True),
    ),
    (
        "with upload and checksum",
        ALL,
        h(
            Upload_Length="11",
            Content_Type=STREAM,
            Content_Length="11",
            Upload_Checksum=f"sha1 {SHA1_HELLO}",
        ),
        tus.CreationRequest(length=11, has_body=True, content_length=11, checksum=CHECKSUM),
    ),
    (
        "with upload and checksum trailer",
        ALL,
        h(
            Upload_Length="11",
            Content_Type=STREAM,
            Transfer_Encoding="chunked",
            Trailer="Expires, upload-checksum",
        ),
        tus.CreationRequest(length=11, has_body=True, checksum_trailer=True),
    ),
    (
        "other Content-Type, empty body: no upload data",
        ALL,
        h(Upload_Length="5", Content_Type="text/plain", Content_Length="0"),
        tus.CreationRequest(length=5, content_length=0),
    ),
    (
        "offset-stream type, empty body, creation-with-upload off: no upload data",
        CREATION,
        h(Upload_Length="5", Content_Type=STREAM, Content_Length="0"),
        tus.CreationRequest(length=5, content_length=0),
    ),
    (
        "a Trailer not naming Upload-Checksum is ignored",
        DEFAULT,
        h(Upload_Length="5", Trailer="Expires"),
        tus.CreationRequest(length=5),
    ),
    # --- 405 / 412 -----------------------------------------------------------
    ("creation disabled", CORE, h(Upload_Length="5"), Err(405, tus.ErrorCode.METHOD_NOT_ALLOWED)),
    (
        "no Tus-Resumable",
        ALL,
        {"Upload-Length": "5"},
        Err(412, tus.ErrorCode.UNSUPPORTED_VERSION, "no Tus-Resumable header"),
    ),
    (
        "old Tus-Resumable",
        ALL,
        {"Tus-Resumable": "0.2.2", "Upload-Length": "5"},
        Err(412, tus.ErrorCode.UNSUPPORTED_VERSION, "'0.2.2'"),
    ),
    # --- 400: length ---------------------------------------------------------
    (
        "no length",
        ALL,
        h(),
        Err(400, tus.ErrorCode.MISSING_HEADER, "Upload-Length (or Upload-Defer-Length: 1)"),
    ),
    *[
        (
            f"Upload-Length {bad!r}",
            ALL,
            h(Upload_Length=bad),
            Err(400, tus.ErrorCode.INVALID_HEADER, "Upload-Length must be a non-negative integer"),
        )
        for bad in ["", "-1", "+5", "1.5", "1e3", "0x10", "1_000", "\u0661\u0662", "5 6", "9" * 65]
    ],
    (
        "length above max size",
        ALL,
        h(Upload_Length="1001"),
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE, "maximum upload size of 1000 bytes"),
    ),
    (
        "huge length",
        ALL,
        h(Upload_Length="9" * 64),
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE),
    ),
    (
        "length and defer",
        ALL,
        h(Upload_Length="5", Upload_Defer_Length="1"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "not both"),
    ),
    *[
        (
            f"Upload-Defer-Length {bad!r}",
            ALL,
            h(Upload_Defer_Length=bad),
            Err(400, tus.ErrorCode.INVALID_HEADER, "Upload-Defer-Length must be 1"),
        )
        for bad in ["0", "2", "true", "", "01"]
    ],
    (
        "defer without creation-defer-length",
        CREATION,
        h(Upload_Defer_Length="1"),
        Err(400, tus.ErrorCode.EXTENSION_NOT_SUPPORTED, "creation-defer-length"),
    ),
    # --- 400: concatenation --------------------------------------------------
    (
        "concat without the extension",
        CREATION,
        h(Upload_Length="5", Upload_Concat="partial"),
        Err(400, tus.ErrorCode.EXTENSION_NOT_SUPPORTED, "concatenation"),
    ),
    *[
        (
            f"Upload-Concat {bad!r}",
            ALL,
            h(Upload_Length="5", Upload_Concat=bad),
            Err(400, tus.ErrorCode.INVALID_HEADER, "Upload-Concat must be"),
        )
        for bad in ["", "Partial", "partial;", "final", "final;", "final; ", "finale;/a", "x;/a"]
    ],
    (
        "Upload-Concat URL with a control character",
        ALL,
        h(Upload_Concat="final;/a /b\x7f"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "visible ASCII"),
    ),
    (
        "final with Upload-Length",
        ALL,
        h(Upload_Length="5", Upload_Concat="final;/a"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "do not send Upload-Length"),
    ),
    (
        "final with Upload-Defer-Length",
        ALL,
        h(Upload_Defer_Length="1", Upload_Concat="final;/a"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "do not send Upload-Length"),
    ),
    (
        "final with a body",
        ALL,
        h(Upload_Concat="final;/a", Content_Type=STREAM, Content_Length="3"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "cannot carry upload data"),
    ),
    # --- metadata ------------------------------------------------------------
    (
        "bad metadata",
        ALL,
        h(Upload_Length="5", Upload_Metadata="name !!!"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64"),
    ),
    # --- body ----------------------------------------------------------------
    (
        "body of another type",
        ALL,
        h(Upload_Length="5", Content_Type="text/plain", Content_Length="5"),
        Err(415, tus.ErrorCode.UNSUPPORTED_MEDIA_TYPE, STREAM),
    ),
    (
        "chunked body without a type",
        ALL,
        h(Upload_Length="5", Transfer_Encoding="chunked"),
        Err(415, tus.ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    ),
    (
        "body without creation-with-upload",
        CREATION,
        h(Upload_Length="5", Content_Type=STREAM, Content_Length="5"),
        Err(400, tus.ErrorCode.EXTENSION_NOT_SUPPORTED, "creation-with-upload"),
    ),
    (
        "body longer than Upload-Length",
        ALL,
        h(Upload_Length="5", Content_Type=STREAM, Content_Length="6"),
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE, "Content-Length 6 exceeds Upload-Length 5"),
    ),
    (
        "deferred, body above max size",
        ALL,
        h(Upload_Defer_Length="1", Content_Type=STREAM, Content_Length="1001"),
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE, "Content-Length 1001"),
    ),
    (
        "bad Content-Length",
        ALL,
        h(Upload_Length="5", Content_Length="five"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "Content-Length"),
    ),
    # --- checksum ------------------------------------------------------------
    (
        "checksum without a body",
        ALL,
        h(Upload_Length="5", Upload_Checksum=f"sha1 {SHA1_HELLO}"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "without upload data"),
    ),
    (
        "checksum trailer without a body",
        ALL,
        h(Upload_Length="5", Trailer="Upload-Checksum"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "without upload data"),
    ),
    (
        "unsupported checksum algorithm",
        ALL,
        h(Upload_Length="5", Content_Type=STREAM, Upload_Checksum="crc32 AAAAAA=="),
        Err(400, tus.ErrorCode.UNSUPPORTED_CHECKSUM_ALGORITHM, "sha1,sha256,md5"),
    ),
    (
        "checksum both as header and trailer",
        ALL,
        h(
            Upload_Length="5",
            Content_Type=STREAM,
            Upload_Checksum=f"sha1 {SHA1_HELLO}",
            Trailer="Upload-Checksum",
        ),
        Err(400, tus.ErrorCode.INVALID_HEADER, "both as a header and as a trailer"),
    ),
    (
        "checksum trailer without checksum-trailer",
        DEFAULT,
        h(Upload_Length="5", Content_Type=STREAM, Trailer="Upload-Checksum"),
        Err(400, tus.ErrorCode.EXTENSION_NOT_SUPPORTED, "checksum-trailer"),
    ),
    (
        "checksum without the checksum extension",
        tus.TusConfig(extensions=(tus.Extension.CREATION, tus.Extension.CREATION_WITH_UPLOAD)),
        h(Upload_Length="5", Content_Type=STREAM, Upload_Checksum=f"sha1 {SHA1_HELLO}"),
        Err(400, tus.ErrorCode.EXTENSION_NOT_SUPPORTED),
    ),
]


def check(parse: object, expected: object) -> None:
    """Call ``parse()`` and compare with a value or an :class:`Err`."""
    assert callable(parse)
    if isinstance(expected, Err):
        with pytest.raises(tus.TusError) as info:
            parse()
        assert (info.value.status, info.value.code) == (expected.status, expected.code)
        assert expected.fragment in info.value.message
        assert str(info.value) == f"{expected.status} {expected.code}: {info.value.message}"
    else:
        assert parse() == expected


@pytest.mark.parametrize(
    ("config", "headers", "expected"),
    [pytest.param(c, hd, e, id=name) for name, c, hd, e in CREATION_CASES],
)
def test_parse_creation(
    config: tus.TusConfig, headers: dict[str, str], expected: tus.CreationRequest | Err
) -> None:
    check(lambda: tus.parse_creation(headers, config), expected)
    # parse_request dispatches POST on the creation URL to the same parser.
    check(lambda: tus.parse_request("POST", headers, config, resource="creation"), expected)


def test_412_carries_tus_version() -> None:
    with pytest.raises(tus.TusError) as info:
        tus.parse_head({"Tus-Resumable": "2.0.0"})
    assert info.value.headers == (("Tus-Version", "1.0.0"),)
    assert tus.error_response(info.value) == tus.TusResponse(
        status=412, headers=(("Tus-Resumable", "1.0.0"), ("Tus-Version", "1.0.0"))
    )


def test_repeated_header_is_400() -> None:
    headers = MultiHeaders([*h().items(), ("Upload-Length", "5"), ("upload-length", "5")])
    with pytest.raises(tus.TusError) as info:
        tus.parse_creation(headers, ALL)
    assert (info.value.status, info.value.message) == (400, "Upload-Length was sent more than once")


def test_repeated_list_header_is_joined() -> None:
    headers = MultiHeaders(
        [
            *h(Upload_Length="5", Content_Type=STREAM).items(),
            ("Trailer", "A"),
            ("Trailer", ","),
            ("Trailer", "Upload-Checksum"),
        ]
    )
    assert tus.parse_creation(headers, ALL).checksum_trailer


PATCH_CASES: list[tuple[str, tus.TusConfig, dict[str, str], tus.PatchRequest | Err]] = [
    (
        "minimal (chunked body)",
        CORE,
        h(Content_Type=STREAM, Upload_Offset="70"),
        tus.PatchRequest(offset=70),
    ),
    (
        "spec example",
        CORE,
        h(Content_Type=STREAM, Upload_Offset="70", Content_Length="30"),
        tus.PatchRequest(offset=70, content_length=30),
    ),
    (
        "declares a deferred length",
        ALL,
        h(Content_Type=STREAM, Upload_Offset="0", Upload_Length="300"),
        tus.PatchRequest(offset=0, length=300),
    ),
    (
        "checksum",
        ALL,
        h(Content_Type=STREAM, Upload_Offset="0", Upload_Checksum=f"sha1 {SHA1_HELLO}"),
        tus.PatchRequest(offset=0, checksum=CHECKSUM),
    ),
    (
        "checksum trailer",
        ALL,
        h(Content_Type=STREAM, Upload_Offset="0", Trailer="Upload-Checksum"),
        tus.PatchRequest(offset=0, checksum_trailer=True),
    ),
    (
        "no Tus-Resumable",
        ALL,
        {"Content-Type": STREAM, "Upload-Offset": "0"},
        Err(412, tus.ErrorCode.UNSUPPORTED_VERSION),
    ),
    (
        "no Content-Type",
        ALL,
        h(Upload_Offset="0"),
        Err(415, tus.ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type: " + STREAM),
    ),
    (
        "wrong Content-Type",
        ALL,
        h(Content_Type="application/octet-stream", Upload_Offset="0"),
        Err(415, tus.ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    ),
    (
        "no Upload-Offset",
        ALL,
        h(Content_Type=STREAM),
        Err(400, tus.ErrorCode.MISSING_HEADER, "Upload-Offset"),
    ),
    *[
        (
            f"Upload-Offset {bad!r}",
            ALL,
            h(Content_Type=STREAM, Upload_Offset=bad),
            Err(400, tus.ErrorCode.INVALID_HEADER, "Upload-Offset must be a non-negative integer"),
        )
        for bad in ["", "-1", "1.0", "x", "\uff11"]
    ],
    (
        "bad Upload-Length",
        ALL,
        h(Content_Type=STREAM, Upload_Offset="0", Upload_Length="-3"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "Upload-Length"),
    ),
    (
        "Upload-Length above max",
        ALL,
        h(Content_Type=STREAM, Upload_Offset="0", Upload_Length="1001"),
        Err(413, tus.ErrorCode.UPLOAD_TOO_LARGE),
    ),
    (
        "bad Content-Length",
        ALL,
        h(Content_Type=STREAM, Upload_Offset="0", Content_Length="1 2"),
        Err(400, tus.ErrorCode.INVALID_HEADER, "Content-Length"),
    ),
    (
        "checksum extension off",
        CORE,
        h(Content_Type=STREAM, Upload_Offset="0", Upload_Checksum=f"sha1 {SHA1_HELLO}"),
        Err(400, tus.ErrorCode.EXTENSION_NOT_SUPPORTED, "Upload-Checksum"),
    ),
    (
        "md5 not offered",
        tus.TusConfig(checksum_algorithms=("sha1",)),
        h(Content_Type=STREAM, Upload_Offset="0", Upload_Checksum="md5 AAAAAAAAAAAAAAAAAAAAAA=="),
        Err(400, tus.ErrorCode.UNSUPPORTED_CHECKSUM_ALGORITHM, "use one of: sha1"),
    ),
]


@pytest.mark.parametrize(
    ("config", "headers", "expected"),
    [pytest.param(c, hd, e, id=name) for name, c, hd, e in PATCH_CASES],
)
def test_parse_patch(
    config: tus.TusConfig, headers: dict[str, str], expected: tus.PatchRequest | Err
) -> None:
    check(lambda: tus.parse_patch(headers, config), expected)
    check(lambda: tus.parse_request("PATCH", headers, config, resource="upload"), expected)


@pytest.mark.parametrize(
    ("method", "headers", "config", "resource", "expected"),
    [
        ("OPTIONS", {}, ALL, "creation", tus.OptionsRequest()),
        ("options", {"Tus-Resumable": "0.0.1"}, CORE, "upload", tus.OptionsRequest()),
        ("HEAD", h(), CORE, "upload", tus.HeadRequest()),
        ("HEAD", {}, CORE, "upload", Err(412, tus.ErrorCode.UNSUPPORTED_VERSION)),
        ("DELETE", h(), ALL, "upload", tus.DeleteRequest()),
        ("DELETE", {}, ALL, "upload", Err(412, tus.ErrorCode.UNSUPPORTED_VERSION)),
        ("DELETE", h(), CORE, "upload", Err(405, tus.ErrorCode.METHOD_NOT_ALLOWED, "DELETE")),
        ("POST", h(Upload_Length="1"), ALL, "creation", tus.CreationRequest(length=1)),
        ("POST", h(Upload_Length="1"), ALL, "upload", Err(405, tus.ErrorCode.METHOD_NOT_ALLOWED)),
        ("PATCH", h(), ALL, "creation", Err(405, tus.ErrorCode.METHOD_NOT_ALLOWED)),
        ("GET", h(), ALL, "upload", Err(405, tus.ErrorCode.METHOD_NOT_ALLOWED, "GET")),
        # X-HTTP-Method-Override wins over the real method.
        ("POST", h(X_HTTP_Method_Override="DELETE"), ALL, "upload", tus.DeleteRequest()),
        ("POST", h(X_HTTP_Method_Override="head"), ALL, "upload", tus.HeadRequest()),
        (
            "POST",
            h(X_HTTP_Method_Override="PATCH", Content_Type=STREAM, Upload_Offset="3"),
            ALL,
            "upload",
            tus.PatchRequest(offset=3),
        ),
        (
            "POST",
            h(X_HTTP_Method_Override="PUT /x"),
            ALL,
            "upload",
            Err(400, tus.ErrorCode.INVALID_HEADER, "X-HTTP-Method-Override"),
        ),
    ],
)
def test_parse_request(
    method: str,
    headers: dict[str, str],
    config: tus.TusConfig,
    resource: tus.Resource,
    expected: tus.TusRequest | Err,
) -> None:
    check(lambda: tus.parse_request(method, headers, config, resource=resource), expected)


def test_405_carries_allow() -> None:
    with pytest.raises(tus.TusError) as info:
        tus.parse_request("GET", h(), ALL, resource="upload")
    assert info.value.headers == (("Allow", "OPTIONS, HEAD, PATCH, DELETE"),)
    with pytest.raises(tus.TusError) as info:
        tus.parse_creation(h(Upload_Length="1"), CORE)
    assert info.value.headers == (("Allow", "OPTIONS"),)
    with pytest.raises(tus.TusError) as info:
        tus.parse_delete(h(), CORE)
    assert info.value.headers == (("Allow", "OPTIONS, HEAD, PATCH"),)
    assert tus.parse_delete(h(), ALL) == tus.DeleteRequest()


@pytest.mark.parametrize(
    ("config", "resource", "methods"),
    [
        (ALL, "creation", ("OPTIONS", "POST")),
        (CORE, "creation", ("OPTIONS",)),
        (ALL, "upload", ("OPTIONS", "HEAD", "PATCH", "DELETE")),
        (CORE, "upload", ("OPTIONS", "HEAD", "PATCH")),
    ],
)
def test_allowed_methods(
    config: tus.TusConfig, resource: tus.Resource, methods: tuple[str, ...]
) -> None:
    assert tus.allowed_methods(config, resource) == methods


def test_effective_method() -> None:
    assert tus.effective_method("patch", {}) == "PATCH"
    assert tus.effective_method("POST", {"x-http-method-override": "Delete"}) == "DELETE"


def test_parse_options_ignores_everything() -> None:
    assert tus.parse_options({"Tus-Resumable": "garbage"}) == tus.OptionsRequest()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": -1}, "length must be >= 0"),
        ({"length": 1, "defer_length": True}, "deferred length"),
        ({}, "length is required"),
        ({"concat": FINAL_AB, "length": 3}, "final upload"),
        ({"concat": FINAL_AB, "has_body": True}, "final upload"),
        ({"concat": FINAL_AB, "defer_length": True}, "final upload"),
        ({"length": 1, "checksum_trailer": True}, "needs a body"),
        ({"length": 1, "checksum": CHECKSUM}, "needs a body"),
        (
            {"length": 1, "has_body": True, "checksum": CHECKSUM, "checksum_trailer": True},
            "exclusive",
        ),
    ],
)
def test_creation_request_invariants(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tus.CreationRequest(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"offset": -1}, ">= 0"),
        ({"offset": 0, "length": -1}, ">= 0"),
        ({"offset": 0, "checksum": CHECKSUM, "checksum_trailer": True}, "exclusive"),
    ],
)
def test_patch_request_invariants(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tus.PatchRequest(**kwargs)  # type: ignore[arg-type]


# --- property: arbitrary header values only ever give a request or a TusError ----

HEADER_NAMES = [
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Concat",
    "Upload-Checksum",
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "Trailer",
    "X-HTTP-Method-Override",
]
PLAUSIBLE = [
    "1.0.0",
    "0",
    "1",
    "5",
    "1001",
    STREAM,
    "chunked",
    "Upload-Checksum",
    "partial",
    "final;/files/a /files/b",
    "final;http://[::1/a",
    f"sha1 {SHA1_HELLO}",
    "md5 AAAAAAAAAAAAAAAAAAAAAA==",
    "a YQ==,b",
    "PATCH",
    "DELETE",
    "HEAD",
    "POST",
]
header_values = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.text(max_size=30),
    st.text(alphabet="0123456789 ,;=+/aAzZ:.-\t", max_size=30),
)
header_dicts = st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=8)


@given(
    method=st.sampled_from(["POST", "HEAD", "PATCH", "DELETE", "OPTIONS", "GET", "post"]),
    headers=header_dicts,
    versioned=st.booleans(),
    config=st.sampled_from([ALL, CORE, CREATION, DEFAULT]),
    resource=st.sampled_from(["creation", "upload"]),
)
def test_any_headers_give_request_or_tus_error(
    method: str,
    headers: dict[str, str],
    versioned: bool,
    config: tus.TusConfig,
    resource: tus.Resource,
) -> None:
    if versioned:
        headers = {**headers, "Tus-Resumable": "1.0.0"}
    request = attempt(lambda: tus.parse_request(method, headers, config, resource=resource))
    if isinstance(request, tus.TusError):
        assert 400 <= request.status <= 499
        assert request.message
        assert tus.error_response(request).status == request.status
    else:
        assert isinstance(
            request,
            tus.OptionsRequest
            | tus.HeadRequest
            | tus.CreationRequest
            | tus.PatchRequest
            | tus.DeleteRequest,
        )
