"""Connection: command flows, automatic replies, state machine, misuse."""

from __future__ import annotations

import pytest

from protocols import flv, rtmp
from protocols.amf import AMFValue, ECMAArray, encode_amf0

from .helpers import ConnectionPair, get_all_events, seeded_random

A = rtmp.AudioData
V = rtmp.VideoData


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def chunk(csid: int, type_id: int, stream_id: int, payload: bytes, timestamp: int = 0) -> bytes:
    """A type 0 chunk with a one-byte basic header (payload must fit one chunk)."""
    return (
        bytes((csid,))
        + timestamp.to_bytes(3, "big")
        + len(payload).to_bytes(3, "big")
        + bytes((type_id,))
        + stream_id.to_bytes(4, "little")
        + payload
    )


def command(*values: object, stream_id: int = 0, amf3: bool = False) -> bytes:
    body = encode_amf0(*values)
    if amf3:
        return chunk(8, 17, stream_id, b"\x00" + body)
    return chunk(8, 20, stream_id, body)


METADATA = ECMAArray({"width": 1280.0, "height": 720.0, "videocodecid": 7.0, "encoder": "test"})


def test_publish_flow() -> None:
    pair = ConnectionPair()
    stream_id = pair.start_publishing("live-key?token=1")
    assert pair.server.streams == {stream_id: rtmp.StreamState.PUBLISHING}
    assert pair.client.streams == pair.server.streams
    sent: list[rtmp.Event] = [
        rtmp.Metadata(stream_id=stream_id, metadata=METADATA),
        V(stream_id=stream_id, timestamp=0, payload=b"\x17\x00" + bytes(40)),
        A(stream_id=stream_id, timestamp=0, payload=b"\xaf\x00\x12\x10"),
        V(stream_id=stream_id, timestamp=33, payload=b"\x27\x01" + bytes(10000)),  # 3 chunks
        A(stream_id=stream_id, timestamp=23, payload=b"\xaf\x01" + bytes(200)),
        A(stream_id=stream_id, timestamp=46, payload=b"\xaf\x01" + bytes(200)),
        A(stream_id=stream_id, timestamp=69, payload=b"\xaf\x01" + bytes(200)),
        A(stream_id=stream_id, timestamp=92, payload=b"\xaf\x01" + bytes(201)),
        V(stream_id=stream_id, timestamp=0x1000000, payload=b"\x27\x01" + bytes(9000)),
        V(stream_id=stream_id, timestamp=0x1000021, payload=b"\x27\x01" + bytes(9000)),
        V(stream_id=stream_id, timestamp=0x1000042, payload=b"\x27\x01" + bytes(9000)),
        rtmp.DataMessage(stream_id=stream_id, name="onTextData", arguments=({"text": "hi"},)),
    ]
    for event in sent:
        pair.client.send(event)
    server_events, client_events = pair.transfer()
    assert server_events == sent
    assert client_events == []

    pair.client.send(rtmp.Command(name="FCUnpublish", transaction_id=9.0, arguments=("k",)))
    pair.client.send(rtmp.DeleteStream(stream_id=stream_id))
    server_events, client_events = pair.transfer()
    assert server_events == [rtmp.DeleteStream(stream_id=stream_id)]
    assert client_events == [
        rtmp.Command(name="_result", transaction_id=9.0, arguments=(None,)),
        rtmp.Status(
            stream_id=stream_id,
            code="NetStream.Unpublish.Success",
            description="Stopped publishing.",
        ),
    ]
    assert pair.server.streams == {}


