"""HTTP webhooks for live events, signed with HMAC-SHA256.

Events: ``publish.start`` (sent before the publish is accepted: any answer
outside 2xx from any URL refuses it), ``publish.end``, ``play.start`` and
``play.end`` (fire and forget). Every request is a JSON POST with the header
``X-Trioflix-Signature: t=UNIX_SECONDS,v1=HEX`` where HEX is
HMAC-SHA256(secret, "t." + body): receivers recompute it and reject old ``t``
to stop replays.

``publish.start`` fails open: if a hook cannot be reached within
``AUTHORIZE_TIMEOUT_S`` the stream goes ahead (logged). An outage of the hook
receiver must not take every channel off the air; a receiver that wants to
refuse answers, and that answer is honoured.

The other events go through a bounded queue drained by one task; when the
receiver is slower than the events, new ones are dropped and counted rather
than held in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from trioflix.slim_imports import hidden

with hidden("rich", "pygments"):  # httpx's command-line client, which the server never runs
    import httpx

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Webhooks", "sign"]

logger = logging.getLogger(__name__)

AUTHORIZE_TIMEOUT_S = 5.0
DELIVERY_TIMEOUT_S = 5.0
QUEUE_LENGTH = 1000  # events waiting for delivery; beyond this they are dropped


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Trioflix-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class Webhooks:
    """Delivers live events to the configured URLs; does nothing when there are none."""

    def __init__(self, urls: Sequence[str], secret: str | None) -> None:
        self.urls = tuple(urls)
        self._secret = secret or ""
        self._send, self._receive = trio.open_memory_channel[tuple[str, dict[str, Any]]](
            QUEUE_LENGTH
        )
        self._client: httpx.AsyncClient | None = None
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver queued events until cancelled."""
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_S) as client:
            self._client = client
            task_status.started()
            try:
                async for event, payload in self._receive:
                    for url in self.urls:
                        await self._post(url, event, payload)
            finally:
                self._client = None

    def _request(self, event: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"event": event, "time": time.time(), **payload}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Trioflix-Event": event,
            "X-Trioflix-Signature": sign(self._secret, body, int(time.time())),
        }
        return body, headers

    async def _post(self, url: str, event: str, payload: dict[str, Any]) -> httpx.Response | None:
        if self._client is None:
            return None
        body, headers = self._request(event, payload)
        try:
            with trio.fail_after(DELIVERY_TIMEOUT_S):
                return await self._client.post(url, content=body, headers=headers)
        except (httpx.HTTPError, trio.TooSlowError) as exc:
            logger.warning("webhook %s to %s failed: %s", event, url, exc)
            return None

    async def authorize_publish(self, payload: dict[str, Any]) -> str | None:
        """Ask every hook about a publish; the refusal reason, or ``None`` to go ahead."""
        for url in self.urls:
            with trio.move_on_after(AUTHORIZE_TIMEOUT_S):
                response = await self._post(url, "publish.start", payload)
                if response is not None and not response.is_success:
                    reason = response.text[:200].strip() or f"refused ({response.status_code})"
                    return f"refused by webhook: {reason}"
        return None

    def notify(self, event: str, payload: dict[str, Any]) -> None:
        """Queue an event for delivery without waiting."""
        if not self.urls:
            return
        try:
            self._send.send_nowait((event, payload))
        except trio.WouldBlock:
            self.dropped += 1
            logger.warning("webhook queue full: dropped %s", event)
