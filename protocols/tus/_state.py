"""An upload's lifecycle rules, as pure values: the app stores, this decides.

Rules / theory of operation
---------------------------
An upload is ``(offset, length, concat, metadata, expires_at)``:

- ``length is None`` means the length is deferred (creation-defer-length), or,
  for a final upload, not yet computable (concatenation-unfinished).
- It is *finished* when ``offset == length``. Expiry only concerns unfinished
  uploads (tus 1.0.0, Expiration: "the time after which the unfinished upload
  expires"), so a finished upload is never 410 and carries no Upload-Expires.

A PATCH is checked by :meth:`UploadState.plan_patch`, in this order:

1. a final upload is never patched: 403 (Concatenation);
2. an expired unfinished upload: 410 (Expiration);
3. ``Upload-Offset`` must equal the current offset: 409 (core);
4. ``Upload-Length`` may be sent once to fix a deferred length (not below the
   bytes already stored); once fixed it MUST NOT change: 400;
5. the body may not run past the length, or past ``max_size`` while the length
   is still deferred: 413. With ``Content-Length`` this is decided up front;
   for a chunked body the app calls :meth:`PatchPlan.check_received` as bytes
   arrive.

After storing ``n`` bytes the app persists :meth:`UploadState.advanced` ``(n)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ._concat import Final, Partial
from ._config import Extension, TusConfig
from ._errors import ErrorCode, TusError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from ._requests import CreationRequest, PatchRequest

__all__ = ["PatchPlan", "UploadState", "final_length"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadState:
    """What the app stores about one upload.

    Attributes:
        offset: Bytes stored so far.
        length: Total size; None while deferred (or a final upload's length is unknown).
        concat: Partial/final marker from creation; None for an ordinary upload.
        metadata: Decoded ``Upload-Metadata`` from creation.
        expires_at: When the unfinished upload expires (timezone-aware); None: never.
    """

    offset: int = 0
    length: int | None = None
    concat: Partial | Final | None = None
    metadata: Mapping[str, bytes] = field(default_factory=dict)
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError("offset must be >= 0")
        if self.length is not None and self.length < self.offset:
            raise ValueError("length must be >= offset")
        if self.expires_at is not None and self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")

    @classmethod
    def from_creation(
        cls,
        request: CreationRequest,
        *,
        final_length: int | None = None,
        expires_at: datetime | None = None,
    ) -> UploadState:
        """The state of a new upload, before any body bytes are stored.

        Args:
            request: The parsed creation request.
            final_length: For a final upload, :func:`final_length` of its partials.
            expires_at: When the unfinished upload will expire, if it will.
        """
        if isinstance(request.concat, Final):
            length = final_length
        elif final_length is not None:
            raise ValueError("final_length is only for final uploads")
        else:
            length = request.length
        return cls(
            length=length,
            concat=request.concat,
            metadata=request.metadata,
            expires_at=expires_at,
        )

    @property
    def finished(self) -> bool:
        """All bytes are stored (for a final upload: the concatenation is done)."""
        return self.length is not None and self.offset == self.length

    @property
    def deferred(self) -> bool:
        """The client has yet to declare the length (``Upload-Defer-Length: 1`` in HEAD)."""
        return self.length is None and not isinstance(self.concat, Final)

    def is_expired(self, now: datetime) -> bool:
        """Whether the unfinished upload has expired at ``now`` (timezone-aware)."""
        return self.expires_at is not None and not self.finished and now >= self.expires_at

    def check_available(self, now: datetime) -> None:
        """Raise 410 ``upload_expired`` if the upload has expired (for HEAD and PATCH).

        The spec allows 404 instead; 410 is what it recommends when the server
        still knows the upload, which it does while it holds this state.
        """
        if self.is_expired(now):
            raise TusError(410, ErrorCode.UPLOAD_EXPIRED, "this upload has expired")

    def plan_patch(self, request: PatchRequest, config: TusConfig, *, now: datetime) -> PatchPlan:
        """Validate a PATCH against this upload (see the module docstring for the order).

        Args:
            request: The parsed PATCH.
            config: Supplies ``max_size`` for uploads whose length is deferred.
            now: The current time (timezone-aware), for expiry.

        Returns:
            The plan: persist ``plan.declared_length`` if set, stream at most
            ``plan.limit`` bytes, then persist ``plan.state.advanced(n)``.

        Raises:
            TusError: 403, 410, 409, 400 or 413 as listed in the module docstring.
        """
        if isinstance(self.concat, Final):
            raise TusError(
                403,
                ErrorCode.FINAL_UPLOAD_NOT_PATCHABLE,
                "a final (concatenated) upload cannot be patched",
            )
        self.check_available(now)
        if request.offset != self.offset:
            raise TusError(
                409,
                ErrorCode.OFFSET_MISMATCH,
                f"Upload-Offset is {request.offset} but the upload is at offset {self.offset}",
            )
        length = self.length
        declared: int | None = None
        if request.length is not None and request.length != self.length:
            if self.length is not None:
                raise TusError(
                    400,
                    ErrorCode.LENGTH_IMMUTABLE,
                    f"Upload-Length is already {self.length} and cannot change",
                )
            if request.length < self.offset:
                raise TusError(
                    400,
                    ErrorCode.INVALID_HEADER,
                    f"Upload-Length {request.length} is less than the {self.offset} bytes "
                    "already uploaded",
                )
            length = declared = request.length
        if length is not None:
            limit: int | None = length - self.offset
        elif config.max_size is not None:
            limit = max(config.max_size - self.offset, 0)
        else:
            limit = None
        plan = PatchPlan(state=replace(self, length=length), declared_length=declared, limit=limit)
        if request.content_length is not None:
            plan.check_received(request.content_length)
        return plan

    def advanced(self, received: int) -> UploadState:
        """This upload after ``received`` more bytes were stored.

        Raises:
            ValueError: ``received`` is negative or runs past ``length`` (the app
                should have stopped at ``PatchPlan.limit``).
        """
        if received < 0:
            raise ValueError("received must be >= 0")
        return replace(self, offset=self.offset + received)


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchPlan:
    """The outcome of a valid PATCH check.

    Attributes:
        state: The upload to write into, with a newly declared length applied.
        declared_length: The length this PATCH declared for a deferred upload;
            the app must persist it. None if nothing was declared.
        limit: Most bytes this request may append; None for no limit.
    """

    state: UploadState
    declared_length: int | None
    limit: int | None

    def check_received(self, received: int) -> None:
        """Raise 413 if ``received`` bytes of body exceed :attr:`limit`.

        Call it with the running total while streaming a body of unknown size;
        on 413 store nothing past the limit.
        """
        if self.limit is not None and received > self.limit:
            if self.state.length is not None:
                reason = f"exceeds the upload's remaining {self.limit} of {self.state.length} bytes"
            else:
                reason = f"exceeds the maximum upload size (room for {self.limit} more bytes)"
            raise TusError(
                413, ErrorCode.UPLOAD_TOO_LARGE, f"the request body ({received} bytes) {reason}"
            )


def final_length(partials: Sequence[UploadState], config: TusConfig) -> int | None:
    """The length of a final upload made of ``partials``, in order.

    Args:
        partials: The stored states of the uploads named in ``Upload-Concat``.
        config: Supplies ``max_size`` and whether concatenation-unfinished is on.

    Returns:
        The sum of the partial lengths; None if one is still deferred (only
        possible with concatenation-unfinished).

    Raises:
        TusError: 400 ``invalid_concatenation`` if an upload is not partial, or
            unfinished without concatenation-unfinished; 413 above ``max_size``.
    """
    total = 0
    known = True
    for number, partial in enumerate(partials, start=1):
        if not isinstance(partial.concat, Partial):
            raise TusError(
                400,
                ErrorCode.INVALID_CONCATENATION,
                f"upload #{number} in Upload-Concat is not a partial upload",
            )
        if not partial.finished and not config.supports(Extension.CONCATENATION_UNFINISHED):
            raise TusError(
                400,
                ErrorCode.INVALID_CONCATENATION,
                f"partial upload #{number} in Upload-Concat is not finished",
            )
        if partial.length is None:
            known = False
        else:
            total += partial.length
    if not known:
        return None
    if config.max_size is not None and total > config.max_size:
        raise TusError(
            413,
            ErrorCode.UPLOAD_TOO_LARGE,
            f"the partial uploads add up to {total} bytes, above the maximum of {config.max_size}",
        )
    return total