def test_play_flow() -> None:
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    play = rtmp.Play(stream_id=stream_id, stream_name="alice", start=-1.0, duration=-1.0)
    pair.client.send(play)
    assert pair.transfer() == ([play], [])
    pair.server.accept_play(stream_id)
    assert pair.transfer() == (
        [],
        [
            rtmp.StreamBegin(stream_id=stream_id),
            rtmp.Status(
                stream_id=stream_id,
                code="NetStream.Play.Reset",
                description="Playing and resetting.",
            ),
            rtmp.PlayAccepted(stream_id=stream_id),
            rtmp.DataMessage(stream_id=stream_id, name="|RtmpSampleAccess", arguments=(True, True)),
        ],
    )
    pair.server.send_metadata(stream_id, METADATA)
    pair.server.send_media(stream_id, "video", 0, b"\x17\x00config")
    pair.server.send_media(stream_id, "audio", 0, b"\xaf\x00\x12\x10")
    pair.server.send_media(stream_id, "video", 40, b"\x27\x01" + bytes(5000))
    pair.server.send(rtmp.Status(stream_id=stream_id, code="NetStream.Play.UnpublishNotify"))
    pair.server.send_stream_eof(stream_id)
    assert pair.transfer() == (
        [],
        [
            rtmp.Metadata(stream_id=stream_id, metadata=METADATA),
            V(stream_id=stream_id, timestamp=0, payload=b"\x17\x00config"),
            A(stream_id=stream_id, timestamp=0, payload=b"\xaf\x00\x12\x10"),
            V(stream_id=stream_id, timestamp=40, payload=b"\x27\x01" + bytes(5000)),
            rtmp.Status(stream_id=stream_id, code="NetStream.Play.UnpublishNotify"),
            rtmp.StreamEOF(stream_id=stream_id),
        ],
    )
    pair.client.send(rtmp.CloseStream(stream_id=stream_id))
    assert pair.transfer() == ([rtmp.CloseStream(stream_id=stream_id)], [])
    assert pair.server.streams == {stream_id: rtmp.StreamState.IDLE}


def test_rejections() -> None:
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.send(rtmp.Publish(stream_id=stream_id, stream_key="bad"))
    pair.transfer()
    pair.server.reject_publish(stream_id, description="No such key.")
    assert pair.transfer() == (
        [],
        [rtmp.PublishRejected(stream_id=stream_id, description="No such key.")],
    )
    pair.client.send(rtmp.Play(stream_id=stream_id, stream_name="nobody"))
    pair.transfer()
    pair.server.reject_play(stream_id)
    assert pair.transfer() == ([], [rtmp.PlayRejected(stream_id=stream_id)])
    assert pair.client.streams == pair.server.streams == {stream_id: rtmp.StreamState.IDLE}


def test_connect_rejected() -> None:
    pair = ConnectionPair()
    pair.handshake()
    pair.client.send(rtmp.Connect(app="nope"))
    assert pair.transfer() == ([rtmp.Connect(app="nope")], [])
    pair.server.reject_connect(description="Unknown app.")
    assert pair.transfer() == ([], [rtmp.ConnectRejected(description="Unknown app.")])
    assert pair.client.state is pair.server.state is rtmp.State.REJECTED


def test_close_stream_while_publishing_reports_unpublish() -> None:
    pair = ConnectionPair()
    stream_id = pair.start_publishing()
    pair.client.send(rtmp.CloseStream(stream_id=stream_id))
    assert pair.transfer() == (
        [rtmp.CloseStream(stream_id=stream_id)],
        [
            rtmp.Status(
                stream_id=stream_id,
                code="NetStream.Unpublish.Success",
                description="Stopped publishing.",
            )
        ],
    )
    publish = rtmp.Publish(stream_id=stream_id, stream_key="again", publish_type="record")
    pair.client.send(publish)
    assert pair.transfer() == ([publish], [])


def test_acknowledgements_after_the_window() -> None:
    pair = ConnectionPair(window_ack_size=1000)
    stream_id = pair.start_publishing()
    received_before = pair.server.bytes_received
    for ts in range(5):
        pair.client.send(A(stream_id=stream_id, timestamp=ts, payload=bytes(400)))
    pair.transfer()
    # The client learnt our window from Set Peer Bandwidth and answered with its own
    # Window Acknowledgement Size of 1000, so both sides acknowledge every 1000 bytes.
    assert pair.server.bytes_received > received_before + 2000
    assert pair.client.peer_acknowledged == pair.server.bytes_received
    assert pair.server.peer_acknowledged > 0


