"""One chat websocket: authenticate, join the room, then read client frames and write server frames.

Two tasks per connection, in one nursery: the reader (handles one client frame at
a time, so a client that floods slows down only itself) and the writer (drains
the member's bounded queue, coalescing queued frames into one websocket frame
when the client has fallen behind; while it is idle, the fan-out writes to a
direct socket itself). When the room drops the member (too slow, flooding), the
nursery is cancelled and the socket is closed with the code.

Failure policy: a misbehaving client gets error frames and, past a limit, a close
code; an unexpected exception is logged with its traceback and closes only this
connection (1011). ``Cancelled`` (the client went away, or shutdown) is never caught.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

import trio

from trioflix.auth.tokens import InvalidToken
from trioflix.chat import actions
from trioflix.chat.limits import TokenBucket
from trioflix.chat.protocol import (
    Ban,
    BlockedTerms,
    ChatError,
    CloseCode,
    Delete,
    Moderator,
    Send,
    SendSuperChat,
    Timeout,
    Unban,
    UpdateSettings,
    ack_frame,
    decode_client_frame,
    error_frame,
    nonce_of,
)
from trioflix.chat.room import FLUSH, FrameSocket
from trioflix.store import StoreUnavailable
from trioflix.store.users import get_user

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trioflix.auth.tokens import TokenIssuer
    from trioflix.chat.hub import ChatHub
    from trioflix.chat.protocol import ClientFrame
    from trioflix.chat.room import Member
    from trioflix.store.users import User

__all__ = ["WebsocketLike", "serve_connection"]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0  # the close frame waits behind queued data; a stuck peer gets no more
TRY_AGAIN_LATER = 1013  # RFC 6455 7.4.1 (IANA registry): the server cannot serve right now
INTERNAL_ERROR = 1011

_CLOSE_FOR = {
    "invalid_token": CloseCode.INVALID_TOKEN,
    "no_such_channel": CloseCode.NO_SUCH_CHANNEL,
    "invalid_since": CloseCode.POLICY_VIOLATION,
}


class WebsocketLike(Protocol):
    """The part of Quart's ``websocket`` the session uses."""

    async def accept(self) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def send(self, data: str | bytes) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


async def serve_connection(
    ws: WebsocketLike, hub: ChatHub, tokens: TokenIssuer, channel: str, args: Mapping[str, str]
) -> None:
    """Serve one chat websocket until the client leaves or is dropped.

    ``args`` are the query parameters: ``token`` (optional; none means read-only)
    and ``since`` (the last message id the client saw, to resume).
    """
    await ws.accept()
    close_code: int | None = None
    try:
        user = await _authenticate(hub, tokens, args.get("token"))
        since = _parse_since(args.get("since"))
        async with hub.join(channel, user) as member:
            await _serve_member(ws, hub, member, since)
            close_code = member.close_code
    except ChatError as exc:
        await ws.send(error_frame(exc))
        close_code = _CLOSE_FOR.get(exc.code, TRY_AGAIN_LATER)
    except StoreUnavailable as exc:
        logger.warning("chat join failed: %s", exc)
        await ws.send(error_frame(ChatError("unavailable", "try again shortly", status=503)))
        close_code = TRY_AGAIN_LATER
    if close_code is not None:
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            await ws.close(close_code)


async def _authenticate(hub: ChatHub, tokens: TokenIssuer, token: str | None) -> User | None:
    if not token:
        return None
    try:
        user_id = tokens.verify(token)
    except InvalidToken as exc:
        raise ChatError("invalid_token", str(exc), status=401) from None
    user = await get_user(hub.db, user_id)
    if user is None:
        raise ChatError("invalid_token", "the token's user does not exist", status=401)
    return user


