"""receive_body: large writes, commits only over fsynced bytes, fsyncs beside the writing.

The policy is proven step by step against an in-memory file, then observed on a
served upload's real file through its real ``fsync`` calls.
"""

from __future__ import annotations

import errno
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from protocols import tus
from trioflix.errors import APIError
from trioflix.uploads import http_body, transfer
from trioflix.uploads.http_body import FlowControlledBody
from trioflix.uploads.locks import Holder
from trioflix.uploads.transfer import receive_body

from .helpers import create, raw_patch_start

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tests.conftest import DiskSyncs, Server
    from trioflix.uploads.files import Hasher

KIB = 1024
MIB = 1024 * KIB


class MemoryFile:
    """An upload file in memory whose fsync takes a while and covers what was written before it.

    Attributes:
        synced: Bytes the last finished fsync covered (what survives a crash).
        events: ``("write", size)``, ``("sync", position)`` when an fsync starts,
            ``("synced", position)`` when it returns.
    """

    def __init__(self, *, failing_sync: int | None = None, sync_s: float = 0.01) -> None:
        self.data = bytearray()
        self.position = 0
        self.synced = 0
        self.events: list[tuple[str, int]] = []
        self._syncs = 0
        self._failing_sync = failing_sync
        self._sync_s = sync_s

    async def write(self, pieces: Sequence[bytes], hasher: Hasher | None = None) -> None:
        await trio.lowlevel.checkpoint()
        for piece in pieces:
            self.data += piece
            if hasher is not None:
                hasher.update(piece)
        self.position = len(self.data)
        self.events.append(("write", sum(map(len, pieces))))

    async def sync(self, *, whole: bool = True) -> int:
        covered = self.position
        self.events.append(("sync", covered))
        self._syncs += 1
        await trio.sleep(self._sync_s)
        if self._syncs == self._failing_sync:
            raise OSError(errno.EIO, "fsync failed (simulated)")
        self.synced = max(self.synced, covered)
        self.events.append(("synced", covered))
        return covered

    async def truncate(self, size: int) -> None:
        del self.data[size:]
        self.position = size


@pytest.fixture
def small_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """64 KiB writes, a commit every 256 KiB: the production ratios, in less memory."""
    monkeypatch.setattr(transfer, "WRITE_BYTES", 64 * KIB)
    monkeypatch.setattr(http_body, "HIGH_WATER_BYTES", 64 * KIB)
    monkeypatch.setattr(transfer, "COMMIT_INTERVAL_BYTES", 256 * KIB)


async def _send(body: FlowControlledBody, pieces: list[bytes], *, end: bool = True) -> None:
    for piece in pieces:
        await body.put(piece, more=True)
    if end:
        await body.put(b"", more=False)


def _pieces(count: int, size: int) -> list[bytes]:
    return [bytes([i % 251]) * size for i in range(count)]


async def _receive(
    body: FlowControlledBody, file: MemoryFile, holder: Holder, commits: list[int]
) -> int:
    async def commit(offset: int) -> None:
        # The policy under test: the database never gets ahead of the disk.
        assert offset <= file.synced, f"commit {offset} before fsync (synced {file.synced})"
        commits.append(offset)

    return await receive_body(
        body,
        file,
        plan=tus.PatchPlan(state=tus.UploadState(), declared_length=None, limit=None),
        checksum=None,
        holder=holder,
        commit=commit,
        progress=lambda: None,
    )


@pytest.mark.usefixtures("small_sizes")
async def test_fsyncs_run_beside_the_writes_and_commits_follow_them(
    autojump_clock: trio.abc.Clock,
) -> None:
    body = FlowControlledBody(None, None)
    file = MemoryFile()
    sent = _pieces(160, 16 * KIB)  # 2.5 MiB: ten commit intervals
    commits: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send, body, sent)
        committed = await _receive(body, file, Holder(), commits)

    total = sum(map(len, sent))
    assert committed == total == commits[-1] == file.synced
    assert file.data == b"".join(sent)
    assert commits == sorted(commits) and len(commits) >= 5
    # Writes are whole batches, not one per received piece.
    writes = [size for event, size in file.events if event == "write"]
    assert all(size >= 64 * KIB for size in writes[:-1])
    # The body kept going to the disk while an fsync was running.
    running = 0
    overlapped = 0
    for event, _ in file.events:
        running += {"sync": 1, "synced": -1}.get(event, 0)
        overlapped += event == "write" and running > 0
    assert overlapped > 0


