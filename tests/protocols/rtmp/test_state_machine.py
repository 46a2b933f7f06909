"""Every (state, event) pair: a valid new state on both sides, or a local error and no change.

A Hypothesis state machine drives a client and a server ``Connection`` wired
together with random events from either side, including ones the state machine
must refuse. Whatever one side manages to send, the other accepts, and both end
up agreeing on the connection state and on every message stream's state
(h2's state-machine tests are the model).

An ``ast`` check keeps every state change inside ``_state.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from protocols import rtmp
from tests.protocols.rtmp.helpers import ConnectionPair

STREAM_IDS_RANGE = range(1, 4)
STREAM_IDS = st.sampled_from(STREAM_IDS_RANGE)

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
    st.just(rtmp.Command(name="checkBandwidth")),
    st.builds(lambda s: rtmp.DataMessage(stream_id=s, name="onTextData"), STREAM_IDS),
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
    st.just(rtmp.Command(name="onBWDone")),
    st.builds(lambda s: rtmp.Metadata(stream_id=s, metadata={"duration": 0.0}), STREAM_IDS),
    st.builds(lambda s: rtmp.DataMessage(stream_id=s, name="onCuePoint"), STREAM_IDS),
    st.builds(lambda s: rtmp.Status(stream_id=s, code="NetStream.Play.Reset"), STREAM_IDS),
    st.builds(lambda s: rtmp.StreamBegin(stream_id=s), STREAM_IDS),
)


class BothSides(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = ConnectionPair()

    @initialize(streams=st.none() | st.integers(0, len(STREAM_IDS_RANGE)))
    def open(self, streams: int | None) -> None:
        # Random events seldom line up connect, accept and createStream, so most
        # runs start connected with some streams already made: the per-stream
        # rules then get the steps. None: start right after the handshake.
        if streams is None:
            self.pair.handshake()
            return
        self.pair.connect()
        for _ in range(streams):
            self.pair.create_stream()

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
# Cheap steps (no I/O), and stream-level bugs need a few events in a row: more
# examples than the profile's default.
TestBothSides.settings = settings(max_examples=400, deadline=None)


# --- every state change happens in _state.py ---------------------------------------
#
# ConnectionState.process_event is the one place that applies the tables, so a
# change made anywhere else would bypass them. The checker below finds the ways code
# changes a state: storing to ``.state``, storing into or deleting from the streams
# mapping (through ``.streams`` or a name bound to it), calling a mutating method
# on it, or reaching into ConnectionState's private ``_streams`` from outside.

RTMP_DIR = Path(rtmp.__file__).parent
_MUTATORS = frozenset(("pop", "popitem", "clear", "update", "setdefault", "__setitem__"))


def state_changes(source: str) -> list[str]:
    """``line: code`` for every statement in ``source`` that changes a state."""
    tree = ast.parse(source)
    attributes = {"streams"}  # attribute names bound to ConnectionState.streams
    names: set[str] = set()  # variable names bound to it
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                # ``x = a.streams`` and ``a.streams = x`` both make x the same mapping.
                for alias, other in ((target, node.value), (node.value, target)):
                    if isinstance(other, ast.Attribute) and other.attr == "streams":
                        if isinstance(alias, ast.Attribute):
                            attributes.add(alias.attr)
                        elif isinstance(alias, ast.Name):
                            names.add(alias.id)

    def is_streams(expr: ast.expr) -> bool:
        return (isinstance(expr, ast.Attribute) and expr.attr in attributes) or (
            isinstance(expr, ast.Name) and expr.id in names
        )

    found = []
    for node in ast.walk(tree):
        writes = isinstance(getattr(node, "ctx", None), ast.Store | ast.Del)
        if (
            (writes and isinstance(node, ast.Subscript) and is_streams(node.value))
            or (writes and isinstance(node, ast.Attribute) and node.attr == "state")
            or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MUTATORS
                and is_streams(node.func.value)
            )
            or (
                isinstance(node, ast.Attribute)
                and node.attr == "_streams"
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            )
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "path", sorted(p for p in RTMP_DIR.glob("*.py") if p.name != "_state.py"), ids=lambda p: p.name
)
def test_only_the_state_module_changes_states(path: Path) -> None:
    assert state_changes(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "conn._cstate.streams[1] = StreamState.IDLE",
        "del self._cstate.streams[stream_id]",
        "streams = self._cstate.streams\nstreams[1] = StreamState.PLAYING",
        "self._streams = cstate.streams\n...\nself._streams.pop(1)",
        "self._cstate.state = State.ERROR",
        "self._cstate._streams[1] = StreamState.IDLE",
    ],
)
def test_the_checker_finds_state_changes(source: str) -> None:
    assert len(state_changes(source)) == 1


def test_the_checker_finds_the_changes_in_the_state_module() -> None:
    # The positive control: _state.py does change both kinds of state.
    found = state_changes((RTMP_DIR / "_state.py").read_text())
    assert any(": self.state" in line for line in found)
    assert any(": self._streams[" in line for line in found)
