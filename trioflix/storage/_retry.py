"""Riding out a storage outage: retry what raised :class:`StorageUnavailable`, with backoff."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Final, TypeVar

import trio

from trioflix.storage._errors import StorageUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["RETRY_FIRST_S", "RETRY_MAX_S", "retry_unavailable"]

logger = logging.getLogger(__name__)

RETRY_FIRST_S: Final = 0.5  # a server restarting or a dropped connection: back within a second
RETRY_MAX_S: Final = 10.0  # an outage is noticed within this long of its end

T = TypeVar("T")


async def retry_unavailable(operation: Callable[[], Awaitable[T]], what: str) -> T:
    """Run ``operation`` until it does not raise :class:`StorageUnavailable`.

    Pauses 0.5 s doubling to 10 s between attempts, with jitter, for as long as it
    takes: the caller bounds it with a cancel scope if it must. Permanent errors
    (:class:`~trioflix.storage.StorageError`) pass through at once.

    Args:
        operation: Makes one attempt (called again for each).
        what: Names the work in the log, e.g. ``"upload of recordings/7/...``".
    """
    delay = RETRY_FIRST_S
    while True:
        try:
            return await operation()
        except StorageUnavailable as exc:
            # +-25% jitter: hosts cut off together do not all come back at one instant.
            pause = delay * (0.75 + 0.5 * random.random())
            logger.warning("%s: storage unavailable (%s); retrying in %.1f s", what, exc, pause)
            await trio.sleep(pause)
            delay = min(delay * 2, RETRY_MAX_S)
