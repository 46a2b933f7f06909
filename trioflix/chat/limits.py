"""The chat's bounds and rate limits, and the token bucket that enforces them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "ChatLimits", "TokenBucket"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatLimits:
    """Every bound of the chat in one place. The defaults are production values."""

    # Frames waiting for one client. At 100 messages/s this is 2.5 s of lag; past it the
    # client is disconnected (close 4408) instead of slowing the room or growing memory.
    outgoing_queue: int = 256
    # Events sent as one websocket frame at most: a room's batch, or a backlog coalesced
    # when a client falls behind.
    max_batch: int = 64
    # The longest a busy room holds new events after a flush (trioflix.chat.write_clock):
    # the latency pacing may add. Measured in docs/benchmarks.md ("Chat", 2026-12-07).
    flush_interval_s: float = 0.02
    # Messages kept per room for the welcome and for resuming after a reconnect.
    history: int = 200
    # Rooms whose history this process keeps without anyone connected (in-process bus).
    idle_rooms: int = 1000
    # Twitch's published limits: 20 messages per 30 s for users, 100 for moderators.
    user_burst: int = 20
    user_per_s: float = 20 / 30
    moderator_burst: int = 100
    moderator_per_s: float = 100 / 30
    # Any client frame at all, valid or not: a hostile client is refused, then dropped.
    frames_burst: int = 40
    frames_per_s: float = 10.0
    refused_frames_before_close: int = 50
    # Longest client frame in characters; a message is at most 500 of them, plus JSON.
    max_frame_chars: int = 8192
    # How often viewer counts are computed and shared.
    viewer_tick_s: float = 2.0


DEFAULT_LIMITS = ChatLimits()


class TokenBucket:
    """``burst`` tokens, refilled at ``per_s``. Time is an argument: tests need no clock."""

    __slots__ = ("_burst", "_per_s", "_stamp", "_tokens")

    def __init__(self, burst: int, per_s: float, now: float) -> None:
        self._burst = float(burst)
        self._per_s = per_s
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float:
        """Take one token. Returns 0.0 on success, else the seconds until one is available."""
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._per_s)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._per_s

    def full(self, now: float) -> bool:
        """True once the bucket has refilled: the entry can be forgotten."""
        return self._tokens + (now - self._stamp) * self._per_s >= self._burst
