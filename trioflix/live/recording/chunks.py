"""Where a live recording's chunks are in the object store, and which make the recording.

A session's recording is the objects under ``recordings/{session_id}/``, each a
run of FLV tags (the first also carries the FLV header), named
``{writer:06d}-{n:06d}-{first_ms:012d}-{last_ms:012d}.flv``:

- ``writer`` counts the hosts (or runs) that recorded the session: each takes
  one more than the largest it finds in the store when it starts, so a host
  that continues the session after another sorts after it;
- ``n`` counts that writer's chunks from 0;
- ``first_ms`` and ``last_ms`` are the first and last tag timestamps, on the
  session's timeline: a writer that continues a session starts after the
  largest ``last_ms`` it found.

Listing the prefix therefore gives the order, and concatenating the chunks gives
one FLV stream with timestamps going forward. One exception: an origin that
was superseded but had not noticed yet may store a chunk after its successor
started, covering time the successor covers too. :func:`recording_source`
leaves such a stale tail out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from trioflix.storage import ObjectInfo

__all__ = ["Chunk", "chunk_key", "parse_chunks", "recording_prefix", "recording_source"]

_NAME = re.compile(r"(\d{6})-(\d{6})-(\d{12})-(\d{12})\.flv")


def recording_prefix(session_id: int) -> str:
    """The key prefix of ``session_id``'s chunks."""
    return f"recordings/{session_id}/"


def chunk_key(session_id: int, writer: int, n: int, first_ms: int, last_ms: int) -> str:
    """The key of a chunk (see the module's docstring)."""
    return f"{recording_prefix(session_id)}{writer:06d}-{n:06d}-{first_ms:012d}-{last_ms:012d}.flv"


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """One stored chunk of a recording.

    Attributes:
        key: Its object key.
        writer: Which writer stored it.
        n: Its number among that writer's chunks.
        first_ms: Its first tag's timestamp on the session's timeline.
        last_ms: Its last tag's timestamp.
        size: Its length in bytes.
    """

    key: str
    writer: int
    n: int
    first_ms: int
    last_ms: int
    size: int


def parse_chunks(session_id: int, objects: Iterable[ObjectInfo]) -> list[Chunk]:
    """The chunks among ``objects`` (a listing of the session's prefix), in key order.

    Objects whose names are not chunk names are left out.
    """
    prefix = recording_prefix(session_id)
    chunks = []
    for info in objects:
        name = info.key.removeprefix(prefix)
        match = _NAME.fullmatch(name) if name != info.key else None
        if match is not None:
            writer, n, first_ms, last_ms = map(int, match.groups())
            chunks.append(
                Chunk(
                    key=info.key,
                    writer=writer,
                    n=n,
                    first_ms=first_ms,
                    last_ms=last_ms,
                    size=info.size,
                )
            )
    chunks.sort(key=lambda chunk: chunk.key)
    return chunks


def recording_source(chunks: Iterable[Chunk]) -> tuple[list[Chunk], list[Chunk]]:
    """Which chunks, in key order, make one FLV stream with timestamps going forward.

    A later writer's chunk that starts before the chunks kept so far end means
    that an earlier writer went on after the later one took the session over:
    the earlier writer's chunks from there on are a stale tail and are left out.

    Returns:
        The chunks that make the recording, in order, and the stale ones.
    """
    kept: list[Chunk] = []
    stale: list[Chunk] = []
    for chunk in chunks:
        while kept and kept[-1].writer < chunk.writer and kept[-1].last_ms >= chunk.first_ms:
            stale.append(kept.pop())
        kept.append(chunk)
    return kept, stale
