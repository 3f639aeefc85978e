"""How the services' routers document their error answers in the OpenAPI document.

Shequ answers a user's mistake with ``{"error", "detail", "problems"}`` (see
:mod:`shequ.api.errors`) and FastAPI answers malformed parameters with
``{"detail": [...]}``; both come back as 422, so the documented 422 body accepts both.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ProblemOut(BaseModel):
    """One reason an input was rejected."""

    source: str | None = None
    row: int | None = None
    column: str | None = None
    reason: str | None = None
    hint: str | None = None


class ErrorOut(BaseModel):
    """An error answer: Shequ's (error, detail text, problems) or FastAPI's (detail list)."""

    error: str | None = None
    detail: str | list[Any]
    problems: list[ProblemOut] | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``codes`` with the error body."""
    text = {400: "bad request", 401: "not signed in", 403: "outside your role or "
            "jurisdiction", 404: "no such record", 409: "not allowed in this state",
            422: "invalid input", 429: "too many requests"}
    return {code: {"model": ErrorOut, "description": text.get(code, "error")}
            for code in codes}
