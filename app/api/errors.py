from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def service_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the documented error statuses of a route."""
    return {status: {"model": ErrorResponse} for status in statuses}