def test_ping_is_answered_automatically_both_ways() -> None:
    pair = ConnectionPair()
    pair.connect()
    pair.client.send(rtmp.PingRequest(timestamp=0xDEADBEEF))
    assert pair.transfer() == ([], [rtmp.PingResponse(timestamp=0xDEADBEEF)])
    pair.server.send(rtmp.PingRequest(timestamp=7))
    assert pair.transfer() == ([rtmp.PingResponse(timestamp=7)], [])


def raw_server() -> rtmp.Connection:
    """A server right after a plain handshake: no chunk stream state yet."""
    server = rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(5))
    server.receive_data(b"\x03" + bytes(1536) + bytes(1536))
    assert get_all_events(server) == [rtmp.HandshakeComplete(digest=False)]
    server.data_to_send()
    return server


def test_ping_reply_wire_bytes() -> None:
    server = raw_server()
    assert server.bytes_to_send == 0
    server.receive_data(h("02 000000 000006 04 00000000 0006 12345678"))
    assert get_all_events(server) == []
    assert server.bytes_to_send == 18
    assert server.data_to_send() == h("02 000000 000006 04 00000000 0007 12345678")
    assert server.bytes_to_send == 0


CONNECT = encode_amf0(
    "connect",
    1.0,
    {"app": "live", "tcUrl": "rtmp://h/live", "objectEncoding": 3.0, "fpad": False},
)


