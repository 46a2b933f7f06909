"""Riding out an outage: StorageUnavailable is retried with growing pauses, nothing else is."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from trioflix.storage import ObjectNotFound, StorageUnavailable, retry_unavailable
from trioflix.storage._retry import RETRY_FIRST_S, RETRY_MAX_S


async def test_an_outage_is_retried_with_growing_pauses_until_it_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    async def flaky() -> str:
        attempts.append(trio.current_time())
        if len(attempts) <= 6:
            raise StorageUnavailable("connection refused")
        return "stored"

    assert await retry_unavailable(flaky, "a put") == "stored"
    pauses = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    nominal = [min(RETRY_FIRST_S * 2**i, RETRY_MAX_S) for i in range(6)]
    assert len(pauses) == 6
    for pause, expected in zip(pauses, nominal, strict=True):
        assert 0.75 * expected <= pause <= 1.25 * expected, (pauses, nominal)


async def test_a_permanent_error_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    calls = 0

    async def missing() -> None:
        nonlocal calls
        calls += 1
        raise ObjectNotFound("recordings/1/x.flv")

    with pytest.raises(ObjectNotFound):
        await retry_unavailable(missing, "a read")
    assert calls == 1
