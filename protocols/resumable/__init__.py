"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload-12), sans-IO.

Headers in, typed requests or :class:`ResumableError` out; the app stores
:class:`Progress` and asks it whether an append may go ahead. Structured
fields (RFC 9651) and digests (RFC 9530) are parsed here; no I/O, no clock.

Typical append handler::

    try:
        req = resumable.parse_request("PATCH", headers, "upload")
        plan = store.progress(upload_id).plan_append(req, MAX_SIZE)   # 409/400/413
        ...                                   # app: stream at most plan.limit bytes
        reply = 204, [*resumable.progress_headers(store.progress(upload_id))]
    except resumable.ResumableError as exc:
        reply = exc.status, exc.problem()     # application/problem+json
"""

from __future__ import annotations

from ._errors import COMPLETED_UPLOAD as COMPLETED_UPLOAD
from ._errors import INCONSISTENT_UPLOAD_LENGTH as INCONSISTENT_UPLOAD_LENGTH
from ._errors import MISMATCHING_UPLOAD_OFFSET as MISMATCHING_UPLOAD_OFFSET
from ._errors import PROBLEM_JSON as PROBLEM_JSON
from ._errors import ResumableError as ResumableError
from ._errors import problem as problem
from ._fields import FieldError as FieldError
from ._fields import format_boolean as format_boolean
from ._fields import format_dictionary as format_dictionary
from ._fields import parse_boolean as parse_boolean
from ._fields import parse_byte_sequence_dictionary as parse_byte_sequence_dictionary
from ._fields import parse_integer as parse_integer
from ._requests import PARTIAL_UPLOAD as PARTIAL_UPLOAD
from ._requests import Append as Append
from ._requests import AppendPlan as AppendPlan
from ._requests import Cancellation as Cancellation
from ._requests import Creation as Creation
from ._requests import HeaderSource as HeaderSource
from ._requests import OffsetRetrieval as OffsetRetrieval
from ._requests import Progress as Progress
from ._requests import Resource as Resource
from ._requests import ResumableRequest as ResumableRequest
from ._requests import limit_header as limit_header
from ._requests import parse_request as parse_request
from ._requests import progress_headers as progress_headers
