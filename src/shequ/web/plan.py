"""The planner's pages: ``/plan`` (scenarios, one on a map with what it changes, and
scenarios compared) and ``/plan/estate`` (a new estate's plan against the standards).

Everything a reader sees is in their language: indicator names and units, tiers,
levels, funding sources, the headlines of an evaluation and every finding of the estate
review are drawn here from codes and figures (the stored English texts are for the API
and the command line).  Evaluating a scenario recomputes the life circles and every
indicator twice (seconds): the form says so and shows that it is working.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from shequ.context import Context
from shequ.errors import AccessDenied, ShequError, ValidationError
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep
from shequ.plan.estate import EstatePlan, EstateReview, Finding, review_estate_in_registry
from shequ.plan.models import PlanScenario
from shequ.plan.scenarios import (
    cost_summary,
    get_scenario,
    list_scenarios,
)
from shequ.registry import queries
from shequ.registry.models import FundingSource
from shequ.services.accounts import PLANNER_ROLES, STAFF_ROLES, jurisdiction_prefix
from shequ.services.accounts.policy import require_in_jurisdiction
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.indicators import unit_text
from shequ.web.page import Crumb, Page, PageDep, SignedInPage, render

router = APIRouter(include_in_schema=False)

ESTATE_FIELDS = ("name", "households", "residents", "total_floor_area_m2",
                 "commercial_floor_area_m2", "service_floor_area_m2", "activity_area_m2",
                 "longitude", "latitude")
# The estate plan's columns that the form names otherwise.
ESTATE_COLUMNS = {"facilities": "service_floor_area_m2", "type_code": "types"}
NATION = "000000000000"
# How many evaluated scenarios the comparison chart sets side by side.
COMPARED = 6


def funding_text(page: Page, source: str) -> str:
    """A funding source in the reader's words (one a deployment adds: as stored)."""
    key = f"plan.funding_{source}"
    known = {f.value for f in FundingSource} | {"unspecified"}
    return page.t(key) if source in known else source


def _level_text(page: Page, level: int) -> str:
    return page.t(f"common.level_{level}")


def _indicator_name(page: Page, row: dict[str, Any]) -> str:
    name = row.get("indicator_name_en") if page.lang == "en" else row.get(
        "indicator_name_zh")
    return str(name or row.get("indicator_name_zh") or row["indicator"])


def _value(page: Page, value: float | None, digits: int = 1) -> str:
    return page.t("plan.none") if value is None else page.t(
        "plan.figure", value=f"{value:,.{digits}f}")


def _evaluation(page: Page, ctx: Context, scenario: PlanScenario) -> dict[str, Any] | None:
    """The scenario's stored evaluation, in the reader's words."""
    if not scenario.evaluation:
        return None
    report: dict[str, Any] = json.loads(scenario.evaluation)
    deltas = report.get("indicator_deltas") or []
    at_root = [d for d in deltas if d["division_code"] == scenario.division_code]
    headlines = []
    for row in at_root:
        if row["before"] is None or row["after"] is None or abs(row["delta"] or 0) <= 1e-12:
            continue
        headlines.append(page.t(
            "plan.headline", indicator=_indicator_name(page, row),
            place=report.get("division_name") or scenario.division_code,
            before=_value(page, row["before"]), after=_value(page, row["after"]),
            unit=unit_text(page, row.get("unit") or "")))
    shown = [{"indicator": _indicator_name(page, d), "unit": unit_text(page, d.get("unit") or ""),
              "place": page.t("common.nation") if d["division_code"] == NATION
              else d.get("name") or d["division_code"], "code": d["division_code"],
              "level": _level_text(page, int(d["level"])), "before": d["before"],
              "after": d["after"], "delta": d["delta"]}
             for d in deltas if int(d["level"]) <= 4 and d["delta"]]
    circles = None
    if report.get("life_circle_deltas") is not None:
        circles = [{"tier": ctx.catalog.tiers[c["tier"]].name(page.lang)
                    if c["tier"] in ctx.catalog.tiers else c["tier"],
                    "share_before": c.get("share_before"), "share_after": c.get("share_after"),
                    "complete_before": c.get("complete_before"),
                    "complete_after": c.get("complete_after")}
                   for c in report["life_circle_deltas"]
                   if c["division_code"] == scenario.division_code]
    changed = [d for d in at_root if d["before"] is not None and d["after"] is not None
               and abs(d["delta"] or 0) > 1e-12]
    chart = {"axis": page.t("plan.indicator"),
             "categories": [_indicator_name(page, d) for d in changed],
             "series": [{"name": page.t("plan.before"), "values": [d["before"] for d in changed]},
                        {"name": page.t("plan.after"), "values": [d["after"] for d in changed]}],
             "digits": 1}
    return {"headlines": headlines, "deltas": shown, "circles": circles, "chart": chart,
            "period": report.get("period"), "evaluated_at": scenario.evaluated_at}


