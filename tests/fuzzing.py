"""Turning a schemathesis case into a TestClient request, for the fuzz tests of every domain."""

from __future__ import annotations

from typing import Any

from schemathesis.core import NotSet


def request_kwargs(case: Any, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Headers, query and body of ``case`` as keyword arguments of ``client.request``."""
    kwargs: dict[str, Any] = {"headers": {**(case.headers or {}), **(extra_headers or {})},
                              "params": case.query}
    if isinstance(case.body, bytes):
        kwargs["content"] = case.body
        kwargs["headers"]["content-type"] = case.media_type or "application/json"
    elif not isinstance(case.body, NotSet):
        kwargs["json"] = case.body
    return kwargs
