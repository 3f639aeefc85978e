"""Every error Shequ raises on purpose, in one place.

Each class subclasses the builtin a caller would expect (``ValueError`` for bad
input, ``LookupError`` for a missing record, ``PermissionError`` for access), so
generic handlers keep working.  A user's mistake carries what was wrong, where
(file, row, column) and how to fix it; see :class:`Problem`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one input: where it is, what is wrong, how to fix it."""

    source: str
    reason: str
    row: int | None = None
    column: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.source
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        text = f"{where}: {self.reason}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ShequError(Exception):
    """Base of every error Shequ raises on purpose."""


class ConfigurationError(ShequError, ValueError):
    """A setting is missing, malformed or unsafe for the environment."""


class CatalogError(ShequError, ValueError):
    """A catalog data file (facility types, tiers, indicators, targets) is malformed."""


class ValidationError(ShequError, ValueError):
    """Input was rejected; ``problems`` lists every reason, nothing was written."""

    def __init__(self, problems: Sequence[Problem], *, summary: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        head = summary or f"{len(self.problems)} problem(s) found"
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(f"{head}\n{shown}{tail}" if self.problems else head)


class NotFoundError(ShequError, LookupError):
    """A record that was asked for by code or id does not exist."""


class ConflictError(ShequError):
    """The change would contradict what is stored (a duplicate, a taken slot…)."""


class AccessDenied(ShequError, PermissionError):
    """The user may not read or change this record (outside their jurisdiction or role)."""


class NotAuthenticated(ShequError, PermissionError):
    """No valid sign-in came with the request (HTTP 401, with ``WWW-Authenticate``)."""

    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class TooManyRequests(ShequError):
    """Too many attempts in a window; ``retry_after`` says in how many seconds to retry."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class PayloadTooLarge(ShequError, ValueError):
    """A request body is larger than the server accepts (HTTP 413)."""


class ServiceBusy(ShequError):
    """Every database connection stayed busy for the configured wait (HTTP 503);
    ``retry_after`` says in how many seconds to try again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class ExpressionError(ShequError, ValueError):
    """An indicator definition does not parse or does not type-check."""


class NetworkError(ShequError, ValueError):
    """A street network is malformed, empty, or cannot be built from the input."""


class SolverError(ShequError, RuntimeError):
    """An optimisation model is infeasible or the solver failed."""


__all__ = [
    "AccessDenied",
    "CatalogError",
    "ConfigurationError",
    "ConflictError",
    "ExpressionError",
    "NetworkError",
    "NotAuthenticated",
    "NotFoundError",
    "PayloadTooLarge",
    "Problem",
    "ServiceBusy",
    "ShequError",
    "SolverError",
    "TooManyRequests",
    "ValidationError",
]
