"""HTTP routes, one blueprint per area."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quart import Quart

__all__ = ["register_blueprints"]


def register_blueprints(app: Quart) -> None:
    from trioflix.api.auth import blueprint as auth
    from trioflix.api.operations import blueprint as operations
    from trioflix.api.stream_keys import blueprint as stream_keys

    app.register_blueprint(auth)
    app.register_blueprint(stream_keys)
    app.register_blueprint(operations)