def test_connect_and_accept_wire_bytes() -> None:
    server = raw_server()
    server.receive_data(chunk(3, 20, 0, CONNECT))
    assert get_all_events(server) == [
        rtmp.Connect(
            app="live",
            tc_url="rtmp://h/live",
            properties={"objectEncoding": 3.0, "fpad": False},
        )
    ]
    server.accept_connect()
    result = encode_amf0(
        "_result",
        1.0,
        {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
        {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": 3.0,
        },
    )
    assert server.data_to_send() == (
        h("02 000000 000004 05 00000000 002625a0")  # Window Acknowledgement Size 2500000
        + h("42 000000 000005 06 002625a0 02")  # Set Peer Bandwidth, dynamic (type 1 header)
        + h("42 000000 000004 01 00001000")  # Set Chunk Size 4096
        + chunk(3, 20, 0, result)
    )
    assert server.state is rtmp.State.CONNECTED


def test_amf3_command_and_data_messages() -> None:
    server = raw_server()
    server.receive_data(command("connect", 1.0, {"app": "live"}, amf3=True))
    assert get_all_events(server) == [rtmp.Connect(app="live")]
    server.accept_connect()
    server.receive_data(command("createStream", 2.0, None, amf3=True))
    assert get_all_events(server) == [rtmp.StreamCreated(stream_id=1)]
    # AMF3 value behind the avmplus marker: the stream name as an AMF3 string.
    server.receive_data(
        chunk(8, 17, 1, b"\x00" + encode_amf0("publish", 0.0, None) + b"\x11\x06\x07key")
    )
    assert get_all_events(server) == [rtmp.Publish(stream_id=1, stream_key="key")]
    server.accept_publish(1)
    server.receive_data(
        chunk(5, 15, 1, b"\x00" + encode_amf0("@setDataFrame", "onMetaData", {"w": 1.0}))
    )
    server.receive_data(chunk(5, 18, 1, encode_amf0("onMetaData", {"w": 2.0}), timestamp=5))
    server.receive_data(chunk(5, 18, 1, encode_amf0("onMetaData", "not a dict")))
    assert get_all_events(server) == [
        rtmp.Metadata(stream_id=1, metadata={"w": 1.0}),
        rtmp.Metadata(stream_id=1, metadata={"w": 2.0}, timestamp=5),
        rtmp.DataMessage(stream_id=1, name="onMetaData", arguments=("not a dict",)),
    ]


def connected_server() -> rtmp.Connection:
    server = raw_server()
    server.receive_data(command("connect", 1.0, {"app": "live"}))
    get_all_events(server)
    server.accept_connect()
    server.data_to_send()
    return server


def test_simple_and_unknown_commands_are_answered() -> None:
    pair = ConnectionPair()
    pair.connect()
    calls: list[tuple[str, float, tuple[AMFValue, ...]]] = [
        ("releaseStream", 2.0, ("k",)),
        ("FCPublish", 3.0, ("k",)),
        ("getStreamLength", 4.0, ("k",)),
        ("FCPublish", 0.0, ("k",)),
        ("_checkbw", 5.0, ()),
        ("receiveAudio", 0.0, (True,)),
        ("_result", 77.0, ()),
    ]
    for name, transaction_id, args in calls:
        pair.client.send(rtmp.Command(name=name, transaction_id=transaction_id, arguments=args))
    pair.client.send(rtmp.Status(stream_id=0, code="Client.Thing"))
    server_events, client_events = pair.transfer()
    assert server_events == [
        rtmp.Command(name="_checkbw", transaction_id=5.0),
        rtmp.Command(name="receiveAudio", arguments=(True,)),
        rtmp.Command(name="_result", transaction_id=77.0),
        rtmp.Status(stream_id=0, code="Client.Thing"),
    ]
    error: dict[str, AMFValue] = {
        "level": "error",
        "code": "NetConnection.Call.Failed",
        "description": "Method not found (_checkbw).",
    }
    assert client_events == [
        rtmp.Command(name="_result", transaction_id=2.0, arguments=(None,)),
        rtmp.Command(name="_result", transaction_id=3.0, arguments=(None,)),
        rtmp.Command(name="_result", transaction_id=4.0, arguments=(0.0,)),
        rtmp.Command(name="_error", transaction_id=5.0, arguments=(error,)),
    ]


def test_stream_ids_and_limits() -> None:
    server = rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(5), max_streams=2)
    server.receive_data(b"\x03" + bytes(3072) + command("connect", 1.0, {"app": "a"}))
    get_all_events(server)
    server.accept_connect()
    server.receive_data(command("createStream", 2.0, None) + command("createStream", 3.0, None))
    assert get_all_events(server) == [
        rtmp.StreamCreated(stream_id=1),
        rtmp.StreamCreated(stream_id=2),
    ]
    # deleteStream / closeStream of streams that do not exist are ignored.
    server.receive_data(command("deleteStream", 0.0, None, 9.0))
    server.receive_data(command("closeStream", 0.0, None, stream_id=9))
    assert get_all_events(server) == []
    server.receive_data(command("createStream", 4.0, None))
    with pytest.raises(rtmp.RemoteProtocolError, match="more than max_streams=2 streams"):
        server.next_event()


def test_media_before_accept_is_dropped_and_data_still_validated() -> None:
    server = connected_server()
    server.receive_data(
        command("createStream", 2.0, None) + command("publish", 0.0, None, "k", stream_id=1)
    )
    assert get_all_events(server) == [
        rtmp.StreamCreated(stream_id=1),
        rtmp.Publish(stream_id=1, stream_key="k"),
    ]
    server.receive_data(
        chunk(4, 8, 1, b"\xaf\x01") + chunk(5, 18, 1, encode_amf0("onMetaData", {}))
    )
    assert get_all_events(server) == []
    server.receive_data(chunk(5, 18, 1, b"\x02\x00"))
    with pytest.raises(rtmp.RemoteProtocolError, match="undecodable data message") as info:
        server.next_event()
    assert info.value.status_hint == "NetConnection.Call.BadVersion"


