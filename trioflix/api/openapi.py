"""``GET /api/openapi.json``: the API's OpenAPI 3.1 document, built from the code.

The operations are :data:`trioflix.api.contract.OPERATIONS`; the request body
schemas come from the msgspec Structs the routes decode with, the answers' from
:mod:`trioflix.api.responses`, both through :func:`msgspec.json.schema_components`
(JSON Schema 2020-12, which OpenAPI 3.1 uses as it is). What every route of a
kind answers (401 with a token, 400/413/415/422 with a JSON body, 404 with a
path parameter, 503 when the database is down) is added here, once.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec
from quart import Blueprint

from trioflix import __version__
from trioflix.api.contract import OPERATIONS, Answer, Operation

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["blueprint", "document"]

blueprint = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{([a-z_]+)\}")
_BEARER = "bearer"

_COMMON: dict[str, dict[int, Answer]] = {
    "auth": {401: Answer("`unauthorized`, `invalid_token`: no valid bearer token")},
    "json": {
        400: Answer("`malformed_json`: the body is not JSON"),
        415: Answer("`unsupported_media_type`: the body is not declared as JSON"),
        422: Answer("`invalid_body`: a field is missing, unknown, of the wrong type or range"),
    },
    "body": {413: Answer("`request_entity_too_large`: over 64 KiB")},
    "path": {404: Answer("`not_found`: no such thing, or another user's")},
    "database": {503: Answer("`database_unavailable` (`Retry-After`)")},
}


def _shapes(operations: Iterable[Operation]) -> list[type]:
    """Every Struct the document names, in first-seen order."""
    seen: dict[type, None] = {}
    for operation in operations:
        if isinstance(operation.body, type):
            seen[operation.body] = None
        for answer in operation.answers.values():
            if answer.shape is not None and issubclass(answer.shape, msgspec.Struct):
                seen[answer.shape] = None
    return list(seen)


def _answers(operation: Operation) -> dict[int, Answer]:
    answers = dict(operation.answers)
    kinds = []
    if operation.auth != "none":
        kinds.append("auth")
    if isinstance(operation.body, type):
        kinds.append("json")  # decoded by json_body: strict, typed
    if operation.body is not None:
        kinds.append("body")
    if _PATH_PARAM.search(operation.path):
        kinds.append("path")
    if operation.database:
        kinds.append("database")
    for kind in kinds:
        for status, answer in _COMMON[kind].items():
            answers.setdefault(status, answer)
    return dict(sorted(answers.items()))


def _operation(operation: Operation, refs: dict[type, Any]) -> dict[str, Any]:
    def schema(shape: type | Any) -> Any:
        if isinstance(shape, type):
            return refs[shape] if issubclass(shape, msgspec.Struct) else {"type": "object"}
        return dict(shape)

    out: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(operation.path)
    ] + [
        {
            "name": param.name,
            "in": param.where,
            "required": param.required,
            "schema": dict(param.schema),
            **({"description": param.description} if param.description else {}),
        }
        for param in operation.params
    ]
    if params:
        out["parameters"] = params
    if operation.body is not None:
        body_schema = schema(operation.body)
        out["requestBody"] = {
            "required": operation.body_required,
            "content": {media: {"schema": body_schema} for media in operation.body_types},
        }
    answers: dict[str, Any] = {}
    for status, answer in _answers(operation).items():
        entry: dict[str, Any] = {"description": answer.description}
        if answer.shape is not None:
            entry["content"] = {"application/json": {"schema": schema(answer.shape)}}
        if status in operation.links:
            entry["links"] = {name: dict(link) for name, link in operation.links[status].items()}
        answers[str(status)] = entry
    out["responses"] = answers
    if operation.auth == "required":
        out["security"] = [{_BEARER: []}]
    elif operation.auth == "optional":
        out["security"] = [{_BEARER: []}, {}]
    return out


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API, versioned with the package.

    Built once per process: it depends on the code alone, never on settings.
    """
    shapes = _shapes(OPERATIONS)
    refs, components = msgspec.json.schema_components(shapes, ref_template=_REF)
    by_type = dict(zip(shapes, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(
            operation, by_type
        )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "trioflix",
            "version": __version__,
            "description": "The JSON API of trioflix. Every error is "
            '`{"error": {"code", "message"}}` with a fitting status.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                _BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


@blueprint.get("/api/openapi.json")
async def openapi() -> dict[str, Any]:
    return document()
