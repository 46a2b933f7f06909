"""TusConfig validation and the exported constants."""

from __future__ import annotations

import pytest

from protocols import tus

E = tus.Extension


def test_defaults() -> None:
    config = tus.TusConfig()
    assert config.max_size is None
    assert config.checksum_algorithms == ("sha1", "sha256", "md5")
    assert config.supports(E.CREATION)
    assert not config.supports(E.CHECKSUM_TRAILER)


def test_plain_strings_are_coerced() -> None:
    config = tus.TusConfig(extensions=("creation", "termination"))  # type: ignore[arg-type]
    assert config.extensions == (E.CREATION, E.TERMINATION)
    assert all(isinstance(ext, tus.Extension) for ext in config.extensions)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extensions": ("bogus",)}, "bogus"),
        ({"extensions": (E.CREATION, E.CREATION)}, "must not repeat"),
        ({"extensions": (E.CREATION_WITH_UPLOAD,)}, "requires creation"),
        ({"extensions": (E.CREATION_DEFER_LENGTH,)}, "requires creation"),
        ({"extensions": (E.CONCATENATION,)}, "requires creation"),
        ({"extensions": (E.CREATION, E.CONCATENATION_UNFINISHED)}, "requires concatenation"),
        ({"extensions": (E.CHECKSUM_TRAILER,)}, "requires checksum"),
        ({"max_size": -1}, "max_size"),
        ({"checksum_algorithms": ("sha1", "crc32")}, "unsupported checksum algorithm 'crc32'"),
        ({"checksum_algorithms": ("sha1", "sha1")}, "must not repeat"),
        ({"checksum_algorithms": ("sha256",)}, "requires sha1"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tus.TusConfig(**kwargs)  # type: ignore[arg-type]


def test_sha1_only_required_with_checksum() -> None:
    config = tus.TusConfig(extensions=(E.CREATION,), checksum_algorithms=("md5",))
    assert config.checksum_algorithms == ("md5",)


def test_digest_sizes_match_hashlib() -> None:
    import hashlib

    for name, size in tus.CHECKSUM_DIGEST_SIZES.items():
        assert hashlib.new(name).digest_size == size


def test_cors_lists() -> None:
    for name in ("Location", "Upload-Offset", "Upload-Length", "Upload-Metadata"):
        assert name in tus.CORS_EXPOSE_HEADERS
    for name in ("Upload-Defer-Length", "Upload-Concat", "Upload-Expires", "Tus-Version"):
        assert name in tus.CORS_EXPOSE_HEADERS
    assert {n for n in tus.CORS_EXPOSE_HEADERS if n.startswith("Tus-")} == {
        "Tus-Resumable",
        "Tus-Version",
        "Tus-Extension",
        "Tus-Max-Size",
        "Tus-Checksum-Algorithm",
    }
    for name in ("Tus-Resumable", "Upload-Offset", "Content-Type", "X-HTTP-Method-Override"):
        assert name in tus.CORS_ALLOW_HEADERS
    assert set(tus.CORS_ALLOW_METHODS) == {"POST", "HEAD", "PATCH", "DELETE", "OPTIONS"}
    assert (tus.TUS_RESUMABLE, tus.TUS_VERSION) == ("1.0.0", "1.0.0")
    assert tus.OFFSET_OCTET_STREAM == "application/offset+octet-stream"


def test_tus_error_fields() -> None:
    exc = tus.TusError(409, tus.ErrorCode.OFFSET_MISMATCH, "nope")
    assert (exc.status, exc.code, exc.message, exc.headers) == (409, "offset_mismatch", "nope", ())
    assert str(exc) == "409 offset_mismatch: nope"
    assert isinstance(exc, Exception)