REMOTE_ERRORS: list[tuple[str, bytes, str, str | None]] = [
    (
        "video for a stream never created",
        chunk(6, 9, 7, b"\x17\x01\x00\x00\x00"),
        "media for unknown message stream 7",
        None,
    ),
    (
        "audio on stream 0",
        chunk(4, 8, 0, b"\xaf\x01"),
        "media for unknown message stream 0",
        None,
    ),
    (
        "second connect",
        command("connect", 2.0, {"app": "live"}),
        "Connect from the client is not allowed in connection state CONNECTED",
        None,
    ),
    (
        "publish on a stream never created",
        command("publish", 0.0, None, "k", stream_id=3),
        "Publish on message stream 3, which does not exist",
        None,
    ),
    (
        "publish on stream 0",
        command("publish", 0.0, None, "k"),
        "stream_id must be a stream allocated by createStream (>= 1), got 0",
        None,
    ),
    (
        "publish without a name",
        command("createStream", 2.0, None) + command("publish", 0.0, None, stream_id=1),
        "publish without a stream name: None",
        "NetStream.Publish.BadName",
    ),
    (
        "play without a name",
        command("createStream", 2.0, None) + command("play", 0.0, None, 5.0, stream_id=1),
        "play without a stream name: 5.0",
        "NetStream.Play.StreamNotFound",
    ),
    (
        "play twice",
        command("createStream", 2.0, None)
        + command("play", 0.0, None, "a", stream_id=1)
        + command("play", 0.0, None, "a", stream_id=1),
        "Play from the client is not allowed on stream 1 in state PLAY_PENDING",
        None,
    ),
    (
        "deleteStream without a stream id",
        command("deleteStream", 0.0, None, "x"),
        "deleteStream without a stream id: 'x'",
        None,
    ),
    (
        "undecodable command",
        chunk(3, 20, 0, b"\x02\x00\x09conn"),
        "undecodable command message: truncated AMF0 string: need 9 bytes at offset 3, only 4 left",
        "NetConnection.Call.BadVersion",
    ),
    (
        "command without a transaction id",
        command("connect"),
        "command message is not (name, transaction id, ...): ['connect']",
        "NetConnection.Call.BadVersion",
    ),
    (
        "AMF3 command without the format byte",
        chunk(3, 17, 0, encode_amf0("connect", 1.0)),
        "AMF3 command message without the leading 0 format byte",
        "NetConnection.Call.BadVersion",
    ),
    (
        "data message without a name",
        command("createStream", 2.0, None)
        + command("publish", 0.0, None, "k", stream_id=1)
        + chunk(5, 18, 1, encode_amf0(1.0)),
        "data message does not start with a handler name",
        "NetConnection.Call.BadVersion",
    ),
]


@pytest.mark.parametrize(
    ("wire", "message", "hint"), [c[1:] for c in REMOTE_ERRORS], ids=[c[0] for c in REMOTE_ERRORS]
)
def test_remote_errors(wire: bytes, message: str, hint: str | None) -> None:
    server = connected_server()
    server.receive_data(wire)
    with pytest.raises(rtmp.RemoteProtocolError) as info:
        get_all_events(server)
    assert str(info.value) == message
    assert info.value.status_hint == hint
    assert server.state is rtmp.State.ERROR


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (command("connect", 1.0, None), "connect without a command object"),
        (
            command("connect", 1.0, {"app": 1.0}),
            "connect with a non-string app or tcUrl: 1.0, None",
        ),
        (
            command("createStream", 1.0, None),
            "CreateStream from the client is not allowed in connection state AWAITING_CONNECT",
        ),
        (command("FCPublish", 1.0, None), "FCPublish before the NetConnection is connected"),
        (command("closeStream", 0.0, None), "CloseStream before the NetConnection is connected"),
        (
            command("_checkbw", 1.0, None),
            "Command from the client is not allowed in connection state AWAITING_CONNECT",
        ),
    ],
)
def test_commands_before_connect(wire: bytes, message: str) -> None:
    server = raw_server()
    server.receive_data(wire)
    with pytest.raises(rtmp.RemoteProtocolError) as info:
        get_all_events(server)
    assert str(info.value) == message