@pytest.mark.usefixtures("small_sizes")
async def test_no_commit_after_a_failed_fsync(autojump_clock: trio.abc.Clock) -> None:
    body = FlowControlledBody(None, None)
    file = MemoryFile(failing_sync=2)
    commits: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send, body, _pieces(160, 16 * KIB))
        with pytest.raises(OSError, match="simulated"):
            await _receive(body, file, Holder(), commits)
        nursery.cancel_scope.cancel()
    # Linux may drop the pages of a failed fsync and let the next one succeed:
    # the offset stays at the one commit made before the failure.
    synced = [position for event, position in file.events if event == "synced"]
    assert len(synced) == 1
    assert len(commits) == 1 and 0 < commits[0] <= synced[0]


async def test_a_cleanup_past_its_bound_keeps_the_committed_offset_and_says_so(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    body = FlowControlledBody(None, None)
    file = MemoryFile(sync_s=transfer.CLEANUP_TIMEOUT_S * 2)  # a store slower than the bound
    sent = _pieces(4, 16 * KIB)
    commits: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send, body, sent)
        committed = await _receive(body, file, Holder(), commits)
    # The final fsync never returned in time: nothing past it is claimed.
    assert committed == 0 and commits == []
    assert file.data == b"".join(sent)
    assert "upload cleanup took over 10 s: offset 0 kept" in caplog.text


@pytest.mark.parametrize("ending", ["evicted", "client_gone"])
async def test_a_cut_short_transfer_keeps_every_byte_received(
    ending: str, autojump_clock: trio.abc.Clock
) -> None:
    body = FlowControlledBody(None, None)
    file = MemoryFile()
    holder = Holder()
    sent = _pieces(300, 3001)  # 0.86 MiB: less than one write, in odd sizes
    commits: list[int] = []

    async def cut_short() -> None:
        await trio.sleep(1)
        if ending == "evicted":
            holder.evict()  # a newer request for the upload arrived
        else:
            request.cancel()  # what the ASGI glue does on http.disconnect

    with trio.CancelScope() as request:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(_send, body, sent, end=False))  # the body never ends
            nursery.start_soon(cut_short)
            with pytest.raises(APIError) as raised:
                await _receive(body, file, holder, commits)
            assert raised.value.status == 423
            nursery.cancel_scope.cancel()
    assert request.cancelled_caught == (ending == "client_gone")
    total = sum(map(len, sent))
    assert commits == [total] and file.synced == total
    assert file.data == b"".join(sent)


@pytest.mark.slow
async def test_on_the_real_file_the_offset_moves_only_over_fsynced_bytes(
    server: Server, disk_syncs: DiskSyncs
) -> None:
    """The same policy, observed on the served upload's data file and its database row.

    The body stops 4 MiB after the documented 32 MiB interval: the commit made
    during the request must follow an fsync that covered it, and so must the one
    at its end.
    """
    token, _ = await server.register("alice")
    interval = 32 * MIB  # docs/uploads.md: an fsync starts every 32 MiB
    data = b"".join(_pieces(interval // MIB + 8, MIB))
    path = await create(server.tus, token, len(data))
    upload_id = path.rsplit("/", 1)[1]
    data_file = server.settings.data_dir / "uploads" / f"{upload_id}.bin"
    db = server.app.trioflix.db

    async def committed() -> int:
        # The row, not HEAD: a HEAD would evict the open request.
        offset = await db.fetchval("SELECT upload_offset FROM uploads WHERE id = $1", upload_id)
        assert isinstance(offset, int)
        return offset

    first = interval + 4 * MIB
    stream = await raw_patch_start(server.settings.http, token, path, 0, len(data), data[:first])
    async with stream:
        with trio.fail_after(30):
            while not (offset := await committed()):  # noqa: ASYNC110 (nothing signals a commit)
                await trio.sleep(0.05)
        assert interval <= offset <= disk_syncs.durable_size(data_file)
        await stream.send_all(data[first:])
        reply = b""
        with trio.fail_after(30):
            while b"\r\n\r\n" not in reply:
                chunk = await stream.receive_some(4096)
                assert chunk, "the server closed the connection without an answer"
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 204"), reply
    assert await committed() == len(data) == disk_syncs.durable_size(data_file)
