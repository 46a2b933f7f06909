"""Who may publish a channel: the stream-key rules every ingest protocol applies.

An encoder names its stream key (RTMP: the publishing name; WHIP: the bearer
token). :func:`authorize_publish` checks it in this order, and the ingest then
asks :meth:`StreamRegistry.start_publishing
<trioflix.live.channel.registry.StreamRegistry.start_publishing>` for the channel
(one publisher per channel, same key takes over, the grace window, the stop API's
cool-down):

1. An address past its wrong keys (``key_guesses``) is refused at once, before
   the database is asked.
2. An unknown or disabled key, or one whose owner is gone, is refused and counts
   against the address.
3. With webhooks configured, the ``publish.authorize`` hook may refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import trio

from trioflix.store import stream_keys, users

if TYPE_CHECKING:
    from trioflix.auth.ratelimit import FailureLimiter
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.store import Database

__all__ = ["PublishDenied", "Publisher", "authorize_publish"]

#: Which rule refused: too many wrong keys, the key itself, or the authorize hook.
DenyReason = Literal["throttled", "unknown_key", "hook"]


class PublishDenied(Exception):
    """A publish refused by the key rules; ``reason`` says which, ``retry_after_s`` how long
    a throttled address must wait."""

    def __init__(self, reason: DenyReason, description: str, retry_after_s: float = 0.0) -> None:
        super().__init__(description)
        self.reason: DenyReason = reason
        self.description = description
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Publisher:
    """The channel a stream key publishes: what ``start_publishing`` takes."""

    channel: str
    user_id: int
    key_id: int


async def authorize_publish(
    db: Database,
    registry: StreamRegistry,
    webhooks: Webhooks | None,
    secret: str,
    *,
    remote: str,
    address: str,
    key_guesses: FailureLimiter | None,
) -> Publisher:
    """The publisher ``secret`` (a stream key) names, if the rules above let it publish.

    ``remote`` is what the authorize hook is told of the encoder (address and port);
    ``address`` (its host alone) is what wrong keys count against.

    Raises:
        PublishDenied: one of the rules refused.
        StoreUnavailable: the database did not answer.
    """
    if key_guesses is not None:
        wait = key_guesses.retry_after(address, trio.current_time())
        if wait > 0:
            raise PublishDenied(
                "throttled", "too many wrong stream keys; try again later", retry_after_s=wait
            )
    key = await stream_keys.find_key(db, secret)
    owner = await users.get_user(db, key.user_id) if key is not None else None
    if key is None or owner is None or not key.enabled:
        if key_guesses is not None:
            key_guesses.record_failure(address, trio.current_time())
        raise PublishDenied("unknown_key", "unknown or disabled stream key")
    if webhooks is not None and webhooks.enabled:
        due = await registry.due_schedule(owner.id)
        refusal = await webhooks.authorize_publish(
            {
                "channel": owner.name,
                "key_id": key.id,
                "remote": remote,
                # The scheduled stream this publish would start, if any.
                "schedule": None if due is None else due.public(owner.name),
            }
        )
        if refusal is not None:
            raise PublishDenied("hook", refusal)
    return Publisher(owner.name, owner.id, key.id)
