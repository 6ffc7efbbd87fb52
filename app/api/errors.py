"""Every failure becomes one error body, ``{"error": {"code", "message"}}``, with its HTTP status.

The one place a failure of the rules (``ServiceError``) or of a store (``StoreError``) becomes an HTTP
status; ``ApiError`` is raised by the HTTP layer itself (authentication, rate limits, the admin gate).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.responses import OrjsonResponse
from app.api.routing import allowed_methods
from app.repositories.errors import RecordGoneError, StoreBusyError, StoreError, UnknownCursorError
from app.services.errors import Failure, ServiceError

log = logging.getLogger("app")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> OrjsonResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    return OrjsonResponse({"error": body}, status_code=status, headers=headers)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def service_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the documented error statuses of a route."""
    return {status: {"model": ErrorResponse} for status in statuses}


#: The one place a failure of the rules becomes an HTTP status.
STATUS: dict[Failure, int] = {
    Failure.MALFORMED: 400,
    Failure.UNAUTHENTICATED: 401,
    Failure.NOT_FOUND: 404,
    Failure.CONFLICT: 409,
    Failure.TOO_LARGE: 413,
    Failure.INVALID: 422,
    Failure.UPSTREAM_FAILED: 502,
    Failure.UNAVAILABLE: 503,
}
STORE_STATUS: dict[type[StoreError], int] = {
    StoreBusyError: 503,
    UnknownCursorError: 404,
    RecordGoneError: 409,
}


def status_of(exc: ServiceError | StoreError) -> int:
    if isinstance(exc, ServiceError):
        return STATUS[exc.failure]
    return STORE_STATUS[type(exc)]


async def _service_error(_: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, ServiceError | StoreError)
    return error_response(status_of(exc), exc.code, exc.message)


async def _api_error(_: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _http_error(_: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 with every method the path serves in ``Allow``; OPTIONS answers that list (204)."""
    allow = ", ".join(allowed_methods(request.app.router.routes, request.scope))
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    return error_response(
        405, "method_not_allowed", f"{request.method} is not allowed here", {"Allow": allow}
    )


async def _validation_error(_: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    message = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
    return error_response(422, "validation_error", message, details=details)


async def _unhandled(_: Request, exc: Exception) -> OrjsonResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal", "internal server error")


UNPARSABLE_BODY = {
    "description": "The body cannot be read as JSON text (not UTF-8): `bad_request`",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def declare_unparsable_body(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the 400 FastAPI answers for a JSON body it cannot decode to every operation taking one.

    Malformed JSON text is a 422 ``validation_error`` (documented on every route); bytes that are not
    UTF-8 never reach the parser and come back 400 from any such operation, which no route declares itself.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorResponse" not in components:
        generated = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(generated.pop("$defs", {}))
        components["ErrorResponse"] = generated
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                operation.setdefault("responses", {}).setdefault("400", UNPARSABLE_BODY)
    return schema


def _document(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_unparsable_body(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def install(app: FastAPI) -> None:
    """Answers every failure with the error body: ours, the framework's, and anything unexpected (500)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StoreError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(405, _method_not_allowed)  # before the class's handler, for 405 only
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unhandled)
    _document(app)
