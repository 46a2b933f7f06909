"""What trioflix.asgi_internals relies on in hypercorn and quart-trio, checked as installed.

Each check is one item of that module's docstring, and its failure message names
the upstream function to compare with the code in ``trioflix/asgi_internals.py``.
A failure here after an upgrade means: read that function in the new version,
carry the change over, then update the check. The module is also the only one in
trioflix that imports those internals, which the last test keeps so.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h11
import pytest
import trio
from hypercorn.config import Config
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.task_group import TaskGroup
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest
from werkzeug.exceptions import RequestEntityTooLarge

from tests.h2_client import STOP_SENDING, open_h2
from trioflix.asgi_internals import (
    HYPERCORN_VERSION,
    PrefixedStream,
    QuartTrioBody,
    TrailerKeepingTCPServer,
    UnsupportedSettingError,
    check_hypercorn,
    interim_sender,
    request_trailers,
    serve_with_front_door,
)

if TYPE_CHECKING:
    from hypercorn.events import Event
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "trioflix" / "asgi_internals.py"
PINNED = {"hypercorn": HYPERCORN_VERSION, "quart-trio": "0.12.0"}


def _resolve(dotted: str) -> Any:
    """The object named ``package.module.Class.attr`` (the longest importable module first)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise AssertionError(f"{dotted} cannot be imported")


def _source(dotted: str) -> str:
    return inspect.getsource(_resolve(dotted))


# -- the pinned versions -----------------------------------------------------------------


@pytest.mark.parametrize("dist", sorted(PINNED))
def test_the_pinned_version_is_installed(dist: str) -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"{dist}=={PINNED[dist]}" in pins, (
        f"pyproject.toml no longer pins {dist}=={PINNED[dist]}: check every item of "
        "trioflix/asgi_internals.py's docstring against the new version, then update PINNED"
    )
    assert version(dist) == PINNED[dist], (
        f"{dist} {version(dist)} is installed, {PINNED[dist]} is pinned (pyproject.toml)"
    )


def test_the_server_refuses_to_start_with_another_hypercorn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check_hypercorn()  # the installed one
    monkeypatch.setattr("trioflix.asgi_internals.version", lambda dist: "0.19.0")
    with pytest.raises(RuntimeError, match=r"hypercorn 0\.19\.0 is installed"):
        check_hypercorn()


# -- 1: serve_with_front_door is a copy of hypercorn's worker loop --------------------------

# sha256 of the source of the upstream functions that serve_with_front_door copies.
COPIED = {
    "hypercorn.trio.run.worker_serve": (
        "8dc8347a9fc357ca334f8c3e4bcf0368176510a96d434f21a5eb4c9ec4103726"
    ),
    "hypercorn.trio.serve": "9b117d42d6cfa7efb9bf5797e6a710ffe1711bab4241514f77fb038758ac440d",
}


@pytest.mark.parametrize("upstream", sorted(COPIED))
def test_the_copied_worker_loop_is_unchanged_upstream(upstream: str) -> None:
    digest = hashlib.sha256(_source(upstream).encode()).hexdigest()
    assert digest == COPIED[upstream], (
        f"{upstream} changed: compare it with trioflix.asgi_internals.serve_with_front_door,"
        " carry the change over, then record the new sha256 in COPIED"
    )


