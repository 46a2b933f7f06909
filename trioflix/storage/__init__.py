"""Object storage for media: one interface, a local-disk backend and an S3 backend.

:func:`parse_storage_url` reads ``file:`` or ``s3://BUCKET/PREFIX`` plus the
standard AWS variables; :func:`open_object_store` opens the store it
describes; :func:`probe_object_store` checks at start-up that it works.
Transient failures raise :class:`StorageUnavailable`, permanent ones a
:class:`StorageError`. See docs/storage.md.

The S3 backend (``trioflix.storage._s3``, on boto3) is imported only when an S3
store is opened.
"""

from __future__ import annotations

from trioflix.storage._config import LocalStorageConfig as LocalStorageConfig
from trioflix.storage._config import S3StorageConfig as S3StorageConfig
from trioflix.storage._config import StorageConfig as StorageConfig
from trioflix.storage._config import open_object_store as open_object_store
from trioflix.storage._config import parse_storage_url as parse_storage_url
from trioflix.storage._errors import AccessDenied as AccessDenied
from trioflix.storage._errors import BucketNotFound as BucketNotFound
from trioflix.storage._errors import InvalidPart as InvalidPart
from trioflix.storage._errors import InvalidRange as InvalidRange
from trioflix.storage._errors import ObjectNotFound as ObjectNotFound
from trioflix.storage._errors import StorageConfigError as StorageConfigError
from trioflix.storage._errors import StorageError as StorageError
from trioflix.storage._errors import StorageFailure as StorageFailure
from trioflix.storage._errors import StorageProbeError as StorageProbeError
from trioflix.storage._errors import StorageUnavailable as StorageUnavailable
from trioflix.storage._errors import UploadNotFound as UploadNotFound
from trioflix.storage._local import LocalObjectStore as LocalObjectStore
from trioflix.storage._objects import DEFAULT_CONTENT_TYPE as DEFAULT_CONTENT_TYPE
from trioflix.storage._objects import MAX_PARTS as MAX_PARTS
from trioflix.storage._objects import MIN_PART_SIZE as MIN_PART_SIZE
from trioflix.storage._objects import ObjectInfo as ObjectInfo
from trioflix.storage._objects import ObjectReader as ObjectReader
from trioflix.storage._objects import ObjectStore as ObjectStore
from trioflix.storage._objects import Part as Part
from trioflix.storage._probe import probe_object_store as probe_object_store
from trioflix.storage._retry import retry_unavailable as retry_unavailable
from trioflix.storage._seekable import SeekableReader as SeekableReader
