"""Turning a schemathesis case into a TestClient request, for the fuzz tests of every domain."""

from __future__ import annotations

from typing import Any

from schemathesis.core import NotSet
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation, BaseSchema

Operation = APIOperation[Any, Any, Any, Any]


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


def operations_under(schema: BaseSchema, prefixes: str | tuple[str, ...]) -> list[Operation]:
    """The operations of ``schema`` whose path starts with one of ``prefixes``.

    An operation that schemathesis cannot read from the document fails the test (its
    reason is raised) instead of being left out of the fuzzing.
    """
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        if result.ok().path.startswith(prefixes):
            found.append(result.ok())
    return found
