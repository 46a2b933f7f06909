"""Upload-Metadata: table of header values, and the encode/decode round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import tus

from .helpers import Err, attempt


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {}),
        ("  ", {}),
        ("a YQ==", {"a": b"a"}),
        ("key", {"key": b""}),
        ("key ", {"key": b""}),
        ("a YQ==,b,c YWJj", {"a": b"a", "b": b"", "c": b"abc"}),
        ("a YQ==, b Yg==", {"a": b"a", "b": b"b"}),  # OWS around pairs
        ("k+/= AAEC/w==", {"k+/=": b"\x00\x01\x02\xff"}),
        ("x-y_z.9 Pz8/", {"x-y_z.9": b"???"}),
        ("a ,b YQ==,", Err(400, tus.ErrorCode.INVALID_HEADER, "empty key-value pair")),
        (",a YQ==", Err(400, tus.ErrorCode.INVALID_HEADER, "empty key-value pair")),
        ("a YQ==,,b", Err(400, tus.ErrorCode.INVALID_HEADER, "empty key-value pair")),
        (" YQ==", {"YQ==": b""}),  # leading OWS: "YQ==" is the key
        ("a YQ==,a Yg==", Err(400, tus.ErrorCode.INVALID_HEADER, "'a' is repeated")),
        ("k\u00e9y YQ==", Err(400, tus.ErrorCode.INVALID_HEADER, "visible ASCII")),
        ("k\x01 YQ==", Err(400, tus.ErrorCode.INVALID_HEADER, "visible ASCII")),
        ("a YQ", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),  # no padding
        ("a YQ=", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),
        ("a YR==", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),  # non-zero bits
        ("a YQ==YQ==", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),
        ("a Y Q==", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),
        ("a  YQ==", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),
        ("a YQ-_", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),  # url-safe
        ("a \u0661\u0662\u0663\u0664", Err(400, tus.ErrorCode.INVALID_HEADER, "Base64")),
    ],
)
def test_parse_metadata(value: str, expected: dict[str, bytes] | Err) -> None:
    if isinstance(expected, Err):
        with pytest.raises(tus.TusError) as info:
            tus.parse_metadata(value)
        assert (info.value.status, info.value.code) == (expected.status, expected.code)
        assert expected.fragment in info.value.message
    else:
        assert tus.parse_metadata(value) == expected


def test_encode_metadata() -> None:
    assert tus.encode_metadata({}) == ""
    assert tus.encode_metadata({"filename": b"world_domination_plan.pdf", "flag": b""}) == (
        "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,flag"
    )


@pytest.mark.parametrize("key", ["", "a b", "a,b", "\u00e9", "a\nb"])
def test_encode_metadata_rejects_bad_keys(key: str) -> None:
    with pytest.raises(ValueError, match="invalid Upload-Metadata key"):
        tus.encode_metadata({key: b"x"})


keys = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","),
    min_size=1,
    max_size=20,
)
metadata_dicts = st.dictionaries(keys, st.binary(max_size=40), max_size=8)


@given(metadata_dicts)
def test_metadata_round_trip(metadata: dict[str, bytes]) -> None:
    encoded = tus.encode_metadata(metadata)
    assert tus.parse_metadata(encoded) == metadata
    # Text -> value -> text is exact, so HEAD echoes what the client sent.
    assert tus.encode_metadata(tus.parse_metadata(encoded)) == encoded


@given(st.text(max_size=60))
def test_parse_metadata_only_raises_tus_error(value: str) -> None:
    metadata = attempt(lambda: tus.parse_metadata(value))
    if isinstance(metadata, tus.TusError):
        assert metadata.status == 400
    else:
        assert tus.parse_metadata(tus.encode_metadata(metadata)) == metadata
