"""Storage: one interface, two backends (SQLite embedded, PostgreSQL via asyncpg).

SQL is written once, in the subset both engines share, with ``$1``-style
placeholders; the SQLite backend rewrites them. Repositories (``users``,
``stream_keys``) sit on top of :class:`Database` and never see the backend.
"""

from __future__ import annotations

from trioflix.store._database import (
    Conflict as Conflict,
    Database as Database,
    Row as Row,
    StoreError as StoreError,
    StoreUnavailable as StoreUnavailable,
    Transaction as Transaction,
)
from trioflix.store._migrations import MIGRATIONS as MIGRATIONS, migrate as migrate
from trioflix.store._open import open_database as open_database
