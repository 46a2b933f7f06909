"""Storage: one interface, two backends (SQLite embedded, PostgreSQL via asyncpg).

SQL is written once, in the subset both engines share, with ``$1``-style
placeholders; the SQLite backend rewrites them. Repositories (``users``,
``stream_keys``, ``live_sessions``, ``schedule``) sit on top of :class:`Database`
and never see the backend.
"""

from __future__ import annotations

from trioflix.store import live_sessions as live_sessions
from trioflix.store import schedule as schedule
from trioflix.store import stream_keys as stream_keys
from trioflix.store import users as users
from trioflix.store._database import (
    Conflict as Conflict,
)
from trioflix.store._database import (
    Database as Database,
)
from trioflix.store._database import (
    Row as Row,
)
from trioflix.store._database import (
    StoreError as StoreError,
)
from trioflix.store._database import (
    StoreUnavailable as StoreUnavailable,
)
from trioflix.store._database import (
    Transaction as Transaction,
)
from trioflix.store._database import (
    holds_nul as holds_nul,
)
from trioflix.store._migrations import MIGRATIONS as MIGRATIONS
from trioflix.store._migrations import migrate as migrate
from trioflix.store._open import open_database as open_database
