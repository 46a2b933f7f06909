"""Fixtures of the live HLS tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.conftest import Server


@pytest.fixture
async def player(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """An LL-HLS player's HTTP client: its connections open with LL-HLS requests and
    carry nothing else, so under ``trioflix serve`` the front door answers them all
    (``trioflix.direct.ll_hls``), as it does a real player's."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client
