"""Where unfinished uploads are remembered, so running the command again resumes them."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["ResumeStore"]

RESUME_KEEP_S = 30 * 86400  # forget remembered uploads after 30 days (the server's expire sooner)


class ResumeStore:
    """Upload URLs of unfinished uploads, in one JSON file.

    Each entry is ``key -> {"url", "path", "saved_at"}``. Writers take an
    exclusive ``flock`` on a lock file beside it and replace the file
    atomically, so two clients uploading different files at once do not lose
    each other's entries, and a crash never leaves half a file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(server: str, file: Path, size: int, mtime_ns: int) -> str:
        """The entry for one version of one file on one server."""
        identity = json.dumps([server, str(file), size, mtime_ns])
        return hashlib.sha256(identity.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        """The upload URL remembered under ``key``, if any."""
        entry = self._read().get(key)
        return str(entry["url"]) if isinstance(entry, dict) and "url" in entry else None

    def put(self, key: str, url: str, file: Path) -> None:
        """Remember ``url`` as the upload of ``file`` under ``key``."""
        with self._locked() as entries:
            entries[key] = {"url": url, "path": str(file), "saved_at": time.time()}

    def forget(self, key: str) -> None:
        """Forget ``key``'s upload (it is complete, or the server no longer has it)."""
        with self._locked() as entries:
            entries.pop(key, None)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            yield entries
            cutoff = time.time() - RESUME_KEEP_S
            kept = {
                k: v
                for k, v in entries.items()
                if isinstance(v, dict) and float(v.get("saved_at", 0)) >= cutoff
            }
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(kept, indent=1))
            os.replace(temporary, self.path)
