"""HTTP routes, one blueprint per area."""

from __future__ import annotations

from typing import TYPE_CHECKING

# The area modules themselves, not their blueprints, are bound here: a blueprint
# bound as ``trioflix.api.hls`` would hide the module of that name from every
# ``from trioflix.api import hls``.
from trioflix.api import (
    auth,
    chat,
    cluster,
    emotes,
    hls,
    openapi,
    operations,
    pages,
    playback,
    schedule,
    stream_keys,
    streaming,
    thumbnails,
    uploads,
    videos,
    wallet,
    whep,
    whip,
)

if TYPE_CHECKING:
    from quart import Quart

__all__ = ["register_blueprints"]


def register_blueprints(app: Quart) -> None:
    """Register every area's routes on ``app``."""
    for blueprint in (
        auth.blueprint,
        stream_keys.blueprint,
        operations.blueprint,
        openapi.blueprint,
        cluster.blueprint,
        streaming.blueprint,
        schedule.blueprint,
        playback.blueprint,
        whep.blueprint,
        whip.blueprint,
        hls.blueprint,
        thumbnails.blueprint,
        uploads.blueprint,
        videos.blueprint,
        chat.blueprint,
        chat.socket_blueprint,
        emotes.blueprint,
        wallet.blueprint,
        pages.blueprint,
    ):
        app.register_blueprint(blueprint)
