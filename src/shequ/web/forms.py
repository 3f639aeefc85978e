"""What every page form shares: keeping what was typed, each problem beside its field,
and the redirect after a post that worked.

The rule: a form that fails is drawn again at once (422, or the error's status) with
every value the user typed (:attr:`FormState.values`), each problem beside its field
(:attr:`FormState.errors`, keyed by the form field's name) and a summary above that
links to them — never an error text in a URL, and whatever the handler wrote is rolled
back first (:func:`failed`).  A form that worked redirects (303) to a page with
``?msg=<message key>`` (:func:`back`).  Being refused
(:class:`~shequ.errors.AccessDenied`) is not a form problem: it stays the 403 page.

Problems name their field by ``Problem.column``; a form whose field names differ from
the columns passes ``fields`` (column → field name).  A problem without a field of the
form goes to the summary only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pydantic
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from shequ import i18n
from shequ.errors import Problem, ShequError, ValidationError

SECRET_FIELDS = frozenset({"csrf_token", "password", "current_password", "new_password"})


@dataclass
class FormState:
    """A form as the user left it: the values typed and the problems found."""

    values: dict[str, str] = field(default_factory=dict)
    multi: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    summary: list[tuple[str | None, str]] = field(default_factory=list)

    def value(self, name: str, default: object = "") -> str:
        """What was typed in ``name`` (else ``default``, the stored value)."""
        if name in self.values:
            return self.values[name]
        return "" if default is None else str(default)

    def chosen(self, name: str, option: object, default: object = None) -> bool:
        """Whether ``option`` was chosen in the select or checkboxes ``name``."""
        if name in self.multi:
            return str(option) in self.multi[name]
        if name in self.values:
            return self.values[name] == str(option)
        if isinstance(default, list | tuple | set | frozenset):
            return str(option) in {str(d) for d in default}
        return default is not None and str(default) == str(option)

    def has_errors(self) -> bool:
        """Whether anything is wrong."""
        return bool(self.summary)

    def error_id(self, name: str) -> str:
        """The id of the element holding ``name``'s problems (for aria-describedby)."""
        return f"{name}-error"


def typed(form: FormData | Mapping[str, str]) -> FormState:
    """The values of a posted form, secrets left out (never drawn back into a page)."""
    state = FormState()
    items = form.multi_items() if isinstance(form, FormData) else list(form.items())
    for name, value in items:
        if name in SECRET_FIELDS or not isinstance(value, str):
            continue
        state.multi.setdefault(name, []).append(value)
        state.values[name] = value
    return state


def _problems_of(exc: ShequError | pydantic.ValidationError) -> list[Problem]:
    if isinstance(exc, ValidationError):
        return list(exc.problems)
    if isinstance(exc, pydantic.ValidationError):
        problems = []
        for item in exc.errors():
            location = [str(p) for p in item.get("loc", ())]
            problems.append(Problem(source="form", column=location[-1] if location else None,
                                    reason=str(item.get("msg")), code=_pydantic_code(item),
                                    params=_params(item)))
        return problems
    return []


# Pydantic's error types → the catalog's problem codes (prefix match, first wins).
_PYDANTIC_CODES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("missing", "string_too_short", "too_short"), "required"),
    (("int_", "float_", "decimal_"), "not_a_number"),
    (("greater_than", "less_than"), "out_of_bounds"),
    (("string_too_long", "too_long"), "too_long"),
    (("enum", "literal_error"), "not_a_choice"),
    (("datetime", "time_"), "not_a_time"),
    (("date",), "not_a_date"),
)


def _pydantic_code(item: Mapping[str, object]) -> str:
    kind = str(item.get("type", ""))
    for prefixes, code in _PYDANTIC_CODES:
        if kind.startswith(prefixes):
            return code
    return "invalid_value"


def failed(state: FormState, exc: ShequError | pydantic.ValidationError, lang: str, *,
           fields: Mapping[str, str] | None = None,
           session: Session | None = None) -> FormState:
    """``state`` with the problems of ``exc`` in ``lang``, each beside its field; the
    session's half-done work rolled back."""
    if session is not None:
        session.rollback()
    fields = fields or {}
    problems = _problems_of(exc)
    if not problems:
        assert isinstance(exc, ShequError)
        state.summary.append((None, i18n.describe(exc, lang)))
        return state
    for problem in problems:
        name = fields.get(problem.column or "", problem.column)
        text = i18n.describe_problem(problem, lang)
        if name and (name in state.values or name in fields.values()):
            state.errors.setdefault(name, []).append(text)
            state.summary.append((name, text))
        else:
            where = i18n.where(problem, lang)
            state.summary.append((None, f"{where}{i18n.translate(lang, 'problems.colon')}{text}"
                                  if where else text))
    return state


def back(path: str, *, message: str | None = None, **query: object) -> RedirectResponse:
    """Redirect after a form that worked (303), with a message key to show."""
    pairs = {k: v for k, v in query.items() if v is not None}
    if message:
        pairs["msg"] = message
    separator = "&" if "?" in path else "?"
    return RedirectResponse(path + (separator + urlencode(pairs) if pairs else ""),
                            status_code=303)


def _params(item: Mapping[str, object]) -> dict[str, object]:
    context = item.get("ctx")
    params: dict[str, object] = dict(context) if isinstance(context, Mapping) else {}
    if "max_length" in params:
        params["limit"] = params["max_length"]
    params.setdefault("value", item.get("input", ""))
    return params
