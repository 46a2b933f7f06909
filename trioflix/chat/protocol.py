"""The chat wire protocol: client frames in, server frames out (docs/chat-protocol.md).

Every frame is a JSON object with a ``type``. Client frames are decoded strictly
(unknown fields and wrong types are errors) into the structs below. Server frames
are encoded here, once per event, and the resulting ``str`` is what every
recipient's queue holds: nothing is serialised per recipient.

A server text frame may carry several JSON objects separated by ``"\\n"`` (the
writer coalesces queued frames when a client falls behind). JSON never contains a
raw newline, so splitting on it is always safe.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any

import msgspec

from trioflix.store import holds_nul

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "MAX_TIMEOUT_S",
    "ChatError",
    "ClientFrame",
    "CloseCode",
    "IdempotencyKey",
    "decode_client_frame",
    "encode",
    "error_frame",
    "event_parts",
]

MAX_TIMEOUT_S = 14 * 24 * 3600  # moderators time users out for 1 s to 2 weeks
MAX_REASON_CHARS = 200
MAX_TERM_CHARS = 64


class CloseCode(IntEnum):
    """Websocket close codes the server uses (4000-4999 are for applications, RFC 6455 7.4.2)."""

    GOING_AWAY = 1001  # server shutting down
    POLICY_VIOLATION = 1008  # flooding with refused frames
    MESSAGE_TOO_BIG = 1009
    INVALID_TOKEN = 4401
    NO_SUCH_CHANNEL = 4404
    TOO_SLOW = 4408  # the outgoing queue overflowed: the client does not read fast enough


class ChatError(Exception):
    """A refused action. Websocket: an ``error`` frame; REST: ``status`` with the same code.

    ``retry_after`` (seconds) is set for rate limits, slow mode and timeouts.
    ``detail`` holds further fields of the ``error`` frame (a ban's ``reason``, a
    timeout's ``seconds`` and ``until``), so a client can explain the refusal.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        retry_after: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.detail = detail or {}


Nonce = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
UserName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON_CHARS)]
MessageId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Term = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TERM_CHARS)]
# A SuperChat attempt's key, chosen by the client (a UUID, say): printable ASCII.
IDEMPOTENCY_KEY_PATTERN = "^[\\x21-\\x7e]+$"
IdempotencyKey = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=IDEMPOTENCY_KEY_PATTERN)
]


class _Frame(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    nonce: Nonce


class Send(_Frame, tag="send"):
    text: str


class SendSuperChat(_Frame, tag="superchat"):
    amount: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
    text: str = ""
    idempotency_key: IdempotencyKey | None = None


class Delete(_Frame, tag="delete"):
    message_id: MessageId


class Ban(_Frame, tag="ban"):
    user: UserName
    reason: Reason = ""


class Unban(_Frame, tag="unban"):
    user: UserName


class Timeout(_Frame, tag="timeout"):
    user: UserName
    seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_TIMEOUT_S)]
    reason: Reason = ""


class UpdateSettings(_Frame, tag="settings"):
    slow_mode_s: Annotated[int, msgspec.Meta(ge=0, le=86400)] | None = None
    emote_only: bool | None = None
    min_account_age_s: Annotated[int, msgspec.Meta(ge=0, le=365 * 86400)] | None = None
    max_message_length: Annotated[int, msgspec.Meta(ge=1, le=500)] | None = None


class BlockedTerms(_Frame, tag="blocked_terms"):
    add: Annotated[list[Term], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    remove: Annotated[list[Term], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )


class Moderator(_Frame, tag="moderator"):
    user: UserName
    add: bool


ClientFrame = (
    Send
    | SendSuperChat
    | Delete
    | Ban
    | Unban
    | Timeout
    | UpdateSettings
    | BlockedTerms
    | Moderator
)

_decoder = msgspec.json.Decoder(ClientFrame)


class _NonceOnly(msgspec.Struct):
    nonce: Any = None


_nonce_decoder = msgspec.json.Decoder(_NonceOnly)


def decode_client_frame(text: str) -> ClientFrame:
    """Decode one client frame.

    Raises:
        ChatError: ``malformed_frame`` for invalid JSON, ``invalid_frame`` for a frame
            that does not fit the protocol (the message says which field).
    """
    try:
        frame: ClientFrame = _decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise ChatError("invalid_frame", str(exc)) from None
    except msgspec.DecodeError as exc:
        # Also JSON that escapes an unpaired surrogate ("\ud800"): it is no text.
        raise ChatError("malformed_frame", f"not a JSON object: {exc}") from None
    if holds_nul(msgspec.structs.astuple(frame)):
        # As the API refuses it in every body: PostgreSQL cannot store it.
        raise ChatError("invalid_frame", "text may not contain NUL (U+0000)")
    return frame


def nonce_of(text: str) -> str | None:
    """The ``nonce`` of a frame that failed to decode, if it has a usable one (to echo it)."""
    try:
        nonce = _nonce_decoder.decode(text).nonce
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return nonce if isinstance(nonce, str) and 0 < len(nonce) <= 64 else None


_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> str:
    """JSON text of a server frame."""
    return _encoder.encode(obj).decode()


def error_frame(error: ChatError, nonce: str | None = None) -> str:
    body: dict[str, Any] = {
        "type": "error",
        **error.detail,
        "code": error.code,
        "message": error.message,
    }
    if nonce is not None:
        body["nonce"] = nonce
    if error.retry_after is not None:
        body["retry_after"] = round(error.retry_after, 3)
    return encode(body)


def ack_frame(nonce: str, message_id: int | None = None) -> str:
    body: dict[str, Any] = {"type": "ack", "nonce": nonce}
    if message_id is not None:
        body["id"] = message_id
    return encode(body)


def event_parts(kind: str, fields: dict[str, Any]) -> tuple[str, str]:
    """Split a room event's frame around its id, which is assigned later (by the bus).

    ``head + str(id) + tail`` is the frame. The bus joins them once, wherever the id
    comes from (an in-process counter, or a Lua script in Redis).
    """
    rest = encode(fields)
    head = '{"type":' + encode(kind) + ',"id":'
    tail = "}" if rest == "{}" else "," + rest[1:]
    return head, tail