def test_client_side_replies() -> None:
    pair = ConnectionPair()
    pair.connect()
    client = pair.client
    client.send(rtmp.CreateStream())
    client.receive_data(command("_error", 2.0, None, {"code": "NetConnection.Call.Failed"}))
    assert get_all_events(client) == [
        rtmp.Command(
            name="_error", transaction_id=2.0, arguments=({"code": "NetConnection.Call.Failed"},)
        )
    ]
    # Control messages from the server: a repeated Set Peer Bandwidth needs no answer,
    # a different one does; Stream Dry and Set Buffer Length are ignored.
    client.data_to_send()
    client.receive_data(chunk(2, 6, 0, h("002625a0 02")))
    assert get_all_events(client) == []
    assert client.data_to_send() == b""
    client.receive_data(chunk(2, 6, 0, h("00001000 02")))
    assert get_all_events(client) == []
    assert client.data_to_send() == h("c2 00001000")  # same size and type: type 3 header
    client.receive_data(
        chunk(2, 4, 0, h("0002 00000001")) + chunk(2, 4, 0, h("0003 00000001 00000064"))
    )
    assert get_all_events(client) == []
    client.send(rtmp.CreateStream())
    client.receive_data(command("_result", 3.0, None, 0.5))
    with pytest.raises(
        rtmp.RemoteProtocolError, match=r"createStream result is not a stream id: 0\.5"
    ):
        client.next_event()


def test_client_sees_stream_begin_zero_before_connect_result() -> None:
    pair = ConnectionPair()
    pair.handshake()
    pair.client.send(rtmp.Connect(app="live"))
    pair.client.receive_data(chunk(2, 4, 0, h("0000 00000000")))
    assert get_all_events(pair.client) == [rtmp.StreamBegin(stream_id=0)]


LOCAL_ERRORS: list[tuple[str, rtmp.Role, rtmp.Event, str]] = [
    ("server cannot connect", rtmp.SERVER, rtmp.Connect(app="x"),
     "Connect from the server is not allowed in connection state CONNECTED"),
    ("StreamCreated is automatic", rtmp.SERVER, rtmp.StreamCreated(stream_id=1),
     "StreamCreated cannot be sent; it is automatic"),
    ("HandshakeComplete is automatic", rtmp.CLIENT, rtmp.HandshakeComplete(digest=True),
     "HandshakeComplete cannot be sent; it is automatic"),
    ("media before publishing", rtmp.CLIENT, A(stream_id=1, timestamp=0, payload=b""),
     "AudioData from the client is not allowed on stream 1 in state IDLE"),
    ("server cannot publish", rtmp.SERVER, rtmp.Publish(stream_id=1, stream_key="k"),
     "Publish from the server is not allowed in connection state CONNECTED"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "event", "message"), [c[1:] for c in LOCAL_ERRORS], ids=[c[0] for c in LOCAL_ERRORS]
)
def test_local_errors_leave_the_connection_usable(
    role: rtmp.Role, event: rtmp.Event, message: str
) -> None:
    pair = ConnectionPair()
    pair.connect()
    pair.create_stream()
    conn = pair.client if role is rtmp.CLIENT else pair.server
    with pytest.raises(rtmp.LocalProtocolError) as info:
        conn.send(event)
    assert str(info.value) == message
    assert conn.data_to_send() == b""
    assert conn.state is rtmp.State.CONNECTED
    pair.client.send(rtmp.PingRequest(timestamp=1))
    assert pair.transfer() == ([], [rtmp.PingResponse(timestamp=1)])