# Parameter names of every upstream callable that trioflix calls or overrides.
SIGNATURES = {
    # 1: the worker loop's pieces
    "hypercorn.utils.wrap_app": ["app", "wsgi_max_body_size", "mode"],
    "hypercorn.trio.lifespan.Lifespan.__init__": ["self", "app", "config", "state"],
    "hypercorn.trio.lifespan.Lifespan.handle_lifespan": ["self", "task_status"],
    "hypercorn.trio.lifespan.Lifespan.wait_for_startup": ["self"],
    "hypercorn.trio.lifespan.Lifespan.wait_for_shutdown": ["self"],
    "hypercorn.trio.worker_context.WorkerContext.__init__": ["self", "max_requests"],
    "hypercorn.utils.raise_shutdown": ["shutdown_event"],
    "hypercorn.utils.repr_socket_addr": ["family", "address"],
    "hypercorn.config.Config.create_sockets": ["self"],
    "hypercorn.config.Config.set_statsd_logger_class": ["self", "statsd_logger"],
    # 2, 3: the connection hypercorn takes over
    "hypercorn.trio.tcp_server.TCPServer.__init__": [
        *("self", "app", "config", "context", "state", "stream"),
    ],
    "hypercorn.protocol.ProtocolWrapper.__init__": [
        *("self", "app", "config", "context", "task_group", "state", "ssl", "client"),
        *("server", "send", "alpn_protocol"),
    ],
    "hypercorn.protocol.h11.H11Protocol.__init__": [
        *("self", "app", "config", "context", "task_group", "connection_state", "ssl"),
        *("client", "server", "send"),
    ],
    # 5: what _ExtendedH2Protocol overrides and calls
    "hypercorn.protocol.h2.H2Protocol.__init__": [
        *("self", "app", "config", "context", "task_group", "connection_state", "ssl"),
        *("client", "server", "send"),
    ],
    "hypercorn.protocol.h2.H2Protocol._create_stream": ["self", "request"],
    "hypercorn.protocol.h2.H2Protocol._handle_events": ["self", "events"],
    "hypercorn.protocol.h2.H2Protocol._close_stream": ["self", "stream_id"],
    "hypercorn.protocol.h2.H2Protocol._send_data": ["self", "stream_id"],
    "hypercorn.protocol.h2.H2Protocol._flush": ["self"],
    "hypercorn.protocol.h2.H2Protocol.stream_send": ["self", "event"],
    "h2.connection.H2Connection.reset_stream": ["self", "stream_id", "error_code"],
    "h2.connection.H2Connection.acknowledge_received_data": [
        *("self", "acknowledged_size", "stream_id"),
    ],
    # 6, 7: quart-trio
    "quart_trio.wrappers.request.TrioBody.__init__": [
        "self",
        "expected_content_length",
        "max_content_length",
    ],
    "quart_trio.asgi.TrioASGIHTTPConnection.__call__": ["self", "receive", "send"],
    "quart_trio.asgi.TrioASGIHTTPConnection._create_request_from_scope": ["self", "send"],
    "quart_trio.asgi.TrioASGIHTTPConnection._send_response": ["self", "send", "response"],
    # 6: what FlowControlledBody overrides
    "quart.wrappers.request.Body.append": ["self", "data"],
    "quart.wrappers.request.Body.clear": ["self"],
    "quart.wrappers.request.Body.set_complete": ["self"],
    "quart.wrappers.request.Body.__anext__": ["self"],
    "quart.wrappers.request.Body.__await__": ["self"],
}


@pytest.mark.parametrize("upstream", sorted(SIGNATURES))
def test_what_trioflix_calls_has_the_same_signature(upstream: str) -> None:
    names = list(inspect.signature(_resolve(upstream)).parameters)
    assert names == SIGNATURES[upstream], (
        f"{upstream} now takes {names}: compare it with the code that relies on it"
        " (trioflix/asgi_internals.py's docstring says which)"
    )


# -- 2, 3, 4: a connection handed to hypercorn, trailers kept ------------------------------


def test_tcp_server_run_assigns_the_protocol_before_reading() -> None:
    run = _source("hypercorn.trio.tcp_server.TCPServer.run")
    assert "self.protocol = ProtocolWrapper(" in run, (
        "hypercorn.trio.tcp_server.TCPServer.run no longer assigns self.protocol: compare it"
        " with trioflix.asgi_internals.TrailerKeepingTCPServer, which intercepts that assignment"
    )
    assert run.index("self.protocol = ProtocolWrapper(") < run.index("self._read_data()"), (
        "hypercorn.trio.tcp_server.TCPServer.run reads before it assigns self.protocol:"
        " TrailerKeepingTCPServer would swap an h11 connection that was already fed"
    )
    assert "self.protocol =" not in _source("hypercorn.trio.tcp_server.TCPServer.__init__"), (
        "hypercorn.trio.tcp_server.TCPServer.__init__ assigns self.protocol now: compare it"
        " with trioflix.asgi_internals.TrailerKeepingTCPServer, whose setter expects a wrapper"
    )


