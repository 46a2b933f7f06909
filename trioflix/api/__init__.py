"""HTTP routes, one blueprint per area."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quart import Quart

__all__ = ["register_blueprints"]


def register_blueprints(app: Quart) -> None:
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

    app.register_blueprint(auth)
    app.register_blueprint(stream_keys)
    app.register_blueprint(operations)
    app.register_blueprint(streaming)
    app.register_blueprint(playback)
    app.register_blueprint(hls)
    app.register_blueprint(thumbnails)
    app.register_blueprint(uploads)
    app.register_blueprint(videos)
    app.register_blueprint(chat)
    app.register_blueprint(chat_socket)
    app.register_blueprint(emotes)
    app.register_blueprint(wallet)
    app.register_blueprint(pages)