def test_send_media_checks() -> None:
    pair = ConnectionPair()
    stream_id = pair.start_publishing()
    with pytest.raises(rtmp.LocalProtocolError, match="cannot send video on stream 1"):
        pair.server.send_media(stream_id, "video", 0, b"")
    with pytest.raises(rtmp.LocalProtocolError, match="timestamp must fit 32 bits"):
        pair.client.send_media(stream_id, "video", 1 << 32, b"")
    pair.client.send_media(stream_id, "audio", 5, b"\xaf")
    pair.client.send_metadata(stream_id, {"a": 1.0}, timestamp=5)
    assert pair.transfer() == (
        [
            A(stream_id=1, timestamp=5, payload=b"\xaf"),
            rtmp.Metadata(stream_id=1, metadata={"a": 1.0}, timestamp=5),
        ],
        [],
    )


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: rtmp.Publish(stream_id=0, stream_key="k"), "stream_id must be a stream allocated"),
        (
            lambda: A(stream_id=1, timestamp=-1, payload=b""),
            "timestamp must fit 32 bits unsigned, got -1",
        ),
        (lambda: rtmp.PingRequest(timestamp=1 << 32), "timestamp must fit 32 bits"),
    ],
)
def test_event_validation(factory: object, message: str) -> None:
    with pytest.raises(rtmp.LocalProtocolError, match=message):
        factory()  # type: ignore[operator]


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match=r"chunk_size must be in 1\.\.2147483647, got 0"):
        rtmp.Connection(rtmp.SERVER, chunk_size=0)


def test_client_with_default_chunk_size_sends_no_set_chunk_size() -> None:
    client = rtmp.Connection(
        rtmp.CLIENT, random_bytes=seeded_random(1), digest_handshake=False, chunk_size=128
    )
    client.data_to_send()
    client.receive_data(b"\x03" + bytes(3072))
    get_all_events(client)
    client.data_to_send()
    client.send(rtmp.Connect(app="a", arguments=("extra",)))
    assert client.data_to_send() == chunk(
        3, 20, 0, encode_amf0("connect", 1.0, {"app": "a"}, "extra")
    )


def test_transitions_table_is_consistent() -> None:
    # Every target state is a State, every stream target a StreamState, and no state
    # but ERROR is a dead end for EOF.
    assert all(isinstance(v, rtmp.State) for v in rtmp.TRANSITIONS.values())
    assert all(isinstance(v, rtmp.StreamState) for v in rtmp.STREAM_TRANSITIONS.values())
    for state in rtmp.State:
        expected = state is not rtmp.State.ERROR
        assert ((state, rtmp.CLIENT, rtmp.ConnectionClosed) in rtmp.TRANSITIONS) is expected


def test_large_input_with_partial_tail_is_consumed_in_linear_time() -> None:
    pair = ConnectionPair()
    stream_id = pair.start_publishing()
    sent = [V(stream_id=stream_id, timestamp=i, payload=bytes([i]) * 30000) for i in range(5)]
    for event in sent:
        pair.client.send(event)
    wire = pair.client.data_to_send()
    pair.server.receive_data(wire[:-100])  # the buffer is compacted past 64 KiB
    assert get_all_events(pair.server) == sent[:4]
    pair.server.receive_data(wire[-100:])
    assert get_all_events(pair.server) == sent[4:]


def test_nothing_happens_before_bytes_arrive() -> None:
    server = rtmp.Connection(rtmp.SERVER)
    assert server.next_event() is rtmp.NEED_DATA
    client = rtmp.Connection(rtmp.CLIENT)
    assert len(client.data_to_send()) == 1537
    client.receive_data(b"\x03" + bytes(2000))
    assert client.next_event() is rtmp.NEED_DATA
    assert repr(rtmp.NEED_DATA) == "NEED_DATA"


