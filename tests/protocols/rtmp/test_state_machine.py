"""Every (state, event) pair: a valid new state on both sides, or a local error and no change.

A Hypothesis state machine drives a client and a server ``Connection`` wired
together with random events from either side, including ones the state machine
must refuse. Whatever one side manages to send, the other accepts, and both end
up agreeing on the connection state and on every message stream's state
(h2's state-machine tests are the model).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from protocols import rtmp
from tests.protocols.rtmp.helpers import ConnectionPair

STREAM_IDS = st.integers(min_value=1, max_value=3)

CLIENT_EVENTS = st.one_of(
    st.just(rtmp.Connect(app="live")),
    st.just(rtmp.CreateStream()),
    st.builds(lambda s: rtmp.Publish(stream_id=s, stream_key="key"), STREAM_IDS),
    st.builds(lambda s: rtmp.Play(stream_id=s, stream_name="alice"), STREAM_IDS),
    st.builds(lambda s: rtmp.CloseStream(stream_id=s), STREAM_IDS),
    st.builds(lambda s: rtmp.DeleteStream(stream_id=s), STREAM_IDS),
    st.builds(lambda s: rtmp.VideoData(stream_id=s, timestamp=40, payload=b"\x17\x01"), STREAM_IDS),
    st.builds(lambda s: rtmp.AudioData(stream_id=s, timestamp=40, payload=b"\xaf\x01"), STREAM_IDS),
    st.builds(lambda s: rtmp.Metadata(stream_id=s, metadata={"width": 640.0}), STREAM_IDS),
    st.just(rtmp.PingRequest(timestamp=7)),
)

SERVER_EVENTS = st.one_of(
    st.just(rtmp.ConnectAccepted()),
    st.just(rtmp.ConnectRejected()),
    st.builds(lambda s: rtmp.PublishAccepted(stream_id=s), STREAM_IDS),
    st.builds(lambda s: rtmp.PublishRejected(stream_id=s), STREAM_IDS),
    st.builds(lambda s: rtmp.PlayAccepted(stream_id=s), STREAM_IDS),
    st.builds(lambda s: rtmp.PlayRejected(stream_id=s), STREAM_IDS),
    st.builds(lambda s: rtmp.VideoData(stream_id=s, timestamp=80, payload=b"\x27\x01"), STREAM_IDS),
    st.builds(lambda s: rtmp.StreamEOF(stream_id=s), STREAM_IDS),
    st.just(rtmp.PingRequest(timestamp=9)),
)


class BothSides(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = ConnectionPair()
        self.pair.handshake()

    def _send(self, conn: rtmp.Connection, event: rtmp.Event) -> None:
        before = (conn.state, conn.streams)
        try:
            conn.send(event)
        except rtmp.LocalProtocolError:
            assert (conn.state, conn.streams) == before  # a refused send changes nothing
            assert conn.data_to_send() == b""
            return
        # What one side may send, the other must accept (no RemoteProtocolError here).
        self.pair.transfer()

    @rule(event=CLIENT_EVENTS)
    def client_sends(self, event: rtmp.Event) -> None:
        self._send(self.pair.client, event)

    @rule(event=SERVER_EVENTS)
    def server_sends(self, event: rtmp.Event) -> None:
        self._send(self.pair.server, event)

    @invariant()
    def both_sides_agree(self) -> None:
        client, server = self.pair.client, self.pair.server
        assert client.state == server.state
        assert client.streams == server.streams
        assert client.state is not rtmp.State.ERROR


TestBothSides = BothSides.TestCase
