"""Throttling of failed logins, per account name and per client address.

A sliding window of failure times per key, in memory, bounded: the table forgets
the least recently used keys past ``max_keys``. Per process; behind a load
balancer each host throttles on its own, which still bounds guessing to
``hosts * limit`` per window.
"""

from __future__ import annotations

from collections import OrderedDict, deque

__all__ = ["FailureLimiter"]


class FailureLimiter:
    def __init__(self, *, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self._limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window_s:
            times.popleft()
        return times

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        times = self._recent(key, now)
        if len(times) < self._limit:
            return 0.0
        return times[0] + self._window_s - now

    def record_failure(self, key: str, now: float) -> None:
        times = self._recent(key, now)
        times.append(now)
        if len(times) > self._limit:
            times.popleft()
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
