"""tus 1.0.0 resumable uploads, sans-IO: headers in, typed requests or errors out.

Covers the core protocol and the creation, creation-with-upload,
creation-defer-length, expiration, checksum, checksum-trailer, termination,
concatenation and concatenation-unfinished extensions. No I/O, no clock: the
app passes ``now`` and stores :class:`UploadState`; this package decides what
the protocol allows and what the responses carry.

Typical PATCH handler (the others follow the same shape)::

    try:
        req = tus.parse_request(method, headers, CONFIG, resource="upload")
        state = store.state(upload_id)                  # app: 404 if unknown
        plan = state.plan_patch(req, CONFIG, now=now)   # 403/410/409/400/413
        n = await store.append(upload_id, body, plan)   # app; plan.check_received(total)
        if req.checksum:                                # per chunk; then commit or discard
            tus.verify_checksum(req.checksum, digest)   # 460
        state = plan.state.advanced(n)
        reply = tus.patch_response(state)
    except tus.TusError as exc:
        reply = tus.error_response(exc)   # JSON body from exc.code / exc.message
"""

from __future__ import annotations

from ._checksum import Checksum as Checksum
from ._checksum import parse_checksum as parse_checksum
from ._checksum import parse_checksum_trailer as parse_checksum_trailer
from ._checksum import verify_checksum as verify_checksum
from ._concat import Final as Final
from ._concat import Partial as Partial
from ._concat import format_concat as format_concat
from ._concat import parse_concat as parse_concat
from ._concat import upload_id_from_url as upload_id_from_url
from ._config import CHECKSUM_DIGEST_SIZES as CHECKSUM_DIGEST_SIZES
from ._config import Extension as Extension
from ._config import TusConfig as TusConfig
from ._errors import ErrorCode as ErrorCode
from ._errors import TusError as TusError
from ._headers import CORS_ALLOW_HEADERS as CORS_ALLOW_HEADERS
from ._headers import CORS_ALLOW_METHODS as CORS_ALLOW_METHODS
from ._headers import CORS_EXPOSE_HEADERS as CORS_EXPOSE_HEADERS
from ._headers import OFFSET_OCTET_STREAM as OFFSET_OCTET_STREAM
from ._headers import TUS_RESUMABLE as TUS_RESUMABLE
from ._headers import TUS_VERSION as TUS_VERSION
from ._headers import HeaderSource as HeaderSource
from ._metadata import encode_metadata as encode_metadata
from ._metadata import parse_metadata as parse_metadata
from ._requests import CreationRequest as CreationRequest
from ._requests import DeleteRequest as DeleteRequest
from ._requests import HeadRequest as HeadRequest
from ._requests import OptionsRequest as OptionsRequest
from ._requests import PatchRequest as PatchRequest
from ._requests import Resource as Resource
from ._requests import TusRequest as TusRequest
from ._requests import allowed_methods as allowed_methods
from ._requests import effective_method as effective_method
from ._requests import parse_creation as parse_creation
from ._requests import parse_delete as parse_delete
from ._requests import parse_head as parse_head
from ._requests import parse_options as parse_options
from ._requests import parse_patch as parse_patch
from ._requests import parse_request as parse_request
from ._responses import TusResponse as TusResponse
from ._responses import creation_response as creation_response
from ._responses import error_response as error_response
from ._responses import format_http_date as format_http_date
from ._responses import head_response as head_response
from ._responses import options_response as options_response
from ._responses import patch_response as patch_response
from ._responses import termination_response as termination_response
from ._state import PatchPlan as PatchPlan
from ._state import UploadState as UploadState
from ._state import final_length as final_length
