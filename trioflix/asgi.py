"""ASGI entry point for plain hypercorn: ``hypercorn -k trio trioflix.asgi:app``.

Settings come from the environment only (there are no flags here). Building the
app does no I/O; the services start at ASGI lifespan startup.
"""

from __future__ import annotations

from trioflix.allocator import tune_malloc
from trioflix.app import create_app
from trioflix.config import Settings
from trioflix.logs import configure_logging
from trioflix.server import tune_gc

_settings = Settings.from_env()
configure_logging(_settings.log_level)
app = create_app(_settings)
tune_gc()  # this module is imported once, by the server process
tune_malloc()
