"""``GET /api/cluster``: the hosts of the site, their live channels and load.

Off unless ``TRIOFLIX_CLUSTER_API=on``: it tells whoever asks where every host is
(its advertise URL) and how busy, which is for the site's operators, and there
is no operator role among the accounts. On, any signed-in user may read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Blueprint

from trioflix.api._http import current_user
from trioflix.cluster.site import SiteUnavailable
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
