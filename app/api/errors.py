from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from app.core.errors import error_response
from app.core.responses import OrjsonResponse
from app.repositories.errors import RecordGoneError, StoreBusyError, StoreError, UnknownCursorError
from app.services.errors import Failure, ServiceError


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


def install(app: FastAPI) -> None:
    """Answers the services' and the stores' failures with the error body (``app/core/errors.py``)."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StoreError, _service_error)