def test_tcp_server_run_takes_a_stream_without_do_handshake_as_plain_tcp() -> None:
    run = _source("hypercorn.trio.tcp_server.TCPServer.run")
    assert "except AttributeError:" in run and "socket = self.stream.socket" in run, (
        "hypercorn.trio.tcp_server.TCPServer.run no longer tells plain TCP by the missing"
        " do_handshake, or no longer reads stream.socket: compare it with"
        " trioflix.asgi_internals.PrefixedStream"
    )


def test_h11_protocol_makes_a_fresh_h11_connection_and_no_stream() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        raise AssertionError("no request is made")

    async def send(event: Event) -> None:
        raise AssertionError("nothing is sent")

    config = Config()
    wrapper = ProtocolWrapper(
        app=wrap_app(app, config.wsgi_max_body_size, None),
        config=config,
        context=WorkerContext(None),
        task_group=TaskGroup(),
        state=ConnectionState({}),
        ssl=False,
        client=None,
        server=None,
        send=send,
        alpn_protocol="http/1.1",
    )
    protocol = wrapper.protocol
    where = "hypercorn.protocol.ProtocolWrapper.__init__ / h11.H11Protocol.__init__"
    assert isinstance(protocol, H11Protocol), f"{where}: HTTP/1.1 is no longer an H11Protocol"
    assert protocol.config is config, f"{where}: H11Protocol.config is not the config"
    assert protocol.stream is None, f"{where}: H11Protocol.stream is set before any request"
    connection = protocol.connection
    assert type(connection) is h11.Connection, f"{where}: H11Protocol.connection is not h11's"
    assert connection.their_role is h11.CLIENT, f"{where}: not a server-side h11 connection"
    assert connection.their_state is h11.IDLE, f"{where}: the h11 connection was already fed"
    assert isinstance(config.h11_max_incomplete_size, int), (
        "hypercorn.config.Config.h11_max_incomplete_size is gone: compare H11Protocol.__init__"
    )


def test_h11_protocol_ends_the_body_after_next_event_returns() -> None:
    events = _source("hypercorn.protocol.h11.H11Protocol._handle_events")
    assert "event = self.connection.next_event()" in events, (
        "hypercorn.protocol.h11.H11Protocol._handle_events no longer calls"
        " connection.next_event(): compare it with"
        " trioflix.asgi_internals._TrailerKeepingConnection"
    )
    assert "isinstance(event, h11.EndOfMessage)" in events, (
        "hypercorn.protocol.h11.H11Protocol._handle_events no longer ends the body on"
        " h11.EndOfMessage: compare it with trioflix.asgi_internals._TrailerKeepingConnection"
    )


def test_http_stream_scope_has_an_extensions_dict() -> None:
    assert '"extensions": {},' in _source("hypercorn.protocol.http_stream.HTTPStream.handle"), (
        "hypercorn.protocol.http_stream.HTTPStream.handle no longer builds scope['extensions']"
        " as a dict: compare it with trioflix.asgi_internals._TrailerKeepingConnection"
    )


def test_each_request_scope_gets_a_copy_of_the_connection_state() -> None:
    # TrailerKeepingTCPServer puts the interim-response sender there.
    assert "state=self.connection_state" in _source(
        "hypercorn.protocol.h11.H11Protocol._create_stream"
    ), (
        "hypercorn.protocol.h11.H11Protocol._create_stream no longer passes its"
        " connection_state to the request: compare it with"
        " trioflix.asgi_internals.TrailerKeepingTCPServer"
    )
    assert '"state": event.state.copy(),' in _source(
        "hypercorn.protocol.http_stream.HTTPStream.handle"
    ), (
        "hypercorn.protocol.http_stream.HTTPStream.handle no longer copies the connection"
        " state into scope['state']: compare it with trioflix.asgi_internals.interim_sender"
    )


