"""What this server offers: the single source for parsing rules and ``OPTIONS``.

The same :class:`TusConfig` that :func:`options_response` advertises decides
what the parsers accept, so a client can never use an extension the server did
not announce, and the server never announces one it would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CHECKSUM_DIGEST_SIZES", "Extension", "TusConfig"]


class Extension(StrEnum):
    """A tus 1.0.0 extension name, as listed in ``Tus-Extension``."""

    CREATION = "creation"
    CREATION_WITH_UPLOAD = "creation-with-upload"
    CREATION_DEFER_LENGTH = "creation-defer-length"
    EXPIRATION = "expiration"
    CHECKSUM = "checksum"
    CHECKSUM_TRAILER = "checksum-trailer"
    TERMINATION = "termination"
    CONCATENATION = "concatenation"
    CONCATENATION_UNFINISHED = "concatenation-unfinished"


#: Checksum algorithms we can parse, with their digest size in bytes. The names are
#: also ``hashlib.new()`` names. tus: names are lower-case ASCII; ``sha1`` is mandatory.
CHECKSUM_DIGEST_SIZES: dict[str, int] = {"md5": 16, "sha1": 20, "sha256": 32}

# Extension -> the extension it builds on (the spec says so for creation-with-upload;
# the others are meaningless without their base).
_REQUIRES: dict[Extension, Extension] = {
    Extension.CREATION_WITH_UPLOAD: Extension.CREATION,
    Extension.CREATION_DEFER_LENGTH: Extension.CREATION,
    Extension.CONCATENATION: Extension.CREATION,
    Extension.CONCATENATION_UNFINISHED: Extension.CONCATENATION,
    Extension.CHECKSUM_TRAILER: Extension.CHECKSUM,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TusConfig:
    """The server's tus capabilities and limits.

    Attributes:
        extensions: Extensions the server implements, in the order to list them in
            ``Tus-Extension``. Requests using any other extension get 400 (or 405 for
            POST without ``creation`` and DELETE without ``termination``).
        max_size: Largest upload in bytes (``Tus-Max-Size``); None for no limit.
        checksum_algorithms: ``Tus-Checksum-Algorithm``, in order; only used when
            ``checksum`` is enabled. Must include ``sha1`` then.

    Raises:
        ValueError: From the constructor, for an inconsistent configuration.
    """

    extensions: tuple[Extension, ...] = (
        Extension.CREATION,
        Extension.CREATION_WITH_UPLOAD,
        Extension.CREATION_DEFER_LENGTH,
        Extension.EXPIRATION,
        Extension.CHECKSUM,
        Extension.TERMINATION,
        Extension.CONCATENATION,
    )
    max_size: int | None = None
    checksum_algorithms: tuple[str, ...] = ("sha1", "sha256", "md5")

    def __post_init__(self) -> None:
        # Coerce plain strings ("creation") so callers may pass either.
        extensions = tuple(Extension(ext) for ext in self.extensions)
        object.__setattr__(self, "extensions", extensions)
        if len(set(extensions)) != len(extensions):
            raise ValueError("extensions must not repeat")
        for ext in extensions:
            base = _REQUIRES.get(ext)
            if base is not None and base not in extensions:
                raise ValueError(f"extension {ext} requires {base}")
        if self.max_size is not None and self.max_size < 0:
            raise ValueError("max_size must be >= 0 or None")
        for name in self.checksum_algorithms:
            if name not in CHECKSUM_DIGEST_SIZES:
                raise ValueError(f"unsupported checksum algorithm {name!r}")
        if len(set(self.checksum_algorithms)) != len(self.checksum_algorithms):
            raise ValueError("checksum_algorithms must not repeat")
        if Extension.CHECKSUM in extensions and "sha1" not in self.checksum_algorithms:
            # tus 1.0.0, Checksum: "The Server MUST support at least ... sha1".
            raise ValueError("the checksum extension requires sha1")

    def supports(self, extension: Extension) -> bool:
        """Whether ``extension`` is enabled."""
        return extension in self.extensions
