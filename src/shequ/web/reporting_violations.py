"""The violations page: ``/reporting/violations`` lists a round's violations of the
validation rules and outlier checks, filtered by area, rule and importance, a page at a
time (keyset), each row linked to its unit's form, with the whole list as XLSX.

The filters are a GET form: a wrong value is drawn again beside its field in the reader's
language (422) instead of an error page.  Everything goes through
:mod:`shequ.services.reporting.validation`, as the JSON API does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.errors import Problem, ShequError, ValidationError
from shequ.http.deps import ContextDep, SessionDep
from shequ.indicators.rules import OutlierCheck, Rule, load_rules
from shequ.registry.models import Division
from shequ.registry.queries import today, valid_on
from shequ.services.accounts import STAFF_ROLES
from shequ.services.reporting import validation
from shequ.services.reporting.service import rounds_for
from shequ.web.forms import FormState, failed, typed
from shequ.web.page import Crumb, SignedInPage, render

router = APIRouter(include_in_schema=False)
FILTERS = ("round", "under", "rule", "importance", "after")


def _problem(field: str, value: str, code: str) -> ValidationError:
    return ValidationError([Problem("form", f"{value!r} is not accepted here", column=field,
                                    code=code, params={"value": value})])


@router.get("/reporting/violations", response_class=HTMLResponse)
def violations_page(page: SignedInPage, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """A round's violations in the reader's jurisdiction, filtered."""
    user = page.require(*STAFF_ROLES)
    query = {k: v.strip() for k, v in page.request.query_params.items() if k in FILTERS}
    state: FormState | None = typed(query)
    rounds = rounds_for(session, user)
    rules = load_rules(ctx.settings.catalog_dir)
    known = rules.by_code()
    context: dict[str, Any] = {
        "rounds": rounds, "rows": [], "next_url": None, "export_url": None,
        "rule_options": [("", page.t("reporting_rules.any_rule"))]
        + [(code, rule_name(rule, page.lang)) for code, rule in known.items()],
        "importance_options": [("", page.t("reporting_rules.any_importance"))]
        + [(i, page.t(f"reporting_rules.importance.{i}")) for i in ("error", "warning")],
        "breadcrumbs": [Crumb(page.t("common.workbench"), "/work"),
                        Crumb(page.t("reporting.title"), "/reporting"),
                        Crumb(page.t("reporting_rules.title"))]}
    if not rounds:
        return render(page, "reporting_violations.html", {**context, "state": None})
    status = 200
    try:
        chosen = _chosen(query, [r.id for r in rounds], known)
        listed = validation.violations_for(session, user, chosen, after=query.get("after"))
    except ShequError as exc:
        state = failed(state or FormState(), exc, page.lang,
                       fields={"after": "after", "under": "under"})
        return render(page, "reporting_violations.html", {
            **context, "state": state, "round_options": _round_options(rounds)},
            status_code=422)
    base = {"round": chosen.round_id, "under": chosen.under, "rule": chosen.rule_code or "",
            "importance": chosen.importance or ""}
    filters = {k: v for k, v in base.items() if v != ""}
    context.update({
        "state": state, "round_options": _round_options(rounds), "chosen": chosen,
        "unit_names": _division_names(session, {row.division_code for row in listed.rows}),
        "rule_names": {code: rule_name(rule, page.lang) for code, rule in known.items()},
        "rows": [(row, validation.violation_text(validation.to_violation(row), page.lang,
                                                 rules=rules),
                  validation.form_path(row.round_id, row.division_code))
                 for row in listed.rows],
        "first_url": "/reporting/violations?" + urlencode(filters)
        if query.get("after") else None,
        "next_url": None if listed.next_cursor is None else "/reporting/violations?"
        + urlencode({**filters, "after": listed.next_cursor}),
        "export_url": f"/api/v1/reporting/rounds/{chosen.round_id}/violations.xlsx?"
        + urlencode({k: v for k, v in filters.items() if k != "round"}),
    })
    return render(page, "reporting_violations.html", context, status_code=status)


# A figure in a rule's message: "（{left}）", "(at most {right})", "{value}".
_FIGURE_ASIDE = re.compile(r"\s*[（(][^（）()]*\{[a-z]+\}[^（）()]*[）)]")
_FIGURE = re.compile(r"\{[a-z]+\}\s*")


def rule_name(rule: Rule | OutlierCheck, lang: str) -> str:
    """What a rule checks, in ``lang``: its message without the figures it is shown with
    (a rule of the catalog or of a province has a message in both languages, not a name).

    >>> from shequ.indicators.rules import load_rules
    >>> rule_name(load_rules().by_code()["elderly_within_residents"], "zh-CN")
    '60岁及以上人口不能多于常住人口'
    """
    text = _FIGURE.sub("", _FIGURE_ASIDE.sub("", rule.message(lang))).strip()
    text = text.rstrip("。.；;，, ")
    return text[:1].upper() + text[1:]


def _division_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {str(code): str(name) for code, name in session.execute(
        select(Division.code, Division.name).where(
            Division.code.in_(sorted(codes)), valid_on(today())))}


def _round_options(rounds: list[Any]) -> list[tuple[str, str]]:
    return [(str(r.id), f"{r.name} ({r.period})") for r in rounds]


def _chosen(query: dict[str, str], round_ids: list[int],
            known: dict[str, Any]) -> validation.ViolationFilter:
    """The filter the query asks for (ValidationError names the wrong field)."""
    text = query.get("round", "")
    if text and not (text.isdigit() and int(text) in round_ids):
        raise _problem("round", text, "not_a_choice")
    round_id = int(text) if text else round_ids[0]
    under = query.get("under", "")
    if under and not (under.isdigit() and len(under) == 12):
        raise _problem("under", under, "reporting_rules.bad_under")
    rule = query.get("rule", "")
    if rule and rule not in known:
        raise _problem("rule", rule, "not_a_choice")
    importance = query.get("importance", "")
    if importance and importance not in ("error", "warning"):
        raise _problem("importance", importance, "not_a_choice")
    return validation.ViolationFilter(round_id, under, rule or None, importance or None)


__all__ = ["router", "rule_name"]
