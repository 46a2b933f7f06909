"""Hosts of one site prove that they see the same data directory.

Recordings and uploads written by one host are served by all of them, so every
host of a cluster needs the same storage (a shared filesystem, for now). The
first host to start writes a random id into ``cluster-storage-id`` in the data
directory; a host that sees the same directory reads the same id, and a host
whose directory is another one (a local disk, a different mount) has its own. The
id goes into each member record, and a host whose id differs from the others' is
refused at start (``trioflix.cluster.checks.check_peers``).
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["storage_id"]

STORAGE_ID_FILE = "cluster-storage-id"


def storage_id(data_dir: Path) -> str:
    """The id of the storage behind ``data_dir``, created on first use (blocking; call at start).

    Hosts starting at the same moment on a shared directory agree: the id is
    written to a private file and linked into place, and the link of all but the
    first fails, so they read the first's.
    """
    path = data_dir / STORAGE_ID_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{STORAGE_ID_FILE}.{secrets.token_hex(8)}"
        draft.write_text(f"data-dir:{secrets.token_hex(16)}\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another host was first: its id is the one
        finally:
            draft.unlink()
    return path.read_text().strip()