def _comparison(page: Page, scenarios: list[PlanScenario]) -> dict[str, Any] | None:
    """What each evaluated scenario changes, indicator by indicator, at its own division
    (the newest :data:`COMPARED`)."""
    evaluated = [s for s in scenarios if s.evaluation][:COMPARED]
    if len(evaluated) < 1:
        return None
    names: dict[str, str] = {}
    changes: list[tuple[str, dict[str, float]]] = []
    for scenario in evaluated:
        report = json.loads(scenario.evaluation or "{}")
        found: dict[str, float] = {}
        for row in report.get("indicator_deltas") or []:
            if row["division_code"] == scenario.division_code and row["delta"]:
                names[row["indicator"]] = _indicator_name(page, row)
                found[row["indicator"]] = row["delta"]
        changes.append((scenario.name, found))
    codes = sorted(names)
    return {"axis": page.t("plan.indicator"), "categories": [names[c] for c in codes],
            "series": [{"name": name, "values": [found.get(c) for c in codes]}
                       for name, found in changes], "digits": 1}


def _readable(page: Page, session: Session, scenario_id: int) -> PlanScenario:
    user = page.require(*STAFF_ROLES)
    scenario = get_scenario(session, scenario_id)
    require_in_jurisdiction(user, scenario.division_code)
    return scenario


def _plan_page(page: Page, ctx: Context, session: Session, chosen_id: int | None, *,
               form: FormState | None = None, status_code: int = 200,
               solve_form: FormState | None = None, adopt_form: FormState | None = None,
               start: dict[str, Any] | None = None) -> HTMLResponse:
    from shequ.web.plan_work import compared, job_panel, solve_form_context

    user = page.user
    staff = page.is_staff
    job = job_panel(page, session) if user is not None and staff else None
    if chosen_id is None and job is not None and job.get("scenario_id"):
        chosen_id = int(job["scenario_id"])
    scenarios: list[PlanScenario] = []
    rows: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    if user is not None and staff:
        scenarios = list_scenarios(session, prefix=jurisdiction_prefix(user) or "")
        for s in scenarios:
            if s.division_code not in names:
                try:
                    names[s.division_code] = queries.division(session, s.division_code).name
                except ShequError:
                    names[s.division_code] = s.division_code
            rows.append({"id": s.id, "name": s.name, "division": names[s.division_code],
                         "division_code": s.division_code, "status": s.status,
                         "changes": len(s.changes), "cost": cost_summary(s)["total_cny"],
                         "evaluated": bool(s.evaluation)})
    chosen = _readable(page, session, chosen_id) if chosen_id is not None else None
    detail = None
    crumbs = [Crumb(page.t("common.home"), "/"), Crumb(page.t("plan.title"), "/plan")]
    if chosen is not None:
        cost = cost_summary(chosen)
        detail = {
            "scenario": chosen,
            "division": names.get(chosen.division_code, chosen.division_code),
            "cost": [(funding_text(page, k), v) for k, v in
                     sorted(cost["by_funding_source"].items(), key=lambda kv: -kv[1])],
            "total": cost["total_cny"],
            "actions": [(page.t(f"plan.action_{k}"), n) for k, n in
                        sorted(cost["changes"].items())],
            "evaluation": _evaluation(page, ctx, chosen),
            "may_evaluate": page.role in PLANNER_ROLES and chosen.status == "draft",
            "may_adopt": page.role in PLANNER_ROLES and chosen.status == "draft",
        }
        crumbs.append(Crumb(chosen.name))
    labels = {"covered": page.t("plan.count_covered"), "newly": page.t("plan.count_newly"),
              "uncovered": page.t("plan.count_uncovered"), "residents": page.t("plan.residents"),
              "loading": page.t("plan.map_loading"), "failed": page.t("plan.map_failed"),
              "cny": page.t("plan.cny"), "covers": page.t("plan.site_covers"),
              "rule_own_unit": page.t("plan.coverage_own_unit"),
              "rule_within": page.t("plan.coverage_within"),
              "actions": {a: page.t(f"plan.action_{a}")
                          for a in ("new", "reuse", "close", "enlarge")}}
    planner = page.role in PLANNER_ROLES
    return render(page, "plan.html", {
        "scenarios": rows, "chosen": detail, "staff": staff, "comparison":
        _comparison(page, scenarios) if staff else None, "labels": labels, "form": form,
        "planner": planner, "job": job, "adopt_form": adopt_form,
        "solve": solve_form_context(page, ctx, session, solve_form, start)
        if planner and chosen is None else None,
        "compared": compared(page, session) if staff else None,
        "breadcrumbs": crumbs if chosen is not None else [
            crumbs[0], Crumb(page.t("plan.title"))],
    }, status_code=status_code)


