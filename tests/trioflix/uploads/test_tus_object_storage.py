"""tus uploads on object storage: parts as they fill, from memory or a bounded spool, the durable
tail, faults.

Every test here runs on the session's SeaweedFS (``media_storage`` is ``s3``), with
5 MiB parts (S3's least) so that a few MiB cross part boundaries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.disks import bytes_on_disk
from tests.waiting import wait_until
from trioflix.storage import StorageUnavailable
from trioflix.uploads import records
from trioflix.uploads.housekeeping import sweep
from trioflix.uploads.multipart import (
    PARTS_FROM_MEMORY,
    PARTS_IN_FLIGHT,
    SpooledUpload,
    UploadObjects,
)

from .helpers import (
    TUS,
    V,
    auth,
    create,
    finished_bytes,
    head,
    open_multipart_uploads,
    patch,
    raw_patch,
    raw_patch_finish,
    raw_patch_start,
    upload_id,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from _typeshed import ReadableBuffer

    from tests.conftest import Server
    from tests.seaweedfs import SeaweedServer
    from trioflix.storage import ObjectReader, Part

MIB = 1024 * 1024
PART = 5 * MIB
COPY_LIMIT = 2 * PART  # ObjectStore.max_single_bytes in the tests (5 GiB in service)

pytestmark = [
    pytest.mark.usefixtures("media_storage"),
    pytest.mark.parametrize("media_storage", ["s3"], indirect=True),
    pytest.mark.backends("sqlite", reason="the point is the storage; two hosts use PostgreSQL"),
    pytest.mark.settings(upload_part_size=PART),
]


async def _listed_parts(seaweed: SeaweedServer, server: Server, path: str) -> list[int]:
    """The part numbers the store lists for the upload at ``path`` (still open)."""
    bucket = server.settings.storage_url.split("/")[2]  # type: ignore[union-attr]
    key = f"site/uploads/{upload_id(path)}/data"

    def listing() -> list[int]:
        client = seaweed.client()
        try:
            uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=key)["Uploads"]
            (only,) = uploads
            parts = client.list_parts(Bucket=bucket, Key=key, UploadId=only["UploadId"])
        finally:
            client.close()
        return [part["PartNumber"] for part in parts.get("Parts", [])]

    return await trio.to_thread.run_sync(listing)


class PartSends:
    """The store's real ``upload_part`` and ``upload_part_bytes``, wrapped to see how many
    sends overlap and where they come from.

    Every send waits (at most :data:`HOLD_LIMIT_S`) until ``release`` is set,
    which happens when :data:`PARTS_IN_FLIGHT` sends are under way at once, or
    by the test; ``spooled`` is the upload's local spool bytes at each send,
    ``sources`` says for each send whether it went from ``"memory"`` or a ``"file"``.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: Server, path: str) -> None:
        self.active = 0
        self.most = 0
        self.full = trio.Event()  # PARTS_IN_FLIGHT sends were under way at once
        self.release = trio.Event()
        self.release_when_full = True
        self.spooled: list[int] = []
        self.sources: list[str] = []
        self._spools = server.settings.data_dir / "uploads"
        self._id = upload_id(path)
        objects = server.app.trioflix.objects
        from_file = objects.upload_part
        from_memory = objects.upload_part_bytes

        async def upload_part(
            key: str,
            multipart_id: str,
            number: int,
            part_path: Path,
            *,
            offset: int = 0,
            length: int | None = None,
        ) -> Part:
            async def send() -> Part:
                return await from_file(
                    key, multipart_id, number, part_path, offset=offset, length=length
                )

            return await self._held("file", send)

        async def upload_part_bytes(
            key: str, multipart_id: str, number: int, data: ReadableBuffer
        ) -> Part:
            async def send() -> Part:
                return await from_memory(key, multipart_id, number, data)

            return await self._held("memory", send)

        monkeypatch.setattr(objects, "upload_part", upload_part)
        monkeypatch.setattr(objects, "upload_part_bytes", upload_part_bytes)

    async def _held(self, source: str, send: Callable[[], Awaitable[Part]]) -> Part:
        self.active += 1
        self.most = max(self.most, self.active)
        self.spooled.append(spool_bytes(self._spools, self._id))
        self.sources.append(source)
        if self.active >= PARTS_IN_FLIGHT:
            self.full.set()
            if self.release_when_full:
                self.release.set()
        try:
            with trio.move_on_after(HOLD_LIMIT_S):
                await self.release.wait()
            self.release.set()  # a server sending one part at a time waits once
            return await send()
        finally:
            self.active -= 1