@pytest.mark.parametrize("server_class", [TCPServer, TrailerKeepingTCPServer])
async def test_a_handed_over_connection_is_served_with_its_trailers(
    server_class: type[TCPServer],
) -> None:
    """End to end over loopback TCP: what the front door read is replayed, hypercorn's
    ``TCPServer`` serves the request, and only the trailer-keeping one delivers trailers."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            assert message["type"] == "http.request"
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        seen.update(body=body, trailers=request_trailers(scope), client=scope["client"])
        headers = [(b"content-length", b"4")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"done", "more_body": False})

    config = Config()
    head = b"POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    rest = b"3\r\nabc\r\n0\r\nUpload-Checksum: sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=\r\n\r\n"
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    with trio.fail_after(10):
        async with listener, await trio.open_tcp_stream(*listener.socket.getsockname()) as client:
            client_address = client.socket.getsockname()
            # Closed here too, should hypercorn fail before it closes it.
            async with await listener.accept() as server_stream, trio.open_nursery() as nursery:
                tcp_server = server_class(
                    wrap_app(app, config.wsgi_max_body_size, None),
                    config,
                    WorkerContext(None),
                    ConnectionState({}),
                    PrefixedStream(server_stream, head),  # type: ignore[arg-type]
                )
                nursery.start_soon(tcp_server.run)
                await client.send_all(rest)  # the head was "read" by the front door
                response = b""
                while not response.endswith(b"done"):
                    response += await client.receive_some()
                await client.aclose()  # EOF: hypercorn ends the connection
    assert response.startswith(b"HTTP/1.1 200 "), response
    assert seen["body"] == b"abc"
    assert seen["client"] == client_address, (
        "hypercorn.trio.tcp_server.TCPServer.run no longer reads the peer from stream.socket"
    )
    if server_class is TCPServer:
        assert seen["trailers"] is None  # plain hypercorn drops them
    else:
        assert seen["trailers"] == [(b"upload-checksum", b"sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")], (
            "trailers lost: compare hypercorn.trio.tcp_server.TCPServer.run,"
            " hypercorn.protocol.h11.H11Protocol._handle_events and"
            " hypercorn.protocol.http_stream.HTTPStream.handle with"
            " trioflix.asgi_internals.TrailerKeepingTCPServer"
        )


# -- 3, 5: HTTP/2 ---------------------------------------------------------------------


def test_protocol_wrapper_assigns_the_h2_protocol_before_initiating_it() -> None:
    handle = _source("hypercorn.protocol.ProtocolWrapper.handle")
    where = (
        "hypercorn.protocol.ProtocolWrapper.handle no longer {}: compare it with"
        " trioflix.asgi_internals._ExtendedProtocolWrapper"
    )
    assert handle.count("self.protocol = H2Protocol(") == 2, where.format(
        "assigns self.protocol an H2Protocol (prior knowledge and h2c)"
    )
    assert handle.count("await self.protocol.initiate(") == 2, where.format(
        "initiates the protocol it assigned"
    )
    for name in ("app", "config", "context", "task_group", "state", "ssl", "client"):
        assert f"self.{name}," in handle, where.format(f"builds H2Protocol from self.{name}")


def test_h2_protocol_hands_the_connection_state_and_looks_data_up() -> None:
    create = _source("hypercorn.protocol.h2.H2Protocol._create_stream")
    assert "state=self.connection_state" in create, (
        "hypercorn.protocol.h2.H2Protocol._create_stream no longer passes connection_state to"
        " the request: compare it with trioflix.asgi_internals._ExtendedH2Protocol"
    )
    events = _source("hypercorn.protocol.h2.H2Protocol._handle_events")
    assert "await self.streams[event.stream_id].handle(\n                    Body(" in events, (
        "hypercorn.protocol.h2.H2Protocol._handle_events no longer looks DATA up in streams:"
        " if it drops DATA for finished streams now, _ExtendedH2Protocol may not need to"
    )
    send = _source("hypercorn.protocol.h2.H2Protocol.stream_send")
    assert "isinstance(event, (InformationalResponse, Response))" in send, (
        "hypercorn.protocol.h2.H2Protocol.stream_send no longer sends InformationalResponse:"
        " compare it with trioflix.asgi_internals._ExtendedH2Protocol._interim_sender"
    )


async def test_http2_sends_interim_responses_and_survives_early_answers() -> None:
    """End to end over loopback TCP with an HTTP/2 client: a 104 before the final
    response, and a request answered early whose content goes on arriving, after
    which the same connection serves another request."""

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        assert scope["type"] == "http"
        if scope["path"] == "/interim":
            sender = interim_sender(scope)
            assert sender is not None
            await sender(104, [("Location", "/uploads/1")])
            while (await receive()).get("more_body", False):
                pass
            status = 201
        else:
            status = 409 if scope["path"] == "/early" else 200  # /early reads nothing
        headers = [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    config = Config()
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    with trio.fail_after(10):
        async with listener, open_h2(*listener.socket.getsockname()) as client:
            async with await listener.accept() as server_stream, trio.open_nursery() as nursery:
                tcp_server = TrailerKeepingTCPServer(
                    wrap_app(app, config.wsgi_max_body_size, None),
                    config,
                    WorkerContext(None),
                    ConnectionState({}),
                    PrefixedStream(server_stream, b""),  # type: ignore[arg-type]
                )
                nursery.start_soon(tcp_server.run)
                interim = await client.request("POST", "/interim", {}, b"abc")
                await client.wait_done(interim)
                early = await client.request(
                    "POST", "/early", {"content-length": "64000"}, bytes(16000), end=False
                )
                await client.wait_done(early)
                for _ in range(3):  # what the client had on its way
                    await client.send_in_flight(early, bytes(16000))
                after = await client.request("GET", "/after", {})
                await client.wait_done(after)
                nursery.cancel_scope.cancel()
    [(status, _)] = client.responses[after]
    assert status == 200, "the connection did not survive the early answer"
    assert [status for status, _ in client.responses[early]] == [409]
    # RFC 9113 8.1: a complete response, then NO_ERROR asks the client to stop sending.
    assert early in client.ended and client.resets.get(early) in STOP_SENDING
    assert [(status, fields.get("location")) for status, fields in client.responses[interim]] == [
        (104, "/uploads/1"),
        (201, None),
    ]


# -- 6, 7: quart-trio ---------------------------------------------------------------------


def test_trio_body_keeps_its_state_in_the_private_names() -> None:
    where = "compare quart_trio.wrappers.request.TrioBody.__init__ with QuartTrioBody"
    state = vars(TrioBody(None, 10))
    assert state.get("_max_content_length") == 10, where
    assert "_must_raise" in state and state["_must_raise"] is None, where
    assert "_complete" in state, where
    complete = state["_complete"]
    assert callable(getattr(complete, "is_set", None)), where
    assert callable(getattr(complete, "wait", None)), where
    assert not complete.is_set(), where
    too_large = vars(TrioBody(11, 10))
    assert isinstance(too_large.get("_must_raise"), RequestEntityTooLarge), where


async def test_quart_trio_body_names_that_state() -> None:
    body = QuartTrioBody(11, 10)
    assert body.max_content_length == 10
    assert isinstance(body.error, RequestEntityTooLarge)
    body.error = None
    body.max_content_length = None
    assert body._must_raise is None and body._max_content_length is None
    assert not body.complete
    body.set_complete()
    with trio.fail_after(1):
        await body.wait_complete()
    assert body.complete


def test_quart_trio_uses_the_classes_trioflix_extends() -> None:
    assert QuartTrio.asgi_http_class is TrioASGIHTTPConnection, (
        "quart_trio.app.QuartTrio.asgi_http_class changed: compare it with"
        " trioflix.asgi_internals.QuartTrioHTTPConnection"
    )
    assert QuartTrio.request_class is TrioRequest and TrioRequest.body_class is TrioBody, (
        "quart_trio.app.QuartTrio.request_class or TrioRequest.body_class changed: compare"
        " them with trioflix.asgi_internals.QuartTrioBody"
    )


def test_quart_feeds_a_body_through_append_and_set_complete() -> None:
    calls = []

    class Recording(TrioBody):
        def append(self, data: bytes) -> None:
            calls.append("append")

        def set_complete(self) -> None:
            calls.append("set_complete")

    Recording(None, None).set_result(b"data")
    assert calls == ["append", "set_complete"], (
        "quart.wrappers.request.Body.set_result no longer calls append then set_complete:"
        " compare it with trioflix.uploads.http_body.FlowControlledBody"
    )
    assert "self.body.clear()" in inspect.getsource(TrioRequest.get_data), (
        "quart_trio.wrappers.request.TrioRequest.get_data no longer clears an uncached body:"
        " compare it with trioflix.uploads.http_body.FlowControlledBody.clear"
    )


# -- what serve_with_front_door refuses -----------------------------------------------------

UNSUPPORTED = [
    ("certfile", "cert.pem", "TLS (certfile)"),
    ("keyfile", "key.pem", "TLS (keyfile)"),
    ("ca_certs", "ca.pem", "TLS (ca_certs)"),
    ("quic_bind", ["127.0.0.1:0"], "HTTP/3 (quic_bind)"),
    ("insecure_bind", ["127.0.0.1:0"], "insecure_bind"),
    ("max_requests", 1000, "max_requests"),
    ("workers", 2, "workers"),
]


@pytest.mark.parametrize(("name", "value", "named"), UNSUPPORTED)
async def test_the_worker_refuses_what_it_would_not_apply(
    name: str, value: object, named: str
) -> None:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    setattr(config, name, value)

    async def front_door(stream: trio.SocketStream, hand_over: object) -> None:
        raise AssertionError("nothing may be served")

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        raise AssertionError("the app may not start")

    with pytest.raises(UnsupportedSettingError, match=r"trioflix serve does not offer") as error:
        await serve_with_front_door(
            app,
            config,
            front_door,
            on_stop=lambda: None,
            shutdown_trigger=trio.lowlevel.checkpoint,
        )
    assert named in str(error.value)


# -- the boundary: only trioflix.asgi_internals imports these internals ---------------------

# Public API of hypercorn and quart-trio: the rest of trioflix may import these.
PUBLIC = {"hypercorn.config", "hypercorn.typing", "quart_trio", "quart_trio.wrappers"}


def test_only_the_adapter_imports_hypercorn_and_quart_trio_internals() -> None:
    bad = []
    for path in sorted((ROOT / "trioflix").rglob("*.py")):
        if path == ADAPTER:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad += [
                f"{path.relative_to(ROOT)} imports {name}"
                for name in names
                if name.split(".")[0] in ("hypercorn", "quart_trio") and name not in PUBLIC
            ]
    assert not bad, "\n".join(bad) + "\n(use or extend trioflix.asgi_internals)"


def test_the_adapter_lists_every_upstream_function_checked_here() -> None:
    docstring = ast.get_docstring(ast.parse(ADAPTER.read_text())) or ""
    flat = " ".join(docstring.split())
    # A method is named with its class (Lifespan.__init__: "Lifespan").
    names = {u: [p for p in u.split(".") if not p.startswith("__")][-1] for u in SIGNATURES}
    missing = [
        upstream
        for upstream, name in {**names, **{u: u for u in COPIED}}.items()
        if name not in flat
    ]
    assert not missing, f"trioflix/asgi_internals.py's docstring does not name {missing}"
