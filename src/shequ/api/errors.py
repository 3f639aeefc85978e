"""Turn Shequ's errors into HTTP answers that say what was wrong and how to fix it.

Every refusal is a :class:`~shequ.errors.ShequError` subclass answered here, by
:func:`error_response`: the handlers of the app, and the request limits of
:mod:`shequ.api.limits` (which answer before the app runs), use it alike.  One error of
the libraries underneath is a refusal too and is mapped once, here: SQLAlchemy's pool
timeout (every connection stayed busy: 503 with ``Retry-After``).
"""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shequ.context import Context
from shequ.errors import (
    AccessDenied,
    ConflictError,
    NotAuthenticated,
    NotFoundError,
    PayloadTooLarge,
    ServiceBusy,
    ShequError,
    TooManyRequests,
    ValidationError,
)

STATUS_BY_ERROR: tuple[tuple[type[ShequError], int], ...] = (
    (NotFoundError, 404),
    (NotAuthenticated, 401),
    (TooManyRequests, 429),
    (ServiceBusy, 503),
    (PayloadTooLarge, 413),
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


def error_response(exc: ShequError) -> JSONResponse:
    """The HTTP answer to ``exc``: its status, a body naming the error and its problems,
    and its headers (``WWW-Authenticate``, ``Retry-After``)."""
    body: dict[str, object] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, ValidationError):
        body["problems"] = [
            {"source": p.source, "row": p.row, "column": p.column, "reason": p.reason,
             "hint": p.hint}
            for p in exc.problems
        ]
    headers: dict[str, str] | None = getattr(exc, "headers", None)
    return JSONResponse(body, status_code=_status_for(exc), headers=headers)


def busy(timeout_s: float) -> ServiceBusy:
    """The refusal of a request that found no database connection within ``timeout_s``."""
    return ServiceBusy(f"the server is busy: no database connection came free within "
                       f"{timeout_s:g} s; retry in a moment",
                       retry_after=max(1, math.ceil(timeout_s)))


def too_large(limit: int) -> PayloadTooLarge:
    """The refusal of a body over ``limit`` bytes."""
    return PayloadTooLarge(f"the request body is larger than {limit:,} bytes, the most this "
                           f"server accepts here; send a smaller one (files: split them)")


async def _handle(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShequError)  # registered for ShequError only
    return error_response(exc)


async def _pool_timeout(request: Request, _exc: Exception) -> JSONResponse:
    ctx: Context = request.app.state.ctx
    return error_response(busy(ctx.settings.db_pool_timeout))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handler for every ShequError subclass and SQLAlchemy's pool timeout."""
    app.add_exception_handler(ShequError, _handle)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
