"""Every error Shequ raises on purpose, in one place.

Each class subclasses the builtin a caller would expect (``ValueError`` for bad
input, ``LookupError`` for a missing record, ``PermissionError`` for access), so
generic handlers keep working.  A user's mistake carries what was wrong, where
(file, row, column) and how to fix it; see :class:`Problem`.

Each error and each problem also carries a stable ``code`` and the ``params`` of its
message, so that :mod:`shequ.i18n` can say it in the reader's language (the message key
is ``errors.<code>`` or ``problems.<code>``); the English text passed to the constructor
stays the error's ``str()`` for logs, the command line and English readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one input: where it is, what is wrong, how to fix it."""

    source: str
    reason: str
    row: int | None = None
    column: str | None = None
    hint: str | None = None
    code: str | None = None
    params: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)

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
    """Base of every error Shequ raises on purpose.

    ``code`` names the message (``errors.<code>``) and ``params`` fills it; without a
    code the error is described by its kind (``kind``: the sentence ``errors.kind.<kind>``).
    """

    default_code: ClassVar[str] = "error"
    kind: ClassVar[str] = "error"

    def __init__(self, *args: object, code: str | None = None,
                 params: Mapping[str, object] | None = None) -> None:
        super().__init__(*args)
        self.code: str = code or self.default_code
        self.params: dict[str, object] = dict(params or {})


class ConfigurationError(ShequError, ValueError):
    """A setting is missing, malformed or unsafe for the environment."""

    default_code: ClassVar[str] = "configuration"
    kind: ClassVar[str] = "configuration"


class CatalogError(ShequError, ValueError):
    """A catalog data file (facility types, tiers, indicators, targets) is malformed."""

    default_code: ClassVar[str] = "catalog"
    kind: ClassVar[str] = "catalog"


class ValidationError(ShequError, ValueError):
    """Input was rejected; ``problems`` lists every reason, nothing was written."""

    default_code: ClassVar[str] = "validation"
    kind: ClassVar[str] = "validation"

    def __init__(self, problems: Sequence[Problem], *, summary: str | None = None,
                 code: str | None = None, params: Mapping[str, object] | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        head = summary or f"{len(self.problems)} problem(s) found"
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(f"{head}\n{shown}{tail}" if self.problems else head, code=code,
                         params=params)


class NotFoundError(ShequError, LookupError):
    """A record that was asked for by code or id does not exist.

    ``listed_on`` is the page (a path) that lists such records: the error page links to
    it as the way on, with the words ``errors.<code>.way_on``.  An API hint ("GET
    /api/v1/… lists them") belongs in the English text only, never in the catalogs'
    message, which pages show.
    """

    default_code: ClassVar[str] = "not_found"
    kind: ClassVar[str] = "not_found"

    def __init__(self, *args: object, code: str | None = None,
                 params: Mapping[str, object] | None = None,
                 listed_on: str | None = None) -> None:
        super().__init__(*args, code=code, params=params)
        self.listed_on: str | None = listed_on


class ConflictError(ShequError):
    """The change would contradict what is stored (a duplicate, a taken slot…)."""

    default_code: ClassVar[str] = "conflict"
    kind: ClassVar[str] = "conflict"


class AccessDenied(ShequError, PermissionError):
    """The user may not read or change this record (outside their jurisdiction or role)."""

    default_code: ClassVar[str] = "access_denied"
    kind: ClassVar[str] = "access_denied"


class NotAuthenticated(ShequError, PermissionError):
    """No valid sign-in came with the request (HTTP 401, with ``WWW-Authenticate``)."""

    default_code: ClassVar[str] = "not_authenticated"
    kind: ClassVar[str] = "not_authenticated"

    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class TooManyRequests(ShequError):
    """Too many attempts in a window; ``retry_after`` says in how many seconds to retry."""

    default_code: ClassVar[str] = "too_many_requests"
    kind: ClassVar[str] = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None,
                 params: Mapping[str, object] | None = None) -> None:
        super().__init__(message, code=code, params=params)
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class PayloadTooLarge(ShequError, ValueError):
    """A request body is larger than the server accepts (HTTP 413)."""

    default_code: ClassVar[str] = "payload_too_large"
    kind: ClassVar[str] = "payload_too_large"


class ServiceBusy(ShequError):
    """Every database connection stayed busy for the configured wait (HTTP 503);
    ``retry_after`` says in how many seconds to try again."""

    default_code: ClassVar[str] = "service_busy"
    kind: ClassVar[str] = "service_busy"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None,
                 params: Mapping[str, object] | None = None) -> None:
        super().__init__(message, code=code, params=params)
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class ExpressionError(ShequError, ValueError):
    """An indicator definition does not parse or does not type-check."""

    default_code: ClassVar[str] = "expression"
    kind: ClassVar[str] = "expression"


class NetworkError(ShequError, ValueError):
    """A street network is malformed, empty, or cannot be built from the input."""

    default_code: ClassVar[str] = "network"
    kind: ClassVar[str] = "network"


class SolverError(ShequError, RuntimeError):
    """An optimisation model is infeasible or the solver failed."""

    default_code: ClassVar[str] = "solver"
    kind: ClassVar[str] = "solver"


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
