"""Upload-Concat values and mapping partial upload URLs back to ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import tus

from .helpers import attempt

BASE = "/api/upload/video/tus"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("partial", tus.Partial()),
        ("final;/files/a", tus.Final(urls=("/files/a",))),
        ("final;/files/a /files/b", tus.Final(urls=("/files/a", "/files/b"))),
        ("final;https://h/files/a  b", tus.Final(urls=("https://h/files/a", "b"))),
    ],
)
def test_parse_and_format_concat(value: str, expected: tus.Partial | tus.Final) -> None:
    parsed = tus.parse_concat(value)
    assert parsed == expected
    assert tus.parse_concat(tus.format_concat(parsed)) == parsed


def test_format_concat_normalises_spacing() -> None:
    assert tus.format_concat(tus.parse_concat("final; /a   /b")) == "final;/a /b"
    assert tus.format_concat(tus.Partial()) == "partial"


@pytest.mark.parametrize(
    ("urls", "message"),
    [((), "at least one"), (("/a b",), "invalid partial upload URL"), (("",), "invalid")],
)
def test_final_invariants(urls: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tus.Final(urls=urls)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{BASE}/ab12", "ab12"),
        (f"https://example.org{BASE}/ab12", "ab12"),
        (f"http://proxy:8080{BASE}/ab12?x=1#frag", "ab12"),
        ("ab12", "ab12"),  # relative to the creation URL
        (f"{BASE}/x/../ab12", "ab12"),
        ("A-z_0.9~", "A-z_0.9~"),
    ],
)
def test_upload_id_from_url(url: str, expected: str) -> None:
    assert tus.upload_id_from_url(url, BASE) == expected
    assert tus.upload_id_from_url(url, BASE + "/") == expected


@pytest.mark.parametrize(
    "url",
    [
        BASE,
        f"{BASE}/",
        f"{BASE}/a/b",
        f"{BASE}/..",
        f"{BASE}/.hidden",
        f"{BASE}/a%2Fb",
        "/elsewhere/ab12",
        "../ab12",
        "http://[::1/ab12",
        f"{BASE}/\u00e9",
    ],
)
def test_upload_id_from_foreign_url(url: str) -> None:
    with pytest.raises(tus.TusError) as info:
        tus.upload_id_from_url(url, BASE)
    assert (info.value.status, info.value.code) == (400, tus.ErrorCode.INVALID_CONCATENATION)
    assert "is not an upload URL of this server" in info.value.message


def test_final_upload_ids() -> None:
    final = tus.parse_concat(f"final;{BASE}/a https://h{BASE}/b c")
    assert isinstance(final, tus.Final)
    assert final.upload_ids(BASE) == ("a", "b", "c")


@given(st.text(max_size=40))
def test_concat_parsers_only_raise_tus_error(value: str) -> None:
    parsed = attempt(lambda: tus.parse_concat(value))
    if isinstance(parsed, tus.TusError):
        assert parsed.status == 400
    else:
        assert tus.parse_concat(tus.format_concat(parsed)) == parsed
    upload_id = attempt(lambda: tus.upload_id_from_url(value, BASE))
    if isinstance(upload_id, tus.TusError):
        assert upload_id.status == 400
    else:
        assert tus.upload_id_from_url(upload_id, BASE) == upload_id
