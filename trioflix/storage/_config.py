"""Which object store to use: a storage URL plus the standard AWS variables, and opening it.

``file:`` (or nothing) keeps media in the data directory; ``file:/abs/path``
puts it in another directory; ``s3://BUCKET/PREFIX`` puts it in a bucket,
reached with the variables every S3 tool reads: ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` (absent: AWS itself), ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``;
absent: ``us-east-1``, which every S3-compatible server accepts).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio

from trioflix.storage._errors import StorageConfigError
from trioflix.storage._local import LocalObjectStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from trioflix.storage._objects import ObjectStore

__all__ = [
    "LocalStorageConfig",
    "S3StorageConfig",
    "StorageConfig",
    "open_object_store",
    "parse_storage_url",
]

DEFAULT_REGION = "us-east-1"
CLOSE_TIMEOUT_S = 5.0  # closing pooled connections is local work; more means a stuck peer
# S3's bucket naming rules (3-63 lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalStorageConfig:
    """Objects on local disk.

    Attributes:
        root: The directory; ``None`` means the server's data directory.
    """

    root: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class S3StorageConfig:
    """Objects in an S3 bucket.

    Attributes:
        bucket: The bucket's name.
        prefix: Put before every key: empty or ending in ``/``.
        endpoint_url: ``http(s)://host[:port]`` of the S3 API.
        region: Signing region.
        access_key_id: Identity.
        secret_access_key: Its secret (never shown in ``repr``).
    """

    bucket: str
    prefix: str
    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


StorageConfig = LocalStorageConfig | S3StorageConfig


def parse_storage_url(url: str | None, env: Mapping[str, str]) -> StorageConfig:
    """The storage that ``url`` and the AWS variables in ``env`` describe.

    Args:
        url: ``None``/``""``/``"file:"``, ``"file:/abs/dir"``, or ``"s3://BUCKET[/PREFIX]"``.
        env: The environment (``os.environ``, or a dict in tests).

    Raises:
        StorageConfigError: The URL is malformed, or a variable S3 needs is missing.
    """
    if not url or url == "file:":
        return LocalStorageConfig()
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise StorageConfigError(f"storage URL {url!r}: use file: or file:/absolute/directory")
        return LocalStorageConfig(root=Path(parts.path))
    if parts.scheme != "s3":
        raise StorageConfigError(f"storage URL {url!r}: expected file: or s3://BUCKET/PREFIX")
    if parts.query or parts.fragment:
        raise StorageConfigError(f"storage URL {url!r}: no query or fragment allowed")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket):
        raise StorageConfigError(f"storage URL {url!r}: {bucket!r} is not a valid bucket name")
    prefix = parts.path.strip("/")
    if prefix:
        prefix += "/"
    if "//" in prefix or any(segment in (".", "..") for segment in prefix.split("/")):
        raise StorageConfigError(f"storage URL {url!r}: the prefix has empty or dot segments")
    missing = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(name)]
    if missing:
        raise StorageConfigError(f"storage URL {url!r} needs {' and '.join(missing)} set")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    endpoint = (
        env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or f"https://s3.{region}.amazonaws.com"
    )
    endpoint_parts = urlsplit(endpoint)
    if endpoint_parts.scheme not in ("http", "https") or not endpoint_parts.hostname:
        raise StorageConfigError(f"S3 endpoint {endpoint!r} is not an http(s) URL")
    return S3StorageConfig(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint.rstrip("/"),
        region=region,
        access_key_id=env["AWS_ACCESS_KEY_ID"],
        secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@contextlib.asynccontextmanager
async def open_object_store(config: StorageConfig, *, data_dir: Path) -> AsyncIterator[ObjectStore]:
    """Open the store ``config`` describes, for the duration of the block.

    Opening does no network I/O: run :func:`~trioflix.storage.probe_object_store`
    to find out whether the store works.

    Args:
        config: From :func:`parse_storage_url`.
        data_dir: The server's data directory; local objects go in ``data_dir/media``
            unless the config names another directory.
    """
    store: ObjectStore
    if isinstance(config, LocalStorageConfig):
        local = LocalObjectStore(config.root or data_dir / "media")
        await local.start()
        store = local
    else:
        # boto3 is imported only for an S3 store: it costs about 100 MiB and a second
        # at start, which a server on its data directory should not pay.
        from trioflix.storage._s3 import S3ObjectStore, create_s3_client

        client = await trio.to_thread.run_sync(
            create_s3_client,
            config.endpoint_url,
            config.region,
            config.access_key_id,
            config.secret_access_key,
        )
        store = S3ObjectStore(client, config.bucket, config.prefix)
    try:
        yield store
    finally:
        with trio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
            await store.aclose()
