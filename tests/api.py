"""Requests to the served API, as its clients make them."""

from __future__ import annotations


def auth(token: str) -> dict[str, str]:
    """The header that logs a request in with ``token`` (from ``Server.register``)."""
    return {"Authorization": f"Bearer {token}"}