def test_media_on_an_idle_stream_is_dropped() -> None:
    server = publishing_server_raw()
    server.receive_data(command("createStream", 3.0, None))
    assert get_all_events(server) == [rtmp.StreamCreated(stream_id=2)]
    server.data_to_send()
    server.receive_data(chunk(4, 8, 2, b"\x01") + chunk(4, 8, 1, b"\x02"))
    assert get_all_events(server) == [A(stream_id=1, timestamp=0, payload=b"\x02")]


def test_aggregate_keeps_only_media_on_publishing_streams() -> None:
    server = publishing_server_raw()
    server.receive_data(command("createStream", 3.0, None))
    assert get_all_events(server) == [rtmp.StreamCreated(stream_id=2)]
    body = (
        h("08 000001 000000 00 000000 aa 0000000c")
        + h("14 000001 000000 00 000000 05 0000000c")  # a command inside: ignored
        + h("09 000001 000000 00 000000 bb 0000000c")
    )
    server.receive_data(chunk(4, 22, 1, body, timestamp=50) + chunk(4, 22, 2, body))
    assert get_all_events(server) == [
        A(stream_id=1, timestamp=50, payload=b"\xaa"),
        V(stream_id=1, timestamp=50, payload=b"\xbb"),
    ]


def publishing_server_raw() -> rtmp.Connection:
    server = connected_server()
    server.receive_data(
        command("createStream", 2.0, None) + command("publish", 0.0, None, "k", stream_id=1)
    )
    get_all_events(server)
    server.accept_publish(1)
    server.data_to_send()
    return server


def test_client_answers_unknown_server_commands() -> None:
    pair = ConnectionPair()
    pair.connect()
    pair.server.send(rtmp.Command(name="onBWDone", arguments=(8192.0,)))
    pair.server.send(rtmp.Command(name="serverCall", transaction_id=3.0))
    pair.server.send(rtmp.StreamBegin(stream_id=0))
    pair.server.send(rtmp.PingResponse(timestamp=9))
    server_events, client_events = pair.transfer()
    assert client_events == [
        rtmp.Command(name="onBWDone", arguments=(8192.0,)),
        rtmp.Command(name="serverCall", transaction_id=3.0),
        rtmp.StreamBegin(stream_id=0),
        rtmp.PingResponse(timestamp=9),
    ]
    assert server_events == [
        rtmp.Command(
            name="_error",
            transaction_id=3.0,
            arguments=(
                {
                    "level": "error",
                    "code": "NetConnection.Call.Failed",
                    "description": "Method not found (serverCall).",
                },
            ),
        )
    ]


def test_multitrack_media_arrives_whole() -> None:
    """Enhanced RTMP v2 Multitrack messages are media messages like any other: their
    bodies arrive byte for byte, and protocols.flv splits them into tracks."""
    pair = ConnectionPair()
    stream_id = pair.start_publishing()
    video = flv.encode_multitrack_video(
        flv.MultitrackVideoTag(
            frame_type=1,
            multitrack_type=flv.AvMultitrackType.MANY_TRACKS,
            packet_type=flv.VideoPacketType.CODED_FRAMES,
            tracks=(
                flv.TrackPacket(track_id=0, fourcc="avc1", data=bytes(300)),
                flv.TrackPacket(track_id=1, fourcc="avc1", composition_time_ms=33, data=b"\x01"),
            ),
        )
    )
    audio = b"\x95\x00mp4a\x01\x11\x90"  # OneTrack SequenceStart of AAC track 1
    pair.client.send_media(stream_id, "video", 40, video)
    pair.client.send_media(stream_id, "audio", 40, audio)
    assert pair.transfer() == (
        [
            V(stream_id=stream_id, timestamp=40, payload=video),
            A(stream_id=stream_id, timestamp=40, payload=audio),
        ],
        [],
    )
    tracks = flv.parse_multitrack_video(video).tracks
    assert [(t.track_id, t.composition_time_ms) for t in tracks] == [(0, 0), (1, 33)]
