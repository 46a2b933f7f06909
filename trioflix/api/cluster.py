"""``GET /api/cluster``: the hosts of the site, their live channels and load; and
``POST /internal/stop/{channel}``, by which another host has this one stop a
channel it is the origin of.

``GET /api/cluster`` is off unless ``TRIOFLIX_CLUSTER_API=on``: it tells whoever
asks where every host is (its advertise URL) and how busy, which is for the
site's operators, and there is no operator role among the accounts. On, any
signed-in user may read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Blueprint, request

from trioflix.api._http import current_user
from trioflix.cluster.pull_auth import PullTokenRejected
from trioflix.cluster.site import STOP_PATH, STOP_TOKEN_HEADER, SiteUnavailable
from trioflix.errors import APIError
from trioflix.state import state

if TYPE_CHECKING:
    from trioflix.cluster.members import Member

__all__ = ["blueprint"]

blueprint = Blueprint("cluster", __name__)


def _host(member: Member) -> dict[str, Any]:
    load = member.load
    return {
        "host": member.host,
        "advertise_url": member.advertise_url or None,
        "started_at": member.started_at,
        "channels": list(member.channels),
        "load": {
            "publishers": load.publishers,
            "viewers": load.viewers,
            "viewers_by_protocol": load.viewers_by_protocol,
            "cpu": load.cpu,
        },
    }


@blueprint.get("/api/cluster")
async def hosts() -> dict[str, Any]:
    app_state = state()
    if not app_state.settings.cluster_api:
        raise APIError(
            404, "not_found", "the cluster API is off (TRIOFLIX_CLUSTER_API=on turns it on)"
        )
    await current_user()
    site = app_state.site
    try:
        members = await site.members()
    except SiteUnavailable as exc:
        raise APIError(503, "cluster_unavailable", str(exc), headers={"Retry-After": "1"}) from None
    return {
        "mode": site.mode.value,
        "this_host": site.host.id,
        "hosts": [_host(m) for m in members],
    }


@blueprint.post(STOP_PATH)
async def stop_here(channel: str) -> dict[str, Any]:
    """Stop ``channel`` on this host for another host of the site (its stop API).

    The caller proves it is a host of the site with a stop token
    (:meth:`~trioflix.cluster.site.Site.check_stop_token`); the answer comes once
    the session has ended here: ``{"stopped": false}`` if it was not live here.
    """
    app_state = state()
    try:
        app_state.site.check_stop_token(request.headers.get(STOP_TOKEN_HEADER, ""), channel)
    except PullTokenRejected as exc:
        raise APIError(403, "forbidden", str(exc)) from None
    body = await request.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    reason = reason if isinstance(reason, str) and reason else "stopped from another host"
    return {"stopped": await app_state.registry.stop_channel(channel, reason[:200])}
