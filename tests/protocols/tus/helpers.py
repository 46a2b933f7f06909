"""Shared fixtures-as-values for the tus tests (no pytest fixtures needed: all pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from protocols import tus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

T = TypeVar("T")

V = {"Tus-Resumable": "1.0.0"}
STREAM = "application/offset+octet-stream"
#: Every extension on, 1000-byte limit.
ALL = tus.TusConfig(extensions=tuple(tus.Extension), max_size=1000)
#: Core protocol only: no extensions at all.
CORE = tus.TusConfig(extensions=())
#: Creation without any of its companions.
CREATION = tus.TusConfig(extensions=(tus.Extension.CREATION,))
#: The default config (no checksum-trailer, no concatenation-unfinished, no limit).
DEFAULT = tus.TusConfig()

#: sha1(b"hello world"), the example in the tus checksum extension.
SHA1_HELLO = "Kq5sNclPz7QV2+lfQIuc6R7oRu0="


@dataclass(frozen=True)
class Err:
    """An expected TusError: status, code and a fragment of the message."""

    status: int
    code: tus.ErrorCode
    fragment: str = ""


class MultiHeaders:
    """Headers as a list of pairs, like werkzeug's Headers: repeats allowed."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def items(self) -> Iterable[tuple[str, str]]:
        return iter(self._pairs)


def h(**kwargs: str) -> dict[str, str]:
    """Version header plus ``Upload_Length="5"`` style keywords as header names."""
    return {**V, **{name.replace("_", "-"): value for name, value in kwargs.items()}}


def attempt(fn: Callable[[], T]) -> T | tus.TusError:
    """``fn()``, or the TusError it raised (for property tests: any other exception fails)."""
    try:
        return fn()
    except tus.TusError as exc:
        return exc
