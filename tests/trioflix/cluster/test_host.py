"""A host's identity: new at every process start, so a restarted host is a new member."""

from __future__ import annotations

from trioflix.cluster.host import Host


def test_every_start_gets_its_own_id() -> None:
    first, second = Host.new("http://10.0.0.5:8000"), Host.new("http://10.0.0.5:8000")
    assert first.id != second.id and len(first.id) == 16
    assert first.advertise_url == second.advertise_url == "http://10.0.0.5:8000"
