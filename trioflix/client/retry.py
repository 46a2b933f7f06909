"""Which failures are worth another try, and how long to pause before it."""

from __future__ import annotations

import contextlib
import random
import time
from typing import TYPE_CHECKING

from trioflix.client.errors import UploadError

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

__all__ = ["RETRY_STATUSES", "Backoff", "Transient", "error_text", "transient"]

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
RETRY_STATUSES = frozenset({408, 423, 429, 460, 500, 502, 503, 504, 507})


class Transient(Exception):
    """A failure worth retrying after a pause.

    Attributes:
        retry_after: The server's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_text(response: httpx.Response) -> str:
    """The API's ``{"error": {"message"}}``, else the status line."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(response.json()["error"]["message"])
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def transient(response: httpx.Response, what: str) -> Transient:
    """The failure of a request that got a retryable status (honouring ``Retry-After``)."""
    return Transient(
        f"{what}: {response.status_code} {error_text(response)}", _retry_after(response)
    )


class Backoff:
    """Pauses between attempts: 0.5 s doubling to 30 s, with jitter, at most
    ``attempts`` in a row; :meth:`reset` after progress."""

    def __init__(
        self,
        attempts: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.attempts = attempts
        self.failures = 0
        self._sleep = sleep
        self._jitter = jitter

    def reset(self) -> None:
        """The upload moved on: count failures from zero again."""
        self.failures = 0

    def pause(self, error: Transient, say: Callable[[str], None]) -> None:
        """Tell the user about ``error`` through ``say``, then sleep before the next attempt.

        Raises:
            UploadError: That was one failure too many in a row.
        """
        self.failures += 1
        if self.failures > self.attempts:
            raise UploadError(
                f"{error} (gave up after {self.attempts} retries; "
                "run the same command again to resume)"
            )
        # +-25% jitter, so clients cut off together do not come back together.
        delay = BACKOFF_FIRST_S * 2 ** (self.failures - 1) * (0.75 + 0.5 * self._jitter())
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        delay = min(delay, BACKOFF_MAX_S)
        say(f"{error}; retrying in {delay:.1f} s ({self.failures}/{self.attempts})")
        self._sleep(delay)
