from __future__ import annotations

import base64
import json
import re
import time
from typing import TYPE_CHECKING

import argon2
import jwt
import pytest

from trioflix.auth.tokens import TokenIssuer, key_id

if TYPE_CHECKING:
    from collections.abc import Awaitable

    import httpx

    from tests.conftest import Server


async def test_register_login_me(server: Server) -> None:
    token, user = await server.register("alice")
    assert user["name"] == "alice"
    assert "password_hash" not in user

    response = await server.client.post(
        "/api/auth/login", json={"username": "alice", "password": "correct horse"}
    )
    assert response.status_code == 200
    login = response.json()
    assert login["user"] == user
    claims = jwt.decode(login["token"], options={"verify_signature": False})
    assert claims["sub"] == str(user["id"])
    assert claims["exp"] - claims["iat"] == server.settings.token_ttl

    me = await server.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {"user": user}


# docs/api.md: RFC 9106's low-memory profile, written out in the PHC string format.
ARGON2ID_PHC = re.compile(
    r"^\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<hash>[A-Za-z0-9+/]+)$"
)


async def test_the_password_is_stored_as_a_documented_argon2id_hash(server: Server) -> None:
    password = "correct horse battery staple"
    _, user = await server.register("frank", password)
    stored = await server.app.trioflix.db.fetchval(
        "SELECT password_hash FROM users WHERE id = $1", user["id"]
    )
    assert isinstance(stored, str)
    assert password not in stored and password.encode().hex() not in stored
    phc = ARGON2ID_PHC.match(stored)
    assert phc is not None, stored
    assert (int(phc["m"]), int(phc["t"]), int(phc["p"])) == (65536, 3, 4)
    # Unpadded base64: 16 bytes of salt, 32 of hash.
    assert len(base64.b64decode(phc["salt"] + "==")) == 16
    assert len(base64.b64decode(phc["hash"] + "==")) == 32
    # The hash checks out with argon2's reference implementation, not the project's code.
    assert argon2.low_level.verify_secret(stored.encode(), password.encode(), argon2.Type.ID)
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        argon2.low_level.verify_secret(stored.encode(), b"correct horse", argon2.Type.ID)
    # Two users with one password get different hashes (a fresh salt each).
    _, other = await server.register("grace", password)
    again = await server.app.trioflix.db.fetchval(
        "SELECT password_hash FROM users WHERE id = $1", other["id"]
    )
    assert again != stored


