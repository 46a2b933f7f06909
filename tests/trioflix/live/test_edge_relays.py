"""An edge relay against a real HTTP origin on a socket: a relay closing for want of
viewers is not handed to a viewer who arrives while it closes."""

from __future__ import annotations

from functools import partial

import h11
import trio

from trioflix.cluster.lease import Origin
from trioflix.cluster.pull_auth import PullTokens
from trioflix.live.channel.packets import flv_stream_header
from trioflix.live.edge.pull import session_headers
from trioflix.live.edge.relays import EdgeRelays

SESSION_HEADERS = {
    "x-trioflix-user-id": "1",
    "x-trioflix-session-id": "7",
    "x-trioflix-key-id": "3",
    "x-trioflix-started-at": "1.0",
}


async def _serve_pull(stream: trio.SocketStream) -> None:
    """Answer an internal pull with a session's headers and an FLV header, then hold
    the stream open as a live channel with no media yet does."""
    conn = h11.Connection(h11.SERVER)
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await stream.receive_some(65536))
    assert isinstance(event, h11.Request)
    head = conn.send(h11.Response(status_code=200, headers=list(SESSION_HEADERS.items())))
    body = conn.send(h11.Data(data=flv_stream_header()))
    assert head is not None and body is not None
    async with stream:
        await stream.send_all(head + body)
        await trio.sleep_forever()


async def test_a_relay_closing_for_want_of_viewers_is_not_handed_out(
    nursery: trio.Nursery,
) -> None:
    listeners = await nursery.start(partial(trio.serve_tcp, _serve_pull, 0, host="127.0.0.1"))
    url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    lookups = 0
    handed_out_while_closing = []

    async def origin_of(channel: str) -> Origin | None:
        # The first lookup finds the origin; a later one (the pull has ended) is a
        # moment in which a new viewer could ask for the relay: note what it would
        # get, then hang as a slow Redis would (until the lookup's own timeout).
        nonlocal lookups
        lookups += 1
        if lookups > 1:
            handed_out_while_closing.append(relays.get_nowait(channel))
            await trio.sleep_forever()
        return Origin(host="origin", advertise_url=url, epoch=1)

    # Idle at once: the relay closes at its first look at its viewers, before any
    # lease read of its own.
    relays = EdgeRelays(
        origin_of=origin_of, this_host="edge", tokens=PullTokens("s" * 64), idle_s=0.01
    )
    await nursery.start(relays.run)
    stream = await relays.open("alice")
    assert stream is not None
    assert session_headers(stream) == SESSION_HEADERS | {"x-trioflix-started-at": "1.0"}
    with trio.fail_after(10):
        while relays.get_nowait("alice") is stream:  # noqa: ASYNC110 (polling)
            await trio.sleep(0.05)
    assert relays.get_nowait("alice") is None
    with trio.fail_after(10):
        while stream.ended_reason is None:  # noqa: ASYNC110 (polling)
            await trio.sleep(0.05)
    assert stream.ended_reason == "no viewers"
    assert handed_out_while_closing == []
    assert lookups == 1  # a relay closed for want of viewers looks for no other origin
