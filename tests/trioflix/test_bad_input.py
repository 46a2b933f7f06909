"""Table-driven: every route, fed bad input, answers a 4xx in the JSON error shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import Server

JSON = {"Content-Type": "application/json"}
BIG = b'{"username": "' + b"a" * 70_000 + b'"}'

# (method, path, headers, body, expected status, expected error code)
CASES: list[tuple[str, str, dict[str, str], bytes | None, int, str]] = [
    ("POST", "/api/auth/register", JSON, b"{not json", 400, "malformed_json"),
    ("POST", "/api/auth/register", JSON, b"", 400, "malformed_json"),
    ("POST", "/api/auth/register", JSON, b"[1, 2]", 422, "invalid_body"),
    (
        "POST",
        "/api/auth/register",
        JSON,
        b'{"username": 5, "password": "password1"}',
        422,
        "invalid_body",
    ),
    ("POST", "/api/auth/register", JSON, b'{"username": "ok_name"}', 422, "invalid_body"),
    (
        "POST",
        "/api/auth/register",
        JSON,
        b'{"username": "ok_name", "password": "password1", "admin": true}',
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/api/auth/register",
        JSON,
        b'{"username": "Bad Name!", "password": "password1"}',
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/api/auth/register",
        JSON,
        b'{"username": "ok_name", "password": "short"}',
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/api/auth/register",
        JSON,
        b'{"username": "ok_name", "password": "password1", "display_name": ""}',
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/api/auth/register",
        {"Content-Type": "text/plain"},
        b'{"username": "ok_name", "password": "password1"}',
        415,
        "unsupported_media_type",
    ),
    (
        "POST",
        "/api/auth/register",
        {},
        b'{"username": "ok_name", "password": "password1"}',
        415,
        "unsupported_media_type",
    ),
    ("POST", "/api/auth/register", JSON, BIG, 413, "request_entity_too_large"),
    (
        "POST",
        "/api/auth/register",
        JSON,
        b'{"username": "\xff\xfe", "password": "password1"}',
        400,
        "malformed_json",
    ),
    ("GET", "/api/auth/register", {}, None, 405, "method_not_allowed"),
    ("POST", "/api/auth/login", JSON, b"nope", 400, "malformed_json"),
    ("POST", "/api/auth/login", JSON, b'{"username": "x"}', 422, "invalid_body"),
    ("POST", "/api/auth/login", JSON, b'{"username": "x", "password": 1}', 422, "invalid_body"),
    (
        "POST",
        "/api/auth/login",
        JSON,
        b'{"username": "x", "password": "y", "otp": 1}',
        422,
        "invalid_body",
    ),
    ("POST", "/api/auth/login", JSON, BIG, 413, "request_entity_too_large"),
    ("POST", "/api/streaming/keys", JSON, b"{", 400, "malformed_json"),
    ("POST", "/api/streaming/keys", JSON, b'{"name": 1}', 422, "invalid_body"),
    ("POST", "/api/streaming/keys", JSON, b'{"name": ""}', 422, "invalid_body"),
    ("POST", "/api/streaming/keys", JSON, b'{"name": "' + b"n" * 65 + b'"}', 422, "invalid_body"),
    ("POST", "/api/streaming/keys", JSON, b'{"enabled": "yes"}', 422, "invalid_body"),
    ("POST", "/api/streaming/keys", JSON, b'{"key": "live_mine"}', 422, "invalid_body"),
    (
        "POST",
        "/api/streaming/keys",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"name=x",
        415,
        "unsupported_media_type",
    ),
    ("POST", "/api/streaming/keys", JSON, BIG, 413, "request_entity_too_large"),
    ("PUT", "/api/streaming/keys/{key}", JSON, b"", 400, "malformed_json"),
    ("PUT", "/api/streaming/keys/{key}", JSON, b'{"regenerate": 1}', 422, "invalid_body"),
    ("PUT", "/api/streaming/keys/{key}", JSON, b'{"enabled": null, "x": 1}', 422, "invalid_body"),
    ("PUT", "/api/streaming/keys/{key}", JSON, b'"string"', 422, "invalid_body"),
    (
        "PUT",
        "/api/streaming/keys/{key}",
        {"Content-Type": "text/plain"},
        b"{}",
        415,
        "unsupported_media_type",
    ),
    ("PUT", "/api/streaming/keys/abc", JSON, b"{}", 404, "not_found"),
    ("GET", "/api/streaming/keys/abc", {}, None, 404, "not_found"),
    ("GET", "/api/streaming/keys/-1", {}, None, 404, "not_found"),
    ("GET", "/api/streaming/keys/1.5", {}, None, 404, "not_found"),
    ("GET", "/api/streaming/keys/99999999999999999999999", {}, None, 404, "not_found"),
    ("GET", "/api/streaming/keys/9223372036854775808", {}, None, 404, "not_found"),
    ("GET", "/api/streaming/keys/9223372036854775807", {}, None, 404, "not_found"),
    ("GET", "/api/streaming/keys/%D9%A3", {}, None, 404, "not_found"),  # Arabic-Indic digit three
    ("DELETE", "/api/streaming/keys/0", {}, None, 404, "not_found"),
    ("PATCH", "/api/streaming/keys/{key}", JSON, b"{}", 405, "method_not_allowed"),
    ("GET", "/api/no/such/route", {}, None, 404, "not_found"),
    # U+0000, which PostgreSQL cannot take in text: a name holding it names nothing, a
    # body holding it is refused, on both backends alike.
    (
        "POST",
        "/api/auth/login",
        JSON,
        b'{"username": "al\\u0000", "password": "p"}',
        422,
        "invalid_body",
    ),
    ("POST", "/api/streaming/keys", JSON, b'{"name": "obs\\u0000"}', 422, "invalid_body"),
    (
        "POST",
        "/api/chat/alice/timeouts",
        JSON,
        b'{"user": "\\u0000P", "seconds": 5}',
        422,
        "invalid_body",
    ),
    ("GET", "/api/channels/al%00ice", {}, None, 404, "not_found"),
    ("DELETE", "/api/chat/alice/bans/%00P", {}, None, 404, "not_found"),
    ("GET", "/api/videos?channel=al%00ice", {}, None, 404, "not_found"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "code"), CASES)
async def test_bad_input(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
    code: str,
) -> None:
    token, _ = await server.register("alice")
    created = await server.client.post(
        "/api/streaming/keys", headers={"Authorization": f"Bearer {token}"}
    )
    path = path.replace("{key}", str(created.json()["key"]["id"]))
    response = await server.client.request(
        method, path, content=body, headers={**headers, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) - {"field"} == {"code", "message"}
    assert payload["error"]["code"] == code
    assert "Traceback" not in response.text
    assert "`" not in payload["error"]["message"]  # no schema text: sentences for people


# (body sent to /api/auth/register, the field at fault, the sentence a person reads)
HUMAN_CASES: list[tuple[bytes, str | None, str]] = [
    (
        b'{"username": "ok_name", "password": "short"}',
        "password",
        "Password must be at least 8 characters.",
    ),
    (
        b'{"username": "Bad Name!", "password": "password1"}',
        "username",
        "Username must be 3-32 characters: lowercase letters, digits or _.",
    ),
    (b'{"username": "ok_name"}', "password", "Password is required."),
    (b'{"username": 5, "password": "password1"}', "username", "Username must be text."),
    (
        b'{"username": "ok_name", "password": "password1", "display_name": ""}',
        "display_name",
        "Display name must not be empty.",
    ),
    (
        b'{"username": "ok_name", "password": "password1", "admin": true}',
        "admin",
        "“admin” is not a field this accepts.",
    ),
    (b"[1, 2]", None, "The body must be a JSON object."),
]


@pytest.mark.parametrize(("body", "field", "message"), HUMAN_CASES)
async def test_invalid_bodies_name_the_field_in_a_sentence(
    server: Server, body: bytes, field: str | None, message: str
) -> None:
    response = await server.client.post("/api/auth/register", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_body"
    assert error["message"] == message
    assert error.get("field") == field
