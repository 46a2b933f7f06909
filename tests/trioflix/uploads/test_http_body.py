"""FlowControlledBody: one wake-up per write's worth of bytes, no copies, a bounded buffer."""

from __future__ import annotations

import trio
import trio.testing
from werkzeug.exceptions import RequestEntityTooLarge

from trioflix.uploads.http_body import HIGH_WATER_BYTES, WRITE_BYTES, FlowControlledBody

PIECE = 64 * 1024  # what hypercorn hands over per socket read


async def _send(body: FlowControlledBody, pieces: list[bytes]) -> None:
    for piece in pieces:
        await body.put(piece, more=True)
    await body.put(b"", more=False)


async def test_the_reader_wakes_for_a_whole_write_and_gets_the_pieces_uncopied() -> None:
    body = FlowControlledBody(None, None)
    extra = 4
    pieces = [bytes([i]) * PIECE for i in range(WRITE_BYTES // PIECE + extra)]
    seen: list[int] = []

    async def reader() -> None:
        await body.wait_buffered(WRITE_BYTES)
        seen.append(body.buffered)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        nursery.start_soon(_send, body, pieces)
        await trio.testing.wait_all_tasks_blocked()
        # The reader woke once, with a whole write buffered; the sender stopped there.
        assert seen == [WRITE_BYTES] == [HIGH_WATER_BYTES]
        assert body.buffered == HIGH_WATER_BYTES
        taken = body.take()
        assert len(taken) == WRITE_BYTES // PIECE
        assert all(got is sent for got, sent in zip(taken, pieces, strict=False))
        await trio.testing.wait_all_tasks_blocked()
    # Taking made room: the rest arrived and the body ended.
    assert body.complete and body.buffered == extra * PIECE
    await body.wait_buffered(WRITE_BYTES)  # the end: returns with what is left
    assert b"".join(body.take()) == b"".join(pieces[-extra:])


async def test_awaiting_the_whole_body_turns_the_limit_off() -> None:
    body = FlowControlledBody(None, None)
    pieces = [bytes([i]) * PIECE for i in range(2 * WRITE_BYTES // PIECE)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send, body, pieces)
        whole = await body
    assert whole == b"".join(pieces)
    assert await body == whole  # awaited again: the same bytes


async def test_iterating_yields_everything_in_order() -> None:
    body = FlowControlledBody(None, None)
    pieces = [bytes([i]) * 1000 for i in range(50)]
    received = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send, body, pieces)
        async for data in body:
            received += data
    assert received == b"".join(pieces)


async def _whole(body: FlowControlledBody, pieces: list[bytes]) -> bytes | Exception:
    """The body awaited whole (as a route reads an image) while ``pieces`` arrive, or
    what awaiting it raised."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send, body, pieces)
        try:
            data: bytes = await body
        except RequestEntityTooLarge as exc:
            return exc
    return data


async def test_a_route_limit_replaces_the_apps() -> None:
    app_limit, route_limit = 64 * 1024, 2 * 1024 * 1024
    pieces = [b"x" * PIECE] * (route_limit // PIECE)
    # Announced within the route's limit: the app's refusal at the start is lifted.
    body = FlowControlledBody(route_limit, app_limit)
    assert body.too_large
    body.set_size_limit(route_limit)
    assert not body.too_large
    with trio.fail_after(10):
        data = await _whole(body, pieces)
    assert isinstance(data, bytes) and len(data) == route_limit
    # Announced past it: still refused.
    body = FlowControlledBody(route_limit + 1, app_limit)
    body.set_size_limit(route_limit)
    assert body.too_large
    # Not announced (chunked): refused once more than the limit has arrived.
    body = FlowControlledBody(None, app_limit)
    body.set_size_limit(route_limit)
    with trio.fail_after(10):
        refused = await _whole(body, [*pieces, b"x"])
    assert isinstance(refused, RequestEntityTooLarge) and body.too_large
