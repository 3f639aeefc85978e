"""Turn Shequ's errors into HTTP answers that say what was wrong and how to fix it."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shequ.errors import (
    AccessDenied,
    ConflictError,
    NotAuthenticated,
    NotFoundError,
    ShequError,
    TooManyRequests,
    ValidationError,
)

STATUS_BY_ERROR: tuple[tuple[type[ShequError], int], ...] = (
    (NotFoundError, 404),
    (NotAuthenticated, 401),
    (TooManyRequests, 429),
    (AccessDenied, 403),
    (ConflictError, 409),
    (ValidationError, 422),
    (ShequError, 400),
)


def _status_for(exc: ShequError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 400


async def _handle(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShequError)  # registered for ShequError only
    body: dict[str, object] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, ValidationError):
        body["problems"] = [
            {"source": p.source, "row": p.row, "column": p.column, "reason": p.reason,
             "hint": p.hint}
            for p in exc.problems
        ]
    # NotAuthenticated carries WWW-Authenticate, TooManyRequests Retry-After.
    headers: dict[str, str] | None = getattr(exc, "headers", None)
    return JSONResponse(body, status_code=_status_for(exc), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handler for every ShequError subclass."""
    app.add_exception_handler(ShequError, _handle)