def _parse_since(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ChatError("invalid_since", "since must be a message id")
    return int(text)


async def _serve_member(ws: WebsocketLike, hub: ChatHub, member: Member, since: int | None) -> None:
    welcome, welcome_last = await hub.welcome(member, since)
    await ws.send(welcome)
    # The room's history, up to ~100 KiB: this frame lives as long as the connection.
    del welcome
    try:
        async with trio.open_nursery() as nursery:
            member.scope = nursery.cancel_scope
            if member.close_code is not None:  # dropped while the welcome was sent
                nursery.cancel_scope.cancel()
            nursery.start_soon(_write, ws, member, welcome_last, hub.limits.max_batch)
            await _read(ws, hub, member)
    except Exception:
        logger.exception("bug in a chat connection; closing it")
        member.drop(INTERNAL_ERROR)


async def _write(ws: WebsocketLike, member: Member, welcome_last: int, max_batch: int) -> None:
    outbox = member.outbox
    member.welcome_last = welcome_last
    # While this task waits on an empty queue, the fan-out writes to a direct socket
    # itself (trioflix.chat.room): a delivery then wakes no task at all.
    direct = ws if isinstance(ws, FrameSocket) else None
    while True:
        if direct is None:
            item = await outbox.receive()
        else:
            try:
                item = outbox.receive_nowait()
            except trio.WouldBlock:  # once per spell of work, not per delivery
                member.direct = direct
                try:
                    item = await outbox.receive()
                finally:
                    member.direct = None
        if item is FLUSH:
            assert direct is not None
            await direct.flush()
            continue
        seq, frame = item
        if seq and seq <= welcome_last:
            continue  # already in the welcome's history
        # Coalesce what is already queued (never wait for more). ``queued`` is counted
        # first so that the common case, an empty queue, allocates no list and raises
        # no WouldBlock: this loop runs once per member per event.
        queued = min(outbox.statistics().current_buffer_used, max_batch - 1)
        if queued:
            batch = [frame]
            for _ in range(queued):
                seq, frame = outbox.receive_nowait()
                if not (seq and seq <= welcome_last):
                    batch.append(frame)
            frame = "\n".join(batch)
        await ws.send(frame)


async def _read(ws: WebsocketLike, hub: ChatHub, member: Member) -> None:
    limits = hub.limits
    flood = TokenBucket(limits.frames_burst, limits.frames_per_s, time.monotonic())
    refused = 0
    while True:
        data = await ws.receive()
        nonce: str | None = None
        try:
            if isinstance(data, bytes):
                raise ChatError("binary_frame", "frames are JSON text")
            if len(data) > limits.max_frame_chars:
                member.drop(CloseCode.MESSAGE_TOO_BIG)
                return
            wait = flood.take(time.monotonic())
            if wait:
                raise ChatError("rate_limited", "too many frames", retry_after=wait)
            try:
                frame = decode_client_frame(data)
            except ChatError:
                nonce = nonce_of(data)
                raise
            nonce = frame.nonce
            message_id = await _dispatch(hub, member, frame)
        except ChatError as exc:
            member.offer(0, error_frame(exc, nonce))
            refused += 1
            if refused >= limits.refused_frames_before_close:
                member.drop(CloseCode.POLICY_VIOLATION)
                return
        except StoreUnavailable as exc:
            logger.warning("chat action failed: %s", exc)
            member.offer(0, error_frame(ChatError("unavailable", "try again shortly"), nonce))
        else:
            refused = 0
            member.offer(0, ack_frame(frame.nonce, message_id))


async def _dispatch(hub: ChatHub, member: Member, frame: ClientFrame) -> int | None:
    """Carry out one client frame; returns the id of the event it produced, if any."""
    room = member.room
    user = member.user
    assert room is not None and room.state is not None
    if user is None:
        raise ChatError("read_only", "sign in (connect with ?token=) to take part", status=401)
    state = room.state
    match frame:
        case Send():
            return await actions.send_message(hub, room, user, frame.text)
        case SendSuperChat():
            wait = room.rate_check(user.id, state.is_moderator(user.id), time.time())
            if wait:
                raise ChatError("rate_limited", "you are sending too fast", retry_after=wait)
            seq, _ = await actions.send_superchat(
                hub, state, user, frame.amount, frame.currency, frame.text, frame.idempotency_key
            )
            return seq
        case Delete():
            return await actions.delete_message(hub, state, user, frame.message_id)
        case Ban():
            return await actions.ban(hub, state, user, frame.user, frame.reason, None)
        case Timeout():
            return await actions.ban(hub, state, user, frame.user, frame.reason, frame.seconds)
        case Unban():
            return await actions.unban(hub, state, user, frame.user)
        case UpdateSettings():
            changes = {
                "slow_mode_s": frame.slow_mode_s,
                "emote_only": frame.emote_only,
                "min_account_age_s": frame.min_account_age_s,
                "max_message_length": frame.max_message_length,
            }
            seq, _ = await actions.update_settings(hub, state, user, changes)
            return seq
        case BlockedTerms():
            await actions.change_terms(hub, state, user, frame.add, frame.remove)
            return None
        case Moderator():
            await actions.set_moderator(hub, state, user, frame.user, frame.add)
            return None
    raise AssertionError(f"unhandled frame {frame!r}")  # the decoder admits no other type
