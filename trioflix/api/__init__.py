"""HTTP routes, one blueprint per area."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trioflix.api.auth import blueprint as auth
from trioflix.api.chat import blueprint as chat
from trioflix.api.chat import socket_blueprint as chat_socket
from trioflix.api.emotes import blueprint as emotes
from trioflix.api.hls import blueprint as hls
from trioflix.api.operations import blueprint as operations
from trioflix.api.pages import blueprint as pages
from trioflix.api.playback import blueprint as playback
from trioflix.api.stream_keys import blueprint as stream_keys
from trioflix.api.streaming import blueprint as streaming
from trioflix.api.thumbnails import blueprint as thumbnails
from trioflix.api.uploads import blueprint as uploads
from trioflix.api.videos import blueprint as videos
from trioflix.api.wallet import blueprint as wallet

if TYPE_CHECKING:
    from quart import Quart

__all__ = ["register_blueprints"]


def register_blueprints(app: Quart) -> None:
    """Register every area's routes on ``app``."""
    for blueprint in (
        auth,
        stream_keys,
        operations,
        streaming,
        playback,
        hls,
        thumbnails,
        uploads,
        videos,
        chat,
        chat_socket,
        emotes,
        wallet,
        pages,
    ):
        app.register_blueprint(blueprint)
