"""Message layer (RTMP spec 5.4, 6.2, 7.1): type ids, control payloads, commands."""

from __future__ import annotations

import struct

from protocols.amf import AMFDecodeError, AMFValue, decode_amf0, encode_amf0

from ._errors import LocalProtocolError

__all__ = [
    "AGGREGATE",
    "AMF0_COMMAND",
    "AMF0_DATA",
    "AMF3_COMMAND",
    "AMF3_DATA",
    "AUDIO",
    "VIDEO",
    "decode_command",
    "decode_data",
    "split_aggregate",
]

# Message type ids (RTMP spec 5.4 and 7.1).
SET_CHUNK_SIZE = 1
ABORT = 2
ACKNOWLEDGEMENT = 3
USER_CONTROL = 4
WINDOW_ACK_SIZE = 5
SET_PEER_BANDWIDTH = 6
AUDIO = 8
VIDEO = 9
AMF3_DATA = 15
AMF3_SHARED_OBJECT = 16
AMF3_COMMAND = 17
AMF0_DATA = 18
AMF0_SHARED_OBJECT = 19
AMF0_COMMAND = 20
AGGREGATE = 22

# User Control event types (7.1.7).
UC_STREAM_BEGIN = 0
UC_STREAM_EOF = 1
UC_STREAM_DRY = 2
UC_SET_BUFFER_LENGTH = 3
UC_STREAM_IS_RECORDED = 4
UC_PING_REQUEST = 6
UC_PING_RESPONSE = 7

U32 = struct.Struct(">I")
_UC = struct.Struct(">HI")
_PEER_BW = struct.Struct(">IB")

# Status hint for undecodable commands: Flash's own code for "Packet encoded in an
# unidentified format".
BAD_VERSION = "NetConnection.Call.BadVersion"


def u32(value: int) -> bytes:
    return U32.pack(value & 0xFFFFFFFF)


def read_u32(payload: bytes, what: str) -> int:
    if len(payload) < 4:
        raise LocalProtocolError(f"{what} message of {len(payload)} bytes, need 4")
    value: int = U32.unpack_from(payload)[0]
    return value


def user_control(event: int, value: int) -> bytes:
    return _UC.pack(event, value & 0xFFFFFFFF)


def read_user_control(payload: bytes) -> tuple[int, int]:
    if len(payload) < 2:
        raise LocalProtocolError(f"User Control message of {len(payload)} bytes, need >= 2")
    event = (payload[0] << 8) | payload[1]
    value = int.from_bytes(payload[2:6], "big") if len(payload) >= 6 else 0
    return event, value


def peer_bandwidth(size: int, limit_type: int) -> bytes:
    return _PEER_BW.pack(size, limit_type)


def _amf(payload: bytes, what: str) -> list[AMFValue]:
    try:
        return decode_amf0(payload)
    except AMFDecodeError as exc:
        raise LocalProtocolError(f"undecodable {what}: {exc}", status_hint=BAD_VERSION) from None


def decode_command(type_id: int, payload: bytes) -> tuple[str, float, AMFValue, list[AMFValue]]:
    """Command message -> (name, transaction id, command object, arguments)."""
    if type_id == AMF3_COMMAND:
        # 7.1.2: AMF3 commands start with a format byte 0, then AMF0 values that may
        # switch to AMF3 individually through the avmplus marker.
        if not payload or payload[0] != 0:
            raise LocalProtocolError(
                "AMF3 command message without the leading 0 format byte", status_hint=BAD_VERSION
            )
        payload = payload[1:]
    values = _amf(payload, "command message")
    if len(values) < 2 or not isinstance(values[0], str) or not _is_number(values[1]):
        raise LocalProtocolError(
            f"command message is not (name, transaction id, ...): {values[:2]!r}",
            status_hint=BAD_VERSION,
        )
    transaction_id = float(values[1])  # type: ignore[arg-type]
    command_object = values[2] if len(values) > 2 else None
    return values[0], transaction_id, command_object, values[3:]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def decode_data(type_id: int, payload: bytes) -> tuple[str, list[AMFValue]]:
    """Data message -> (handler name, values)."""
    if type_id == AMF3_DATA and payload[:1] == b"\x00":
        payload = payload[1:]  # same format byte as AMF3 commands, when present
    values = _amf(payload, "data message")
    if not values or not isinstance(values[0], str):
        raise LocalProtocolError(
            "data message does not start with a handler name", status_hint=BAD_VERSION
        )
    return values[0], values[1:]


def command(name: str, transaction_id: float, command_object: object, *args: object) -> bytes:
    return encode_amf0(name, transaction_id, command_object, *args)


def split_aggregate(timestamp: int, payload: bytes) -> list[tuple[int, int, bytes]]:
    """Aggregate message (7.1.6) -> [(type_id, timestamp, body)].

    Sub-messages are FLV tags: type(1) size(3) timestamp(3) timestamp-high(1)
    stream id(3), body, back pointer(4). Their timestamps are shifted so the first
    one lands on the aggregate's own timestamp.
    """
    parts: list[tuple[int, int, bytes]] = []
    pos = 0
    offset: int | None = None
    while pos < len(payload):
        if pos + 11 > len(payload):
            raise LocalProtocolError("truncated sub-message header in aggregate message")
        type_id = payload[pos]
        size = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        sub_ts = int.from_bytes(payload[pos + 4 : pos + 7], "big") | (payload[pos + 7] << 24)
        body_end = pos + 11 + size
        if body_end + 4 > len(payload):
            raise LocalProtocolError("truncated sub-message body in aggregate message")
        if offset is None:
            offset = timestamp - sub_ts
        parts.append((type_id, (sub_ts + offset) & 0xFFFFFFFF, payload[pos + 11 : body_end]))
        pos = body_end + 4
    return parts