@router.get("/plan", response_class=HTMLResponse)
def plan_page(page: PageDep, ctx: ContextDep, session: SessionDep,
              scenario: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
              ) -> HTMLResponse:
    """The planner's page: scenarios, one on a map with its covered units and indicator
    changes, and the evaluated ones compared."""
    if scenario is not None:
        page.require(*STAFF_ROLES)
    start = None
    query = page.request.query_params
    if query.get("indicator") and page.role in PLANNER_ROLES:
        from shequ.web.plan_work import short_board_start

        start = short_board_start(page, ctx, session, query.get("indicator", "")[:20],
                                  query.get("division", "")[:12])
    return _plan_page(page, ctx, session, scenario, start=start)


async def _posted(request: Request) -> FormData:
    """The posted form (read once, off the handler's thread)."""
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


@router.post("/plan/scenarios/{scenario_id}/evaluate", response_class=HTMLResponse)
def evaluate_form(scenario_id: IdPath, page: SignedInPage, ctx: ContextDep,
                  session: SessionDep) -> Response:
    """Evaluate a scenario from its page, as a job whose progress the page shows."""
    from shequ.services.planning import start_evaluate

    user = page.require(*PLANNER_ROLES)
    _readable(page, session, scenario_id)
    session.rollback()  # the job opens its own sessions; release this one's snapshot
    try:
        job = start_evaluate(ctx, user, scenario_id)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        form = failed(FormState(), exc, page.lang, session=session)
        return _plan_page(page, ctx, session, scenario_id, form=form, status_code=422)
    return back("/plan", scenario=scenario_id, job=job.id)


@router.post("/plan/solve", response_class=HTMLResponse)
def solve_form(form: Posted, page: SignedInPage, ctx: ContextDep,
               session: SessionDep) -> Response:
    """Solve the plan of the form as a job; the page then follows its progress."""
    from shequ.services.planning import start_solve
    from shequ.web.plan_work import SOLVE_FIELDS, request_of

    user = page.require(*PLANNER_ROLES)
    state = typed(form)
    session.rollback()
    try:
        job = start_solve(ctx, user, request_of(form))
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        state = failed(state, exc, page.lang, session=session,
                       fields={name: name for name in SOLVE_FIELDS} | {
                           "division_code": "division_code", "division": "division_code"})
        return _plan_page(page, ctx, session, None, solve_form=state, status_code=422)
    return back("/plan", job=job.id)


@router.post("/plan/refresh", response_class=HTMLResponse)
def refresh_form(page: SignedInPage, ctx: ContextDep, session: SessionDep) -> Response:
    """Recompute the jurisdiction's life circles and indicators as a job, followed here."""
    from shequ.services.analyses import start_refresh

    user = page.require(*PLANNER_ROLES)
    session.rollback()
    try:
        job = start_refresh(ctx, user)
    except ShequError as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _plan_page(page, ctx, session, None, form=failed(FormState(), exc, page.lang),
                          status_code=409)
    return back("/plan", job=job.id)


@router.post("/plan/scenarios/{scenario_id}/adopt", response_class=HTMLResponse)
def adopt_form(scenario_id: IdPath, form: Posted, page: SignedInPage, ctx: ContextDep,
               session: SessionDep) -> Response:
    """Adopt a scenario after its confirmation box is ticked: its facilities enter the
    registry as planned."""
    from shequ.errors import Problem
    from shequ.services.planning import adopt

    user = page.require(*PLANNER_ROLES)
    _readable(page, session, scenario_id)
    state = typed(form)
    try:
        if form.get("confirm") != "1":
            raise ValidationError([Problem("form", "tick the box to confirm",
                                           column="confirm", code="plan.confirm_adopt")])
        created = adopt(session, user, scenario_id)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        state = failed(state, exc, page.lang, session=session, fields={"confirm": "confirm"})
        return _plan_page(page, ctx, session, scenario_id, adopt_form=state, status_code=422)
    del created  # the page lists them from the scenario
    return back("/plan", scenario=scenario_id, message="plan.adopted_done")


