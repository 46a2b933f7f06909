"""Chunk stream (RTMP spec 5.3): demultiplexing chunks into messages and back.

Reading is O(n) in the bytes received: headers are parsed in place from the
receive buffer; a chunk is consumed only once it is complete, so a short read
costs a re-parse of at most 18 header bytes. Single-chunk messages are copied
once; multi-chunk messages are assembled in a per-chunk-stream bytearray.

Timestamp rules (5.3.1.2), including the points the spec leaves open, settled as
ffmpeg and librtmp do:

* type 0 carries the absolute timestamp, types 1 and 2 a delta from the previous
  message on the same chunk stream, and a type 3 chunk that starts a new message
  reuses the previous delta; after a type 0 header that "delta" is the type 0
  timestamp itself.
* When the header's timestamp field is 0xFFFFFF, a 4-byte extended timestamp
  follows it, and also follows the basic header of every type 3 chunk on that
  chunk stream until the next type 0/1/2 header.
"""

from __future__ import annotations

from ._errors import LocalProtocolError

__all__ = ["ChunkReader", "ChunkWriter", "RawMessage"]

DEFAULT_CHUNK_SIZE = 128  # RTMP 5.4.1: both directions start at 128 bytes
MAX_CHUNK_SIZE = 0x7FFFFFFF  # 31 bits: 5.4.1, the top bit MUST be 0
_EXTENDED = 0xFFFFFF
_U32 = 0xFFFFFFFF

# (type_id, stream_id, timestamp, payload)
RawMessage = tuple[int, int, int, bytes]


class _InStream:
    """Receive-side state of one chunk stream id."""

    __slots__ = (
        "delta",
        "extended",
        "length",
        "partial",
        "remaining",
        "stream_id",
        "timestamp",
        "type_id",
    )

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.extended = False
        self.remaining = 0  # bytes of the current message still to come
        self.partial = bytearray()


class ChunkReader:
    __slots__ = (
        "_partials",
        "_streams",
        "chunk_size",
        "max_chunk_streams",
        "max_message_size",
        "max_partial_chunk_streams",
    )

    def __init__(
        self, *, max_message_size: int, max_partial_chunk_streams: int, max_chunk_streams: int
    ) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_size = max_message_size
        self.max_partial_chunk_streams = max_partial_chunk_streams
        self.max_chunk_streams = max_chunk_streams
        self._streams: dict[int, _InStream] = {}
        self._partials: set[int] = set()

    def abort(self, csid: int) -> None:
        """Abort message (5.4.2): drop the partly received message on ``csid``."""
        stream = self._streams.get(csid)
        if stream is not None:
            stream.remaining = 0
            stream.partial = bytearray()
        self._partials.discard(csid)

    def read(self, data: bytearray, pos: int) -> tuple[int, RawMessage | None]:
        """Parse chunks from ``data[pos:]`` until a message completes.

        Returns ``(new_pos, message)``; ``message`` is None when more bytes are
        needed, with ``new_pos`` after the last complete chunk consumed.
        """
        end = len(data)
        streams = self._streams
        while True:
            if pos >= end:
                return pos, None
            b0 = data[pos]
            if b0 >= 0xC2:  # type 3, one-byte basic header (csid 2..63)
                # Fast path for most chunks of a multi-chunk message: the next one of a
                # message in progress, with no extended timestamp. Same effect as below.
                stream = streams.get(b0 & 0x3F)
                if stream is not None and stream.remaining and not stream.extended:
                    remaining = stream.remaining
                    n = self.chunk_size
                    if n > remaining:
                        n = remaining
                    p = pos + 1
                    if p + n > end:
                        return pos, None
                    stream.partial += data[p : p + n]
                    pos = p + n
                    remaining -= n
                    stream.remaining = remaining
                    if remaining == 0:
                        payload = bytes(stream.partial)
                        stream.partial = bytearray()
                        self._partials.discard(b0 & 0x3F)
                        return pos, (stream.type_id, stream.stream_id, stream.timestamp, payload)
                    continue
            fmt = b0 >> 6
            csid = b0 & 0x3F
            p = pos + 1
            if csid == 0:  # 5.3.1.1: 2-byte form, ids 64..319
                if p + 1 > end:
                    return pos, None
                csid = data[p] + 64
                p += 1
            elif csid == 1:  # 3-byte form, ids 64..65599
                if p + 2 > end:
                    return pos, None
                csid = data[p] + (data[p + 1] << 8) + 64
                p += 2
            stream = streams.get(csid)
            if stream is None:
                if fmt != 0:
                    raise LocalProtocolError(
                        f"chunk type {fmt} on chunk stream {csid} with no previous type 0 header"
                    )
                if len(streams) >= self.max_chunk_streams:
                    raise LocalProtocolError(
                        f"more than {self.max_chunk_streams} chunk streams in use"
                    )
                stream = streams[csid] = _InStream()
            new_message = fmt != 3 or stream.remaining == 0
            if fmt != 3 and stream.remaining:
                raise LocalProtocolError(
                    f"type {fmt} header on chunk stream {csid} while a message is incomplete"
                )
            length = stream.length
            type_id = stream.type_id
            stream_id = stream.stream_id
            field = 0
            if fmt == 0:
                if p + 11 > end:
                    return pos, None
                field = (data[p] << 16) | (data[p + 1] << 8) | data[p + 2]
                length = (data[p + 3] << 16) | (data[p + 4] << 8) | data[p + 5]
                type_id = data[p + 6]
                stream_id = int.from_bytes(data[p + 7 : p + 11], "little")  # 5.3.1.2.1
                p += 11
            elif fmt == 1:
                if p + 7 > end:
                    return pos, None
                field = (data[p] << 16) | (data[p + 1] << 8) | data[p + 2]
                length = (data[p + 3] << 16) | (data[p + 4] << 8) | data[p + 5]
                type_id = data[p + 6]
                p += 7
            elif fmt == 2:
                if p + 3 > end:
                    return pos, None
                field = (data[p] << 16) | (data[p + 1] << 8) | data[p + 2]
                p += 3
            extended = field == _EXTENDED if fmt != 3 else stream.extended
            if extended:
                if p + 4 > end:
                    return pos, None
                ext = int.from_bytes(data[p : p + 4], "big")
                p += 4
                if fmt != 3 or new_message:
                    field = ext
            elif fmt == 3:
                field = stream.delta
            if new_message and length > self.max_message_size:
                raise LocalProtocolError(
                    f"message of {length} bytes exceeds max_message_size={self.max_message_size}"
                )
            remaining = length if new_message else stream.remaining
            n = min(self.chunk_size, remaining)
            if p + n > end:
                return pos, None
            # The whole chunk is here: commit.
            if new_message:
                if fmt == 0:
                    stream.timestamp = field
                else:
                    stream.timestamp = (stream.timestamp + field) & _U32
                stream.delta = field
                stream.length = length
                stream.type_id = type_id
                stream.stream_id = stream_id
                stream.extended = extended
                if n == length:
                    return p + n, (type_id, stream_id, stream.timestamp, bytes(data[p : p + n]))
                if len(self._partials) >= self.max_partial_chunk_streams:
                    raise LocalProtocolError(
                        "more than max_partial_chunk_streams="
                        f"{self.max_partial_chunk_streams} interleaved partial messages"
                    )
                self._partials.add(csid)
            stream.partial += data[p : p + n]
            stream.remaining = remaining - n
            pos = p + n
            if stream.remaining == 0:
                payload = bytes(stream.partial)
                stream.partial = bytearray()
                self._partials.discard(csid)
                return pos, (stream.type_id, stream.stream_id, stream.timestamp, payload)


