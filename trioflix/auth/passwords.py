"""Password hashing with Argon2id (memory-hard), off the Trio thread.

One hash costs about 64 MiB and tens of milliseconds of CPU by design, so it runs
in a worker thread under a small limiter: a burst of logins queues instead of
starving the event loop or eating all memory.
"""

from __future__ import annotations

import functools

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "verify_password"]

_HASHER = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106 "low memory" profile
_LIMITER = trio.CapacityLimiter(2)  # one per core on the reference machine


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user does not exist, so timing does not reveal which names are taken.

    Made by the first such login rather than at import: a hash takes 64 MiB
    and four threads for a moment, which every server start paid before.
    """
    return _HASHER.hash("not a real password")


async def hash_password(password: str) -> str:
    return await trio.to_thread.run_sync(_HASHER.hash, password, limiter=_LIMITER)


def _verify_dummy(password: str) -> bool:
    return _verify(_dummy_hash(), password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Check ``password`` against ``stored``; ``None`` (no such user) still costs a hash."""
    if stored is None:
        await trio.to_thread.run_sync(_verify_dummy, password, limiter=_LIMITER)
        return False
    return await trio.to_thread.run_sync(_verify, stored, password, limiter=_LIMITER)
