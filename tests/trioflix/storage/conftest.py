"""The ``store`` fixture on both backends.

Every test that takes ``store`` runs twice: on the local-disk backend and on a
fresh bucket of the session's SeaweedFS (the ``seaweed`` fixture,
tests/seaweedfs.py), the way the database tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.seaweedfs import create_bucket
from trioflix.storage import LocalStorageConfig, open_object_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.seaweedfs import SeaweedServer
    from trioflix.storage import ObjectStore, StorageConfig


@pytest.fixture(params=["local", "s3"])
async def storage_config(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig:
    """The config of an empty store: a directory, or a fresh bucket under a prefix."""
    if request.param == "local":
        return LocalStorageConfig(root=tmp_path / "objects")
    server: SeaweedServer = request.getfixturevalue("seaweed")
    # A prefix, so that every test also checks the backend keeps to it.
    return server.config(await create_bucket(server), "site/")


@pytest.fixture
async def store(storage_config: StorageConfig, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    async with open_object_store(storage_config, data_dir=tmp_path) as opened:
        yield opened