def _basic_header(fmt: int, csid: int) -> bytes:
    # We only send on chunk streams 2..63 (see _writers.CSID_*): one-byte form.
    return bytes(((fmt << 6) | csid,))


class _OutStream:
    __slots__ = ("delta", "delta_known", "length", "stream_id", "timestamp", "type3", "type_id")

    def __init__(self, csid: int) -> None:
        self.stream_id = -1
        self.type_id = -1
        self.length = -1
        self.timestamp = 0
        self.delta = 0
        self.delta_known = False  # only after a type 1/2 header (see module docstring)
        self.type3 = _basic_header(3, csid)


class ChunkWriter:
    __slots__ = ("_streams", "chunk_size")

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _OutStream] = {}

    def write(
        self,
        out: bytearray,
        csid: int,
        type_id: int,
        stream_id: int,
        timestamp: int,
        payload: bytes | bytearray | memoryview,
    ) -> None:
        """Append ``payload`` as one message, chunked, to ``out``."""
        length = len(payload)
        stream = self._streams.get(csid)
        if stream is None:
            stream = self._streams[csid] = _OutStream(csid)
        if stream.stream_id != stream_id or timestamp < stream.timestamp:
            fmt = 0
            field = timestamp
            stream.delta_known = False
        else:
            field = timestamp - stream.timestamp
            if length != stream.length or type_id != stream.type_id:
                fmt = 1
            elif stream.delta_known and field == stream.delta:
                fmt = 3
            else:
                fmt = 2
            stream.delta = field
            stream.delta_known = True
        stream.stream_id = stream_id
        stream.type_id = type_id
        stream.length = length
        stream.timestamp = timestamp
        extended = field >= _EXTENDED
        ts24 = _EXTENDED if extended else field
        if fmt == 3:
            out += stream.type3
        else:
            out += _basic_header(fmt, csid)
            out += ts24.to_bytes(3, "big")
            if fmt < 2:
                out += length.to_bytes(3, "big")
                out.append(type_id)
                if fmt == 0:
                    out += stream_id.to_bytes(4, "little")
        ext = field.to_bytes(4, "big") if extended else b""
        out += ext
        size = self.chunk_size
        if length <= size:
            out += payload
            return
        view = memoryview(payload)
        out += view[:size]
        continuation = stream.type3 + ext
        for offset in range(size, length, size):
            out += continuation
            out += view[offset : offset + size]
