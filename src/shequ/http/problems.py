"""Every refusal as an answer people and programs can act on.

A :class:`~shequ.errors.ShequError` becomes, on the JSON surfaces (``/api``, ``/hsds``,
``/open311``, ``/media``), an RFC 9457 problem (``application/problem+json``) whose
``title`` and ``detail`` follow ``Accept-Language`` (English when it names neither
language), and on the pages an HTML page in the reader's language with a way on (the
renderer the app installs, :mod:`shequ.web.errors`).  The same holds for FastAPI's own
refusals (a malformed parameter, an unknown path, a wrong method) and for a failure
nobody foresaw (500, logged).

The problem's members: ``type`` (``urn:shequ:problem:<code>``), ``title``, ``status``,
``detail``, ``instance`` (the path), and the extensions ``code`` (stable, for
programs), ``error`` (the error's class) and ``problems`` (each input problem with its
``source``, ``row``, ``column``, ``code``, ``detail`` in the reader's language, and the
English ``reason`` and ``hint``).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import Scope

from shequ.errors import (
    AccessDenied,
    ConflictError,
    NotAuthenticated,
    NotFoundError,
    PayloadTooLarge,
    Problem,
    ServiceBusy,
    ShequError,
    TooManyRequests,
    ValidationError,
)
from shequ.i18n import describe, describe_problem, error_title, negotiate, translate

log = logging.getLogger("shequ.http")

JSON_PREFIXES = ("/api/", "/hsds", "/open311", "/media/", "/openapi.json")
PROBLEM_TYPE = "application/problem+json"

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

# The renderer of an error as a page: (request, error, status) → the HTML answer.
ErrorPage = Callable[[Request, ShequError, int], Response]


def status_for(exc: ShequError) -> int:
    """The HTTP status of an error's kind."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 400


def is_json_path(path: str) -> bool:
    """Whether ``path`` is one of the JSON surfaces (API, HSDS, Open311, media)."""
    return path.startswith(JSON_PREFIXES)


def api_language(scope: Scope) -> str:
    """The language of a JSON answer: ``Accept-Language`` if it names one, else English
    (programs rarely send the header; people's browsers always do)."""
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            return negotiate(value.decode("latin-1")) or "en"
    return "en"


def problem_body(exc: ShequError, lang: str, instance: str) -> dict[str, Any]:
    """The RFC 9457 members of ``exc`` in ``lang``."""
    body: dict[str, Any] = {
        "type": f"urn:shequ:problem:{exc.code}",
        "title": error_title(exc, lang),
        "status": status_for(exc),
        "detail": describe(exc, lang),
        "instance": instance,
        "code": exc.code,
        "error": type(exc).__name__,
    }
    if isinstance(exc, ValidationError):
        body["problems"] = [problem_item(p, lang) for p in exc.problems]
    return body


def problem_item(problem: Problem, lang: str) -> dict[str, Any]:
    """One input problem of a problem answer."""
    return {"source": problem.source, "row": problem.row, "column": problem.column,
            "code": problem.code, "detail": describe_problem(problem, lang),
            "reason": problem.reason, "hint": problem.hint}


def problem_response(exc: ShequError, scope: Scope) -> JSONResponse:
    """The RFC 9457 answer to ``exc``, with its headers (``WWW-Authenticate``,
    ``Retry-After``) and ``Content-Language``."""
    lang = api_language(scope)
    headers: dict[str, str] = dict(getattr(exc, "headers", None) or {})
    headers["Content-Language"] = lang
    return JSONResponse(problem_body(exc, lang, scope.get("path", "")),
                        status_code=status_for(exc), headers=headers,
                        media_type=PROBLEM_TYPE)


def error_answer(exc: ShequError, scope: Scope) -> Response:
    """The answer to ``exc``: a problem on a JSON surface, else the app's error page."""
    path: str = scope.get("path", "")
    app = scope.get("app")
    page: ErrorPage | None = getattr(getattr(app, "state", None), "error_page", None)
    if is_json_path(path) or page is None:
        return problem_response(exc, scope)
    return page(Request(scope), exc, status_for(exc))


def busy(timeout_s: float) -> ServiceBusy:
    """The refusal of a request that found no database connection within ``timeout_s``."""
    return ServiceBusy(f"the server is busy: no database connection came free within "
                       f"{timeout_s:g} s; retry in a moment",
                       retry_after=max(1, math.ceil(timeout_s)))


