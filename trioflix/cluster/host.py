"""This process's identity in the cluster."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = ["Host"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    """One running trioflix process as the other hosts see it.

    Attributes:
        id: Unique per process start (:meth:`new`), so a host restarted at the same
            address is a new member, and a lease its previous run held is not its own.
        advertise_url: Base URL at which the other hosts reach this one's HTTP port,
            e.g. ``http://10.0.0.5:8000``.
    """

    id: str
    advertise_url: str

    @classmethod
    def new(cls, advertise_url: str) -> Host:
        """A fresh identity for a process that is starting."""
        return cls(id=secrets.token_hex(8), advertise_url=advertise_url)
