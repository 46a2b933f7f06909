"""The client behind trusted reverse proxies: its address, scheme and host.

Behind nginx, every connection comes from the proxy, which says who its client was
in ``X-Forwarded-For`` (each proxy appends the address it took the request from),
and how in ``X-Forwarded-Proto`` and ``X-Forwarded-Host``. Anyone can send those
headers, so they are read only when the connection itself comes from a trusted
proxy (``TRIOFLIX_TRUSTED_PROXIES``), and ``X-Forwarded-For`` is read from the
right: the client is the right-most address that is not a trusted proxy, the
first one no trusted hop vouches for. Whatever a client put to the left of it is
ignored. With no trusted proxies (the default), the connection's own address is
the client, whatever the headers say.

hypercorn's ``ProxyFixMiddleware`` does not fit: it trusts a fixed number of hops
from any peer, so a client that reaches the port directly could name any address
it likes; and ``trioflix serve``'s front door (:mod:`trioflix.direct`) answers some
routes without ASGI. Both paths call :func:`resolve` here, so that the throttles,
the access log and everything else that names the client see one address.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    # Any: the scope, receive and send of whichever server's typing the app uses.
    ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

__all__ = [
    "Forwarded",
    "ForwardedMiddleware",
    "TrustedProxies",
    "is_trusted",
    "resolve",
    "trusted_networks",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedProxies = tuple[Network, ...]

_SCHEMES = frozenset({"http", "https"})
# A host as a browser sends it in Host: a name or an address, and a port.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def trusted_networks(entries: Iterable[str]) -> TrustedProxies:
    """The networks of ``entries`` (addresses or CIDRs, such as ``10.0.0.0/8``).

    Raises:
        ValueError: an entry is neither.
    """
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """Who the client is, as trioflix should see it.

    Attributes:
        client: The client's address; the peer's when no trusted proxy says otherwise.
        scheme: ``"https"`` or ``"http"`` as the client used it, if a trusted proxy said.
        host: The ``Host`` the client asked for, if a trusted proxy said.
    """

    client: str | None
    scheme: str | None = None
    host: str | None = None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: TrustedProxies
) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
    return any(address in network for network in trusted)


def is_trusted(peer: str, trusted: TrustedProxies) -> bool:
    """Whether ``peer`` (an address) is one of the ``trusted`` proxies."""
    address = _address(peer)
    return address is not None and _trusted(address, trusted)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every comma-separated value of header ``name`` (lower case), in order."""
    return [
        part.strip()
        for key, value in headers
        if key.lower() == name
        for part in value.decode("latin-1").split(",")
        if part.strip()
    ]


def resolve(
    peer: str | None, headers: Iterable[tuple[bytes, bytes]], trusted: TrustedProxies
) -> Forwarded:
    """The client of a request from ``peer`` with ``headers`` (raw ASGI-style pairs)."""
    if not trusted or peer is None:
        return Forwarded(peer)  # no proxy to believe: not worth parsing the address
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, trusted):
        return Forwarded(peer)
    headers = list(headers)
    client = peer
    for hop in reversed(_values(headers, b"x-forwarded-for")):
        address = _address(hop)
        if address is None:
            break  # not an address: nothing left of it can be trusted either
        client = str(address)
        if not _trusted(address, trusted):
            break
    # The nearest proxy's word, the last value: nginx's proxy_set_header replaces it.
    protos = _values(headers, b"x-forwarded-proto")
    scheme = protos[-1].lower() if protos and protos[-1].lower() in _SCHEMES else None
    hosts = _values(headers, b"x-forwarded-host")
    host = hosts[-1] if hosts and _HOST.fullmatch(hosts[-1]) else None
    return Forwarded(client, scheme, host)


class ForwardedMiddleware:
    """ASGI middleware: the scope's ``client``, ``scheme`` and ``Host`` as :func:`resolve`
    finds them, for requests and websockets from ``trusted`` proxies."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            client = scope.get("client")
            peer = client[0] if client else None
            found = resolve(peer, scope["headers"], self.trusted)
            if found.client != peer or found.scheme or found.host:
                scope = dict(scope)
                if found.client != peer:
                    scope["client"] = (found.client, 0)
                if found.scheme is not None:
                    secure = found.scheme == "https"
                    if kind == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = found.scheme
                if found.host is not None:
                    scope["headers"] = [
                        (name, value) for name, value in scope["headers"] if name.lower() != b"host"
                    ] + [(b"host", found.host.encode("latin-1"))]
        await self.app(scope, receive, send)