async def test_register_duplicate_name(server: Server) -> None:
    await server.register("bob")
    response = await server.client.post(
        "/api/auth/register", json={"username": "bob", "password": "another one"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_taken"


async def test_wrong_password(server: Server) -> None:
    await server.register("carol")
    response = await server.client.post(
        "/api/auth/login", json={"username": "carol", "password": "wrong password"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    response = await server.client.post(
        "/api/auth/login", json={"username": "nobody", "password": "wrong password"}
    )
    assert response.status_code == 401


async def test_failed_logins_are_rate_limited(server: Server) -> None:
    await server.register("dave")
    statuses = []
    for _ in range(6):
        response = await server.client.post(
            "/api/auth/login", json={"username": "dave", "password": "not it at all"}
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "too_many_attempts"
    # Even the right password is refused while throttled.
    response = await server.client.post(
        "/api/auth/login", json={"username": "dave", "password": "correct horse"}
    )
    assert response.status_code == 429


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_failed_logins_are_rate_limited_per_address(server: Server) -> None:
    """20 failures from one address (docs/api.md), over names that each stay under their limit."""
    await server.register("erin")
    statuses = []
    for attempt in range(20):
        response = await server.client.post(
            "/api/auth/login",
            json={"username": f"guess{attempt // 4}", "password": "not it at all"},
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 20
    # A name never tried, with the right password: the address is what is throttled.
    response = await server.client.post(
        "/api/auth/login", json={"username": "erin", "password": "correct horse"}
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) > 0


async def test_taken_names_at_register_are_throttled_per_name(server: Server) -> None:
    """Each taken name counts as a failed guess: the sixth try, and a login, get 429."""
    await server.register("fred")
    statuses = []
    for _ in range(6):
        response = await server.client.post(
            "/api/auth/register", json={"username": "fred", "password": "another one"}
        )
        statuses.append(response.status_code)
    assert statuses == [409] * 5 + [429]
    assert response.json()["error"]["code"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) > 0
    # The budget is the login's too: probing by register cannot double the guesses.
    response = await server.client.post(
        "/api/auth/login", json={"username": "fred", "password": "correct horse"}
    )
    assert response.status_code == 429


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_taken_names_at_register_are_throttled_per_address(server: Server) -> None:
    """20 failures from one address over names that each stay under their own limit."""
    for name in ("gina", "hank", "ivan", "judy"):
        await server.register(name)
        for _ in range(5):
            response = await server.client.post(
                "/api/auth/register", json={"username": name, "password": "another one"}
            )
            assert response.status_code == 409
    response = await server.client.post(
        "/api/auth/register", json={"username": "kate", "password": "correct horse"}
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"


OLD_SECRET = "the-secret-rotated-out-of-jwt-secret-0123456789"
NEW_SECRET = "the-secret-now-in-jwt-secret-after-rotation-987"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.settings(jwt_secret=NEW_SECRET, jwt_previous_secrets=(OLD_SECRET,))
async def test_rotated_keys_still_verify_and_new_tokens_use_the_current_key(
    server: Server,
) -> None:
    token, user = await server.register("rotor")
    # New tokens: signed with the current key, which their kid names.
    assert jwt.get_unverified_header(token)["kid"] == key_id(NEW_SECRET)
    assert jwt.decode(token, NEW_SECRET, algorithms=["HS256"])["sub"] == str(user["id"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, OLD_SECRET, algorithms=["HS256"])

    def me(token: str) -> Awaitable[httpx.Response]:
        return server.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})

    # Tokens issued before the rotation, with kid and from before kid existed, still work.
    old = TokenIssuer(OLD_SECRET, 3600).issue(user["id"])
    assert (await me(old)).json()["user"]["id"] == user["id"]
    claims = {"sub": str(user["id"]), "iat": int(time.time()), "exp": int(time.time()) + 60}
    assert (await me(jwt.encode(claims, OLD_SECRET, "HS256"))).status_code == 200
    # A kid the server does not know, or a kid that lies about the key, is refused.
    other = "some-other-secret-nobody-configured-here-0000"
    for forged in (
        TokenIssuer(other, 3600).issue(user["id"]),
        jwt.encode(claims, other, "HS256", headers={"kid": key_id(OLD_SECRET)}),
    ):
        response = await me(forged)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda ok, secret, uid: None, id="missing"),
        pytest.param(lambda ok, secret, uid: "Basic abc", id="wrong-scheme"),
        pytest.param(lambda ok, secret, uid: "Bearer", id="empty"),
        pytest.param(lambda ok, secret, uid: "Bearer not-a-jwt", id="garbage"),
        pytest.param(lambda ok, secret, uid: "Bearer " + ok[:-4] + "AAAA", id="tampered-signature"),
        pytest.param(
            lambda ok, secret, uid: (
                "Bearer "
                + ".".join(
                    [
                        ok.split(".")[0],
                        _b64({"sub": "999", "iat": 1, "exp": 2**40}),
                        ok.split(".")[2],
                    ]
                )
            ),
            id="tampered-payload",
        ),
        pytest.param(
            lambda ok, secret, uid: (
                "Bearer "
                + _b64({"alg": "none", "typ": "JWT"})
                + "."
                + _b64({"sub": str(uid), "iat": int(time.time()), "exp": int(time.time()) + 3600})
                + "."
            ),
            id="alg-none",
        ),
        pytest.param(
            lambda ok, secret, uid: (
                "Bearer "
                + jwt.encode(
                    {"sub": str(uid), "iat": 1, "exp": int(time.time()) - 3600}, secret, "HS256"
                )
            ),
            id="expired",
        ),
        pytest.param(
            lambda ok, secret, uid: (
                "Bearer "
                + jwt.encode(
                    {"sub": str(uid), "iat": int(time.time()), "exp": int(time.time()) + 60},
                    "another-secret-of-sufficient-length-xx",
                    "HS256",
                )
            ),
            id="other-key",
        ),
        pytest.param(
            lambda ok, secret, uid: (
                "Bearer "
                + jwt.encode(
                    {"sub": str(uid), "iat": int(time.time()), "exp": int(time.time()) + 60},
                    secret,
                    "HS512",
                )
            ),
            id="other-algorithm",
        ),
        pytest.param(
            lambda ok, secret, uid: (
                "Bearer " + jwt.encode({"sub": str(uid), "iat": int(time.time())}, secret, "HS256")
            ),
            id="no-exp",
        ),
        pytest.param(
            lambda ok, secret, uid: (
                "Bearer "
                + jwt.encode(
                    {"sub": "424242", "iat": int(time.time()), "exp": int(time.time()) + 60},
                    secret,
                    "HS256",
                )
            ),
            id="unknown-user",
        ),
    ],
)
async def test_bad_tokens_get_401(server: Server, make_header) -> None:  # type: ignore[no-untyped-def]
    token, user = await server.register("erin")
    header = make_header(token, server.settings.jwt_secret, user["id"])
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("GET", "/api/auth/me"), ("GET", "/api/streaming/keys")]:
        response = await server.client.request(method, path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
        assert error["code"] in ("unauthorized", "invalid_token")
