"""Keys derived from the shared secret: one per use, none revealing the secret."""

from __future__ import annotations

from trioflix.cluster.keys import derive_key, secret_fingerprint

SECRET = "correct-horse-battery-staple-" + "x" * 32


def test_equal_secrets_give_equal_fingerprints_and_different_ones_differ() -> None:
    assert secret_fingerprint(SECRET) == secret_fingerprint(str(SECRET))
    assert secret_fingerprint(SECRET) != secret_fingerprint(SECRET + "y")
    assert len(secret_fingerprint(SECRET)) == 32


def test_the_fingerprint_shows_nothing_of_the_secret() -> None:
    fingerprint = secret_fingerprint(SECRET)
    assert SECRET not in fingerprint and SECRET.encode().hex()[:16] not in fingerprint


def test_each_use_gets_its_own_key() -> None:
    assert derive_key(SECRET, b"one") != derive_key(SECRET, b"two")
    assert derive_key(SECRET, b"trioflix-cluster").hex()[:32] == secret_fingerprint(SECRET)
