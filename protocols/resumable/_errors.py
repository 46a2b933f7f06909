"""The one exception type of the resumable-upload package.

Every rule a client can break surfaces as a :class:`ResumableError` that knows
its HTTP status and the problem details object (RFC 9457) the response
carries: the draft registers problem types for an offset that does not match,
an upload that is already complete and an inconsistent length; other errors
use ``about:blank`` with a stable ``code`` member for machines.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "COMPLETED_UPLOAD",
    "INCONSISTENT_UPLOAD_LENGTH",
    "MISMATCHING_UPLOAD_OFFSET",
    "PROBLEM_JSON",
    "ResumableError",
    "problem",
]

_PROBLEM_TYPES = "https://iana.org/assignments/http-problem-types#"
#: 409: ``Upload-Offset`` is not where the upload stands.
MISMATCHING_UPLOAD_OFFSET = _PROBLEM_TYPES + "mismatching-upload-offset"
#: 409: the upload was already completed; nothing may be appended.
COMPLETED_UPLOAD = _PROBLEM_TYPES + "completed-upload"
#: 400: the request's lengths contradict each other or the upload's length.
INCONSISTENT_UPLOAD_LENGTH = _PROBLEM_TYPES + "inconsistent-upload-length"
#: The media type of every error body.
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, code: str, detail: str, problem_type: str = "about:blank", **extra: int
) -> dict[str, Any]:
    """A problem details object (RFC 9457) with our ``code`` member.

    With ``about:blank`` the title is the status's reason phrase, as RFC 9457
    requires; a registered type gets the same title (they are named for it).
    """
    return {
        "type": problem_type,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


class ResumableError(Exception):
    """A request the protocol refuses.

    Attributes:
        status: The HTTP status of the answer.
        code: A stable machine-readable reason (``code`` in the problem object).
        detail: Human-readable explanation.
        problem_type: The problem type URI (``about:blank`` unless the draft registers one).
        extra: Extension members of the problem object (``expected-offset``...).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        problem_type: str = "about:blank",
        **extra: int,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.problem_type = problem_type
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The problem details object to send as the body."""
        return problem(self.status, self.code, self.detail, self.problem_type, **self.extra)