# ---------------------------------------------------------------------------- estate review

def source_text(page: Page, source: str) -> str:
    """A standard's reference without the catalog's remarks in brackets (English notes
    for maintainers), its "Appendix" said in Chinese on Chinese pages."""
    text = re.sub(r"\s*\([^)]*\)", "", source).strip()
    if page.lang != "en":
        text = text.replace("Appendix", "附录")
    return text


def finding_text(page: Page, ctx: Context, finding: Finding) -> dict[str, Any]:
    """One finding of the estate review in the reader's words: what was checked, what
    was found, the shortfall and the source."""
    values = finding.params
    if finding.tier is not None:
        tier = ctx.catalog.tiers.get(finding.tier)
        check = tier.name(page.lang) if tier is not None else finding.tier
        missing = [ctx.catalog.facility_type(code).name(page.lang)
                   if code in ctx.catalog.facility_types else code
                   for code in finding.missing_types]
        text = page.t("plan.finding_tier", present=int(values.get("present", 0)),
                      required=int(values.get("required", 0)),
                      distance=f"{values.get('distance', 0):,.0f}")
        shortfall = page.t("plan.missing_types",
                           types=("、" if page.lang == "zh-CN" else ", ").join(missing)) \
            if missing else ""
    else:
        check = page.t(f"plan.check_{finding.check}")
        share = values.get("share")
        text = page.t(
            f"plan.finding_{finding.check}", area=f"{values.get('area', 0):,.0f}",
            of=f"{values.get('of', 0):,.0f}",
            households=f"{int(values.get('households', 0)):,}",
            minimum=f"{values.get('minimum', 0):g}" if finding.check.endswith("households")
            else f"{values.get('minimum', 0):.0%}",
            need=f"{values.get('need', 0):,.0f}",
            share=f"{share:.1%}" if share is not None else page.t("plan.none"))
        shortfall = page.t("plan.shortfall_m2", value=f"{finding.shortfall:,.1f}") \
            if finding.shortfall > 0 else ""
    return {"check": check, "passed": finding.passed, "text": text, "shortfall": shortfall,
            "source": source_text(page, finding.source)}


@router.get("/plan/estate", response_class=HTMLResponse)
def estate_page(page: PageDep, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """A form for the estate review; the result shows below it (GET: nothing is stored)."""
    query = page.request.query_params
    values = {key: query.get(key, "")[:40] for key in ESTATE_FIELDS}
    planned = query.getlist("types")[:50]
    form = FormState(values=values, multi={"types": planned})
    review: EstateReview | None = None
    status = 200
    if query.get("households") is not None:
        facilities: list[dict[str, Any]] = [{
            "type_code": "comprehensive_service_facility",
            "floor_area_m2": values["service_floor_area_m2"] or 0,
            "activity_area_m2": values["activity_area_m2"] or 0}]
        facilities += [{"type_code": t} for t in planned
                       if t != "comprehensive_service_facility"]
        body: dict[str, Any] = {k: v for k, v in values.items() if v != ""} | {
            "facilities": facilities, "area": "urban"}
        body.pop("service_floor_area_m2", None)
        body.pop("activity_area_m2", None)
        try:
            plan = EstatePlan.from_mapping(body, source="estate plan")
            review = review_estate_in_registry(session, plan, catalog=ctx.catalog,
                                               catalog_dir=ctx.settings.catalog_dir)
        except ValidationError as exc:
            form = failed(form, exc, page.lang, fields=ESTATE_COLUMNS | {
                k: k for k in ESTATE_FIELDS})
            status = 422
    types = sorted({code for tier in ctx.catalog.tiers.values() if tier.area == "urban"
                    for code in tier.required})
    result = None
    if review is not None:
        result = {"estate": values["name"].strip() or page.t("plan.estate_default"),
                  "passed": review.passed,
                  "findings": [finding_text(page, ctx, f) for f in review.findings],
                  "failures": len(review.failures)}
    return render(page, "plan_estate.html", {
        "form": form, "result": result,
        "types": [(code, ctx.catalog.facility_type(code).name(page.lang)) for code in types],
        "planned": planned,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"), Crumb(page.t("plan.title"), "/plan"),
                        Crumb(page.t("plan.estate_title"))],
    }, status_code=status)