def too_large(limit: int) -> PayloadTooLarge:
    """The refusal of a body over ``limit`` bytes."""
    return PayloadTooLarge(f"the request body is larger than {limit:,} bytes, the most this "
                           f"server accepts here; send a smaller one (files: split them)",
                           code="payload_too_large_limit", params={"limit": limit})


def _request_problems(exc: RequestValidationError) -> ValidationError:
    """FastAPI's refusal of malformed parameters as Shequ's validation error."""
    problems = []
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ())]
        source = location[0] if location else "request"
        column = ".".join(location[1:]) or None
        problems.append(Problem(source=source, column=column, reason=str(item.get("msg")),
                                code="request_field",
                                params={"type": item.get("type")}))
    return ValidationError(problems, summary="the request's parameters are not valid")


def install_error_handlers(app: FastAPI, error_page: ErrorPage | None = None) -> None:
    """Answer every ShequError, FastAPI's refusals and unforeseen failures as problems on
    the JSON surfaces and as ``error_page`` on the pages."""
    app.state.error_page = error_page

    async def shequ_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ShequError)  # registered for ShequError only
        return error_answer(exc, request.scope)

    async def pool_timeout(request: Request, _exc: Exception) -> Response:
        return error_answer(busy(request.app.state.ctx.settings.db_pool_timeout),
                            request.scope)

    async def malformed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_answer(_request_problems(exc), request.scope)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error: ShequError
        if exc.status_code == 404:
            error = NotFoundError(f"no page or resource at {request.url.path}",
                                  code="http_404")
        elif exc.status_code == 405:
            error = ConflictError(f"{request.method} is not allowed on {request.url.path}",
                                  code="http_405")
        else:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        response = error_answer(error, request.scope)
        response.status_code = exc.status_code
        return response

    async def unforeseen(request: Request, exc: Exception) -> Response:
        reference = secrets.token_hex(4)
        log.error("unhandled error %s on %s %s", reference, request.method, request.url.path,
                  exc_info=exc)
        error = ShequError(f"the server failed (reference {reference}); this was logged",
                           code="internal", params={"id": reference})
        response = error_answer(error, request.scope)
        response.status_code = 500
        return response

    app.add_exception_handler(ShequError, shequ_error)
    app.add_exception_handler(PoolTimeout, pool_timeout)
    app.add_exception_handler(RequestValidationError, malformed)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unforeseen)


class ProblemItemOut(BaseModel):
    """One reason an input was rejected."""

    source: str | None = None
    row: int | None = None
    column: str | None = None
    code: str | None = None
    detail: str | None = None
    reason: str | None = None
    hint: str | None = None


class ProblemOut(BaseModel):
    """An RFC 9457 problem: what went wrong, in the language asked for."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    error: str | None = None
    problems: list[ProblemItemOut] | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``codes``, each a problem document."""
    return {code: {"description": translate("en", key)}
            for code, key in ((c, _KIND_OF_STATUS.get(c, "errors.kind.error")) for c in codes)}


_KIND_OF_STATUS = {400: "errors.kind.error", 401: "errors.kind.not_authenticated",
                   403: "errors.kind.access_denied", 404: "errors.kind.not_found",
                   409: "errors.kind.conflict", 413: "errors.kind.payload_too_large",
                   422: "errors.kind.validation", 429: "errors.kind.too_many_requests",
                   503: "errors.kind.service_busy"}


def document_problems(app: FastAPI) -> None:
    """Describe every error answer of every operation in the OpenAPI document as the
    problem document it is (``application/problem+json``), including FastAPI's own 422
    and a ``default`` for the refusals any operation may meet (401, 403, 413, 429, 503)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = plain()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ProblemOut"] = ProblemOut.model_json_schema(
            ref_template="#/components/schemas/{model}")
        for nested in components["ProblemOut"].pop("$defs", {}).items():
            components.setdefault(*nested)
        content = {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, response in responses.items():
                    if status.isdigit() and int(status) >= 400:
                        # beside what a surface documents of its own (Open311's errors)
                        response.setdefault("content", {}).update(content)
                responses.setdefault("default", {"description": "a problem document",
                                                  "content": dict(content)})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
