"""The working parts of ``/plan`` (:mod:`shequ.web.plan` draws the page): the plan form
and its start from a short board, the job under way, and scenarios side by side.

The form's fields are the planning service's request (:class:`PlanRequest`); what was
typed comes back with each problem beside its field.  The job panel is drawn by the
server in the reader's words and ``static/plan.js`` polls ``/api/v1/jobs/{id}`` to move
its bar, reloading the page when the job ends.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from shequ import i18n
from shequ.context import Context
from shequ.errors import Problem, ShequError, ValidationError
from shequ.http.deps import MAX_ID
from shequ.registry import queries
from shequ.services.accounts import jurisdiction_prefix
from shequ.services.planning import (
    AREAS,
    CANDIDATES,
    MAX_COMPARED,
    MODELS,
    PlanRequest,
    compare,
    request_from_short_board,
)
from shequ.web.forms import FormState
from shequ.web.page import Page

SOLVE_FIELDS = ("name", "division_code", "indicator", "type_code", "model", "area",
                "candidates", "p", "budget", "target", "unserved_distance", "drop_sites",
                "extra_sites")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(form: FormData, name: str, problems: list[Problem], *, whole: bool = False
            ) -> float | None:
    text = _text(form, name).replace(",", "")
    if not text:
        return None
    try:
        value = float(text)
        if whole:
            if value != int(value):
                raise ValueError(text)
            return int(value)
    except ValueError:
        problems.append(Problem("form", f"{text!r} is not a number", column=name,
                                code="not_a_number", params={"value": text}))
        return None
    return value


def _points(text: str, problems: list[Problem]) -> tuple[tuple[float, float], ...]:
    points = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        try:
            lon, lat = (float(v) for v in part.split(","))
        except ValueError:
            problems.append(Problem("form", f"{part!r} is not a point", column="extra_sites",
                                    code="invalid_value", params={"value": part}))
            continue
        points.append((lon, lat))
    return tuple(points)


def request_of(form: FormData) -> PlanRequest:
    """The plan request of the posted form; every unreadable field at once."""
    problems: list[Problem] = []
    p = _number(form, "p", problems, whole=True)
    budget = _number(form, "budget", problems)
    target = _number(form, "target", problems)
    unserved = _number(form, "unserved_distance", problems)
    extra = _points(_text(form, "extra_sites"), problems)
    if problems:
        raise ValidationError(problems, summary="the plan form has problems")
    return PlanRequest(
        division_code=_text(form, "division_code"), type_code=_text(form, "type_code"),
        model=_text(form, "model") or "mclp", p=None if p is None else int(p), budget=budget,
        target=None if target is None else target / 100.0, area=_text(form, "area") or "rural",
        candidates=_text(form, "candidates") or "both",
        drop_sites=tuple(filter(None, _text(form, "drop_sites").split(";"))),
        extra_sites=extra, unserved_distance=unserved, name=_text(form, "name") or None,
        indicator=_text(form, "indicator") or None)


def coverage_indicators(page: Page, ctx: Context) -> list[tuple[str, str]]:
    """The indicators a plan can start from: those counting units with a facility."""
    from shequ.indicators.definitions import load_indicator_catalog

    catalog = load_indicator_catalog(ctx.settings.catalog_dir)
    return [(code, f"{code} {ind.name(page.lang)}")
            for code, ind in catalog.indicators.items()
            if ind.numerator_text.startswith("units") and "has(" in ind.numerator_text]


def short_board_start(page: Page, ctx: Context, session: Session, indicator: str,
                      division_code: str) -> dict[str, Any]:
    """The form's values for closing ``indicator``'s short board in ``division_code``
    (default: the planner's jurisdiction), or the problem of starting there."""
    code = division_code or _home(page)
    try:
        request = request_from_short_board(ctx.settings.catalog_dir, indicator, code)
        place = queries.division(session, request.division_code)
    except ShequError as exc:
        return {"problem": i18n.describe(exc, page.lang)}
    return {"indicator": indicator, "division": place.name, "values": {
        "indicator": indicator, "division_code": place.code, "type_code": request.type_code,
        "model": request.model, "area": request.area,
        "target": "" if request.target is None else f"{request.target * 100:g}",
        "candidates": "both"}}


def _home(page: Page) -> str:
    if page.user is None or not page.user.jurisdiction_code:
        return ""
    return page.user.jurisdiction_code


def solve_form_context(page: Page, ctx: Context, session: Session, form: FormState | None,
                       start: dict[str, Any] | None) -> dict[str, Any]:
    """What the plan form shows: its choices in the reader's words and its values."""
    values = {"division_code": _home(page), "type_code": "comprehensive_service_facility",
              "model": "mclp", "area": "rural", "candidates": "both"}
    if start and start.get("values"):
        values |= start["values"]
    types = sorted(ctx.catalog.facility_types.values(), key=lambda t: t.code)
    return {
        "form": form, "values": values, "start": start,
        "boards": coverage_indicators(page, ctx),
        "models": [(m, page.t(f"plan.model_{m}")) for m in MODELS],
        "areas": [(a, page.t(f"plan.area_{a}")) for a in AREAS],
        "candidates": [(c, page.t(f"plan.candidates_{c}")) for c in CANDIDATES],
        "types": [(t.code, t.name(page.lang)) for t in types],
        "labels": {"loading": page.t("plan.map_loading"), "failed": page.t("plan.map_failed"),
                   "added": page.t("plan.candidate_added"),
                   "counts": page.t("plan.candidates_counts"),
                   "kinds": {k: page.t(f"plan.candidate_{k}")
                             for k in ("existing", "new", "reuse")}},
    }


# --------------------------------------------------------------------------- the job panel

def job_panel(page: Page, session: Session) -> dict[str, Any] | None:
    """The job named by ``?job=`` in the reader's words (None without one)."""
    from shequ.services.jobs.runner import stored_problems
    from shequ.services.jobs.service import get_job

    text = page.request.query_params.get("job", "")
    if not text.isdigit() or page.user is None:
        return None
    job = get_job(session, page.user, int(text))
    result = json.loads(job.result) if job.result else {}
    problem = json.loads(job.problem) if job.problem else None
    problem_text = None
    if problem is not None:
        key = f"errors.{problem.get('code')}"
        problem_text = page.t(key, **problem.get("params", {})) \
            if i18n.has_message(page.lang, key) else page.t("jobs.failed_detail")
    return {"id": job.id, "kind": page.t(f"jobs.kind_{job.kind.replace('.', '_')}"),
            "status": job.status, "status_text": page.t(f"jobs.status_{job.status}"),
            "progress": job.progress, "step": page.t(f"jobs.step_{job.step}")
            if job.step else "", "seconds": job.seconds,
            "ended": job.status not in ("queued", "running"),
            "scenario_id": result.get("scenario_id") if job.kind == "plan.solve" else None,
            "renamed": _renamed(page, job.kind, job.parameters, result), "result": result,
            "problem": problem_text, "problems": stored_problems(problem)}


def _renamed(page: Page, kind: str, parameters: str | None, result: dict[str, Any]
             ) -> str | None:
    """The note that a solve's scenario got a suffixed name, the asked one being taken."""
    if kind != "plan.solve" or not result.get("scenario_name"):
        return None
    asked = (json.loads(parameters or "{}").get("request") or {}).get("name")
    saved = str(result["scenario_name"])
    if not asked or not str(asked).strip() or str(asked).strip() == saved:
        return None
    return page.t("plan.renamed", asked=str(asked).strip(), saved=saved)


# --------------------------------------------------------------------------- side by side

def compared(page: Page, session: Session) -> dict[str, Any] | None:
    """The scenarios ticked for comparison (``?compare=`` 2 to 4 times), side by side."""
    asked = [v.strip() for v in page.request.query_params.getlist("compare")]
    wrong = [v for v in asked if not (v.isdigit() and 1 <= int(v) <= MAX_ID)]
    if wrong:  # named by the control's label, with the scenarios' numbers as a way on
        raise ValidationError([Problem("query", f"{v!r} is not a scenario's number; tick "
                                       f"the scenarios in the list", column="compare",
                                       code="not_a_choice", params={"value": v})
                               for v in wrong])
    ids = [int(v) for v in asked][:MAX_COMPARED + 1]
    if not ids or page.user is None:
        return None
    try:
        rows = compare(session, page.user, ids)
    except ValidationError as exc:
        return {"problem": i18n.describe(exc, page.lang)}
    codes: dict[str, str] = {}
    for row in rows:
        for code, ind in row["indicators"].items():
            name = ind["name_en"] if page.lang == "en" else ind["name_zh"]
            codes.setdefault(code, f"{code} {name or ''}".strip())
    indicators = [{"code": c, "name": codes[c],
                   "values": [r["indicators"].get(c) for r in rows]} for c in sorted(codes)]
    chart = {"axis": page.t("plan.indicator"),
             "categories": [i["name"] for i in indicators if any(
                 v is not None and v["delta"] for v in i["values"])],
             "series": [{"name": r["name"], "values": [
                 (r["indicators"].get(i["code"]) or {}).get("delta") for i in indicators
                 if any(v is not None and v["delta"] for v in i["values"])]} for r in rows],
             "digits": 1}
    prefix = jurisdiction_prefix(page.user) or ""
    return {"rows": rows, "indicators": indicators, "chart": chart, "prefix": prefix,
            "models": {m: page.t(f"plan.model_{m}") for m in MODELS}}