HOLD_LIMIT_S = 30.0  # a send held longer is let go: sends one at a time still end (and fail)


def spool_bytes(directory: Path, upload: str) -> int:
    """The bytes of an upload's spools: the files of parts being sent."""
    return bytes_on_disk(directory.glob(f"{upload}*.spool"))


async def _patch_watching_spools(
    server: Server, token: str, path: str, offset: int, data: bytes
) -> list[int]:
    """PATCH ``data`` at ``offset`` (204 expected); the upload's spool bytes, sampled meanwhile."""
    spools = server.settings.data_dir / "uploads"
    sizes: list[int] = []

    async def watch(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            sizes.append(spool_bytes(spools, upload_id(path)))
            await trio.sleep(0.005)

    async with trio.open_nursery() as nursery:
        await nursery.start(watch)
        with trio.fail_after(120):
            done = await server.tus.patch(
                path,
                content=data,
                headers={
                    **V,
                    **auth(token),
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset),
                },
                timeout=120,
            )
        nursery.cancel_scope.cancel()
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(offset + len(data))
    return sizes


@pytest.mark.slow
async def test_parts_are_sent_several_at_once_from_memory_and_a_bounded_spool(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(64 * MIB)
    path = await create(server.tus, token, len(data))
    sends = PartSends(monkeypatch, server, path)
    sizes = await _patch_watching_spools(server, token, path, 0, data)
    # PARTS_IN_FLIGHT parts were being sent at once, and never more; of those,
    # PARTS_FROM_MEMORY from memory, the others from files.
    assert sends.most == PARTS_IN_FLIGHT
    assert sends.sources[:PARTS_IN_FLIGHT] == ["memory"] * PARTS_FROM_MEMORY + ["file"] * (
        PARTS_IN_FLIGHT - PARTS_FROM_MEMORY
    )
    # The body went on being read meanwhile: as the last of them went out, the
    # spools held the parts sent from files; and at no time more than those.
    on_disk = (PARTS_IN_FLIGHT - PARTS_FROM_MEMORY) * PART
    assert max(sends.spooled) == on_disk
    assert max(sizes) <= on_disk
    spools = server.settings.data_dir / "uploads"
    assert not list(spools.glob(f"{upload_id(path)}*"))  # removed at the end of the request
    stored = await finished_bytes(server, token, path)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    objects = await server.app.trioflix.objects.list_prefix(f"uploads/{upload_id(path)}/")
    assert [info.key.rsplit("/", 1)[1] for info in objects] == ["data"]  # the tail is gone


async def test_patches_of_one_part_use_no_local_disk(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATCHes as long as a part (the benchmark's 8 MiB chunks of 8 MiB parts) go from
    memory: no byte of them is written to the local disk, tail or part."""
    token, _ = await server.register("alice")
    data = os.urandom(3 * PART)
    path = await create(server.tus, token, len(data))
    sends = PartSends(monkeypatch, server, path)
    sends.release.set()  # one send at a time: none is held
    sizes: list[int] = []
    for offset in range(0, len(data), PART):
        sizes += await _patch_watching_spools(
            server, token, path, offset, data[offset : offset + PART]
        )
    assert sends.sources == ["memory"] * 3
    assert sends.spooled == [0] * 3 and max(sizes) == 0
    assert await finished_bytes(server, token, path) == data


async def test_a_part_stored_before_an_earlier_one_counts_only_once_that_one_is(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(3 * PART + MIB)
    path = await create(server.tus, token, len(data) + MIB)
    uploads = server.app.trioflix.uploads
    assert isinstance(uploads.files, UploadObjects)
    objects = server.app.trioflix.objects
    from_file, from_memory = objects.upload_part, objects.upload_part_bytes
    first = trio.Event()
    stored: list[int] = []

    async def upload_part_bytes(
        key: str, multipart_id: str, number: int, data: ReadableBuffer
    ) -> Part:
        # The first part goes from memory (the others from files while it is
        # under way): it is stored last.
        await first.wait()
        part = await from_memory(key, multipart_id, number, data)
        stored.append(number)
        return part

    async def upload_part(
        key: str,
        multipart_id: str,
        number: int,
        part_path: Path,
        *,
        offset: int = 0,
        length: int | None = None,
    ) -> Part:
        part = await from_file(key, multipart_id, number, part_path, offset=offset, length=length)
        stored.append(number)
        return part

    monkeypatch.setattr(objects, "upload_part", upload_part)
    monkeypatch.setattr(objects, "upload_part_bytes", upload_part_bytes)
    upload = await records.get_upload(uploads.db, upload_id(path), None)
    assert upload is not None
    async with uploads.files.opened(uploads.db, upload) as spooled:
        await spooled.write([data])  # three parts go out, a MiB stays in the buffer
        await wait_until(lambda: sorted(stored) == [2, 3])
        assert await spooled.sync(whole=False) == 0  # parts 2 and 3 wait for part 1
        first.set()
        offset = await spooled.sync()  # waits for part 1: then all three count, and the tail
        assert offset == len(data)
        await spooled.commit(uploads.db, offset, None)
    assert (await head(server.tus, token, path)).headers["Upload-Offset"] == str(len(data))
    rest = os.urandom(MIB)
    done = await patch(server.tus, token, path, len(data), rest)
    assert done.status_code == 204
    assert await finished_bytes(server, token, path) == data + rest


async def test_a_client_gone_with_parts_in_flight_keeps_what_they_stored(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(32 * MIB)
    path = await create(server.tus, token, len(data))
    sends = PartSends(monkeypatch, server, path)
    sends.release_when_full = False
    sent = PARTS_IN_FLIGHT * PART + MIB
    stream = await raw_patch_start(server.settings.http, token, path, 0, len(data), data[:sent])
    ending = trio.Event()  # the request's last step began: it saw the client go
    real_sync = SpooledUpload.sync

    async def sync(self: SpooledUpload, *, whole: bool = True) -> int:
        if whole:
            ending.set()
        return await real_sync(self, whole=whole)

    monkeypatch.setattr(SpooledUpload, "sync", sync)
    with trio.fail_after(60):
        await sends.full.wait()
        await stream.aclose()  # the client goes away while its parts are being sent
        await ending.wait()
    sends.release.set()
    locks = server.app.trioflix.uploads.locks
    await wait_until(lambda: locks.holder(upload_id(path)) is None)  # the request ended
    spools = server.settings.data_dir / "uploads"
    assert not list(spools.glob(f"{upload_id(path)}*"))  # its part files went with it
    # The parts in flight were stored and committed, with the MiB after them.
    state = await head(server.tus, token, path)
    assert state.headers["Upload-Offset"] == str(sent)
    done = await patch(server.tus, token, path, sent, data[sent:])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))
    assert await finished_bytes(server, token, path) == data


async def test_a_checksum_mismatch_after_parts_went_out_keeps_nothing_and_reuses_no_number(
    server: Server, seaweed: SeaweedServer
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(30 * MIB)
    path = await create(server.tus, token, len(data))
    assert (await patch(server.tus, token, path, 0, data[:100])).status_code == 204
    chunk = data[100 : 100 + 12 * MIB]
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    bad = await patch(server.tus, token, path, 100, chunk, **{"Upload-Checksum": f"sha256 {wrong}"})
    assert bad.status_code == 460
    assert (await head(server.tus, token, path)).headers["Upload-Offset"] == "100"
    # Two parts of the refused chunk were sent before the checksum could be known.
    assert await _listed_parts(seaweed, server, path) == [1, 2]
    right = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    ok = await patch(server.tus, token, path, 100, chunk, **{"Upload-Checksum": f"sha256 {right}"})
    assert ok.status_code == 204 and ok.headers["Upload-Offset"] == str(100 + 12 * MIB)
    # The bytes went out again under new numbers: none was sent twice.
    assert await _listed_parts(seaweed, server, path) == [1, 2, 3, 4]
    rest = await patch(server.tus, token, path, 100 + 12 * MIB, data[100 + 12 * MIB :])
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(data))
    assert await finished_bytes(server, token, path) == data


def _answer(head_part: bytes, body: bytes) -> tuple[str, dict[str, str]]:
    """The JSON error code and the headers (lower-case names) of a raw answer."""
    lines = head_part.decode("latin-1").split("\r\n")[1:]
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines)
    }
    return json.loads(body)["error"]["code"], headers


@pytest.mark.slow
@pytest.mark.parametrize("size", [MIB, 6 * MIB], ids=["tail", "part"])
async def test_storage_away_mid_patch_is_503_and_the_upload_resumes_exactly(
    server: Server, restart_seaweed: SeaweedServer, size: int
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(16 * MIB)
    path = await create(server.tus, token, len(data))
    first = await patch(server.tus, token, path, 0, data[: 6 * MIB])  # a part and a tail
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(6 * MIB)

    # A PATCH is under way (its first bytes taken after the tail was read back) when
    # the storage goes away: its tail cannot be stored, or its part cannot be sent.
    body = data[6 * MIB : 6 * MIB + size]
    stream = await raw_patch_start(server.settings.http, token, path, 6 * MIB, size, body[:256])
    locks = server.app.trioflix.uploads.locks

    def taken() -> bool:
        holder = locks.holder(upload_id(path))
        return holder is not None and holder.received == 6 * MIB + 256

    await wait_until(taken)
    await trio.to_thread.run_sync(restart_seaweed.stop)
    status, head_part, answer = await raw_patch_finish(stream, body[256:])
    assert status == 503
    code, headers = _answer(head_part, answer)
    assert code == "storage_unavailable" and int(headers["retry-after"]) > 0
    state = await head(server.tus, token, path)
    assert state.status_code == 200 and state.headers["Upload-Offset"] == str(6 * MIB)

    # While it is away, a PATCH is refused before its body.
    status, answer = await raw_patch(server, token, path, 6 * MIB, body)
    assert status == 503 and json.loads(answer)["error"]["code"] == "storage_unavailable"

    await trio.to_thread.run_sync(restart_seaweed.start)
    offset = int((await head(server.tus, token, path)).headers["Upload-Offset"])
    assert offset == 6 * MIB  # nothing acknowledged was lost
    done = await patch(server.tus, token, path, offset, data[offset:])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))
    assert await finished_bytes(server, token, path) == data


async def test_storage_away_with_parts_in_flight_is_503_and_the_upload_resumes_exactly(
    server: Server, restart_seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(32 * MIB)
    path = await create(server.tus, token, len(data))
    first = await patch(server.tus, token, path, 0, data[: 6 * MIB])  # a part and a tail
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(6 * MIB)

    # The next PATCH's first parts are all being sent (held) when the storage
    # goes away; the body is still coming.
    sends = PartSends(monkeypatch, server, path)
    sends.release_when_full = False
    body = data[6 * MIB :]
    started = PARTS_IN_FLIGHT * PART - MIB + 256  # the tail's MiB makes the first part
    stream = await raw_patch_start(
        server.settings.http, token, path, 6 * MIB, len(body), body[:started]
    )
    with trio.fail_after(60):
        await sends.full.wait()
    await trio.to_thread.run_sync(restart_seaweed.stop)
    sends.release.set()
    status, head_part, answer = await raw_patch_finish(stream, body[started:])
    assert status == 503
    code, headers = _answer(head_part, answer)
    assert code == "storage_unavailable" and int(headers["retry-after"]) > 0
    assert sends.most == PARTS_IN_FLIGHT
    spools = server.settings.data_dir / "uploads"
    assert not list(spools.glob(f"{upload_id(path)}*"))  # no spool left behind

    await trio.to_thread.run_sync(restart_seaweed.start)
    offset = int((await head(server.tus, token, path)).headers["Upload-Offset"])
    assert offset == 6 * MIB  # nothing acknowledged was lost, nothing unstored counted
    more = await patch(server.tus, token, path, offset, data[offset:-MIB])
    assert more.status_code == 204 and more.headers["Upload-Offset"] == str(len(data) - MIB)
    listed = await _listed_parts(restart_seaweed, server, path)
    assert len(listed) == len(set(listed))  # no part number was sent twice
    done = await patch(server.tus, token, path, len(data) - MIB, data[-MIB:])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))
    assert await finished_bytes(server, token, path) == data


@pytest.mark.slow
@pytest.mark.settings(upload_expiry=1)
async def test_an_expired_upload_has_its_multipart_upload_aborted(
    server: Server, seaweed: SeaweedServer
) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 20 * MIB)
    await patch(server.tus, token, path, 0, os.urandom(6 * MIB))
    storage_url = server.settings.storage_url
    assert storage_url is not None
    assert len(await open_multipart_uploads(seaweed, storage_url)) == 1
    objects = server.app.trioflix.objects
    assert [info.key for info in await objects.list_prefix("uploads/")] == [
        f"uploads/{upload_id(path)}/tail"
    ]

    with trio.fail_after(20):  # housekeeping sweeps every 0.5 s with this expiry
        # The upload is marked expired first, then its multipart upload is aborted.
        while await open_multipart_uploads(seaweed, storage_url):  # noqa: ASYNC110 (polled)
            await trio.sleep(0.1)
    assert (await head(server.tus, token, path)).status_code == 410
    assert await objects.list_prefix("uploads/") == []


@pytest.mark.slow
async def test_a_termination_while_the_storage_is_away_is_cleaned_up_once_it_is_back(
    server: Server, restart_seaweed: SeaweedServer
) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 20 * MIB)
    await patch(server.tus, token, path, 0, os.urandom(6 * MIB))  # a part and a tail
    storage_url = server.settings.storage_url
    assert storage_url is not None

    await trio.to_thread.run_sync(restart_seaweed.stop)
    deleted = await server.tus.delete(path, headers={**V, **auth(token)})
    assert deleted.status_code == 204  # the termination stands; the bytes wait
    assert (await head(server.tus, token, path)).status_code == 410
    await trio.to_thread.run_sync(restart_seaweed.start)
    assert len(await open_multipart_uploads(restart_seaweed, storage_url)) == 1

    await sweep(server.app.trioflix.uploads)  # housekeeping's next pass
    assert await open_multipart_uploads(restart_seaweed, storage_url) == []
    assert await server.app.trioflix.objects.list_prefix("uploads/") == []
    assert await records.list_data_left(server.app.trioflix.db, 10) == []
    assert (await head(server.tus, token, path)).status_code == 410


@pytest.mark.slow
@pytest.mark.settings(upload_expiry=1)  # housekeeping sweeps every 0.5 s
async def test_an_expiry_while_the_storage_is_away_is_cleaned_up_once_it_is_back(
    server: Server, restart_seaweed: SeaweedServer
) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 20 * MIB)
    await trio.to_thread.run_sync(restart_seaweed.stop)
    with trio.fail_after(20):  # it expires (and is marked so) with the storage away
        while (await head(server.tus, token, path)).status_code != 410:  # noqa: ASYNC110 (polled)
            await trio.sleep(0.1)
    db = server.app.trioflix.db
    assert [upload.id for upload in await records.list_data_left(db, 10)] == [upload_id(path)]

    await trio.to_thread.run_sync(restart_seaweed.start)
    storage_url = server.settings.storage_url
    assert storage_url is not None
    with trio.fail_after(20):  # the next sweeps, every 0.5 s, once the storage answers
        while await records.list_data_left(db, 10):  # noqa: ASYNC110 (polled)
            await trio.sleep(0.1)
    assert await open_multipart_uploads(restart_seaweed, storage_url) == []


@pytest.mark.parametrize(
    ("sizes", "read"),
    [
        # Partials of 5 MiB or more, and a small last one: every part is copied.
        ((6 * MIB, PART, 100_000), []),
        # A small partial cannot be a part of its own: it is read, and so are the
        # bytes after it until the joined part reaches 5 MiB.
        ((100_000, 6 * MIB, 1000), [0, 1]),
        # A partial over the limit on a copied part (5 GiB, here scaled down to
        # COPY_LIMIT): copied as several parts.
        ((COPY_LIMIT + MIB, 1000), []),
    ],
)
async def test_concatenation_copies_parts_inside_the_store(
    server: Server, monkeypatch: pytest.MonkeyPatch, sizes: tuple[int, ...], read: list[int]
) -> None:
    token, _ = await server.register("alice")
    parts = [os.urandom(size) for size in sizes]
    paths = []
    for data in parts:
        path = await create(server.tus, token, len(data), **{"Upload-Concat": "partial"})
        assert (await patch(server.tus, token, path, 0, data)).status_code == 204
        paths.append(path)
    objects = server.app.trioflix.objects
    monkeypatch.setattr(objects, "max_single_bytes", COPY_LIMIT)
    copied: list[int] = []
    real_copy = objects.upload_part_copy

    async def upload_part_copy(*args: Any, **range_: Any) -> Part:
        part = await real_copy(*args, **range_)
        copied.append(part.size)
        return part

    monkeypatch.setattr(objects, "upload_part_copy", upload_part_copy)
    reads: list[str] = []
    real_open_read = objects.open_read

    async def open_read(key: str, **range_: Any) -> ObjectReader:
        reads.append(key)
        return await real_open_read(key, **range_)

    monkeypatch.setattr(objects, "open_read", open_read)
    final = await server.tus.post(
        TUS, headers={**V, **auth(token), "Upload-Concat": "final;" + " ".join(paths)}
    )
    assert final.status_code == 201, final.text
    monkeypatch.undo()
    assert reads == [f"uploads/{upload_id(paths[i])}/data" for i in read]
    assert all(size <= COPY_LIMIT for size in copied) and sum(copied) <= sum(sizes)
    assert await finished_bytes(server, token, final.headers["Location"]) == b"".join(parts)
    # The partials' objects are gone with them.
    for path in paths:
        assert await objects.list_prefix(f"uploads/{upload_id(path)}/") == []


@pytest.mark.slow
@pytest.mark.settings(upload_expiry=1)  # housekeeping sweeps every 0.5 s
async def test_a_completion_cut_short_by_the_storage_is_caught_up(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(6 * MIB)
    path = await create(server.tus, token, len(data))
    objects = server.app.trioflix.objects

    async def away(*args: object, **kwargs: object) -> Part:
        raise StorageUnavailable("the storage went away (injected)")

    # Every byte is stored (a part and the tail), but joining them fails.
    monkeypatch.setattr(objects, "upload_part_copy", away)
    answer = await patch(server.tus, token, path, 0, data)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "storage_unavailable"
    assert (await head(server.tus, token, path)).headers["Upload-Offset"] == str(len(data))
    monkeypatch.undo()  # the storage is back: housekeeping completes the upload

    status_url = f"/api/upload/status/{upload_id(path)}"

    async def video_id() -> int | None:
        status = await server.client.get(status_url, headers=auth(token))
        return status.json()["upload"]["video_id"]  # type: ignore[no-any-return]

    with trio.fail_after(20):
        while await video_id() is None:  # noqa: ASYNC110 (polled over HTTP)
            await trio.sleep(0.1)
    assert await finished_bytes(server, token, path) == data
