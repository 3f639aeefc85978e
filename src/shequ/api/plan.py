"""Planning endpoints (``/api/v1/plan/…``); the pages are :mod:`shequ.web.plan`'s.

Scenarios are planners' work: reading them needs a staff account whose jurisdiction
holds the scenario's division; changing them (solve and save, create, evaluate, adopt,
delete) needs a planner or administrator role in that jurisdiction.  The estate review
computes only and is open to everyone (developers check their drafts).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied
from shequ.http.caller import CurrentUser, Planner
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep
from shequ.plan.models import PlanScenario
from shequ.services.accounts import Role, User, audit
from shequ.services.accounts.policy import STAFF_ROLES, require_in_jurisdiction

router = APIRouter(prefix="/plan", tags=["plan"])


def _staff(user: User) -> None:
    if Role(user.role) not in STAFF_ROLES:
        raise AccessDenied("planning scenarios are for staff accounts")


# ------------------------------------------------------------------------------ schemas

class ChangeIn(BaseModel):
    """One change of a scenario."""

    action: Literal["new", "reuse", "close", "enlarge"]
    type_code: str
    division_code: str = Field(min_length=12, max_length=12)
    name: str = Field(min_length=1, max_length=200)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    facility_id: int | None = None
    floor_area_m2: float | None = Field(default=None, ge=0)
    activity_area_m2: float | None = Field(default=None, ge=0)
    capacity: int | None = Field(default=None, ge=0)
    cost_cny: float = Field(default=0.0, ge=0)
    funding_source: str | None = None
    space_for_services: bool = False


class ScenarioIn(BaseModel):
    """A scenario to store."""

    name: str = Field(min_length=1, max_length=120)
    division_code: str = Field(min_length=12, max_length=12)
    description: str | None = None
    changes: list[ChangeIn]


class ScenarioOut(BaseModel):
    """A stored scenario with its changes, cost and last evaluation."""

    id: int
    name: str
    division_code: str
    description: str | None
    status: str
    model: str | None
    parameters: dict[str, Any] | None
    cost: dict[str, Any]
    changes: list[dict[str, Any]]
    evaluation: dict[str, Any] | None


class SolveIn(BaseModel):
    """A location model to solve for a division's gaps."""

    division_code: str = Field(min_length=2, max_length=12)
    type_code: str = "comprehensive_service_facility"
    model: Literal["mclp", "lscp", "pmedian", "capacitated"] = "mclp"
    p: int | None = Field(default=None, ge=0)
    budget: float | None = Field(default=None, ge=0)
    target: float | None = Field(default=None, gt=0, le=1,
                                 description="budget = reaching this share by new builds")
    objective: Literal["units", "residents"] = "units"
    area: Literal["rural", "urban", "all"] = "rural"
    candidates: Literal["both", "new", "reuse"] = Field(
        default="both", description="reuse of public space, new builds, or both")
    drop_sites: list[Annotated[str, Field(max_length=80)]] = Field(
        default_factory=list, max_length=2000, description="candidate site ids left out")
    extra_sites: list[tuple[Annotated[float, Field(ge=-180, le=180)],
                            Annotated[float, Field(ge=-90, le=90)]]] = Field(
        default_factory=list, max_length=500,
        description="points (longitude, latitude) added as new-build candidates")
    unserved_distance: float | None = Field(
        default=None, gt=0, le=100_000, description="p-median: metres at which a resident "
        "counts as unserved (default three times the tier's walking distance)")
    heuristic: bool = False
    time_limit_s: float = Field(default=30.0, gt=0, le=600)
    save_as: str | None = Field(default=None, max_length=120)
    funding_source: str = "special_bonds"
    indicator: str | None = Field(default=None, max_length=20,
                                  description="the short board the plan starts from")

    def to_request(self) -> Any:
        """The planning service's request."""
        from shequ.services.planning import PlanRequest

        return PlanRequest(
            division_code=self.division_code, type_code=self.type_code, model=self.model,
            p=self.p, budget=self.budget, target=self.target, objective=self.objective,
            area=self.area, candidates=self.candidates, drop_sites=tuple(self.drop_sites),
            extra_sites=tuple(self.extra_sites), unserved_distance=self.unserved_distance,
            heuristic=self.heuristic, time_limit=self.time_limit_s, name=self.save_as,
            funding_source=self.funding_source, indicator=self.indicator)


class SolveOut(BaseModel):
    """What the model chose and how good it is."""

    model: str
    solver: str
    status: str
    objective: float
    bound: float
    gap: float
    cost: float
    seconds: float
    budget: float | None
    unserved_distance: float | None = None
    units: int
    units_covered_before: int
    units_with_site_after: int
    sites: list[dict[str, Any]]
    served: list[dict[str, Any]] = Field(
        default_factory=list, description="capacitated: each open site's capacity and load")
    scenario_id: int | None
    scenario_name: str | None = Field(
        default=None, description="the name stored: the asked one, or it with \" (2)\", "
        "\" (3)\" … when a scenario bears it already")


def _scenario_out(scenario: PlanScenario) -> ScenarioOut:
    from shequ.plan.scenarios import changes_frame, cost_summary

    return ScenarioOut(
        id=scenario.id, name=scenario.name, division_code=scenario.division_code,
        description=scenario.description, status=scenario.status, model=scenario.model,
        parameters=json.loads(scenario.parameters) if scenario.parameters else None,
        cost=cost_summary(scenario), changes=changes_frame(scenario).to_dicts(),
        evaluation=json.loads(scenario.evaluation) if scenario.evaluation else None)


def _readable(session: Session, user: User, scenario_id: int) -> PlanScenario:
    from shequ.plan.scenarios import get_scenario

    _staff(user)
    scenario = get_scenario(session, scenario_id)
    require_in_jurisdiction(user, scenario.division_code)
    return scenario


# ------------------------------------------------------------------------------ routes

@router.get("/scenarios", response_model=list[ScenarioOut])
def list_scenarios(session: SessionDep, user: CurrentUser) -> list[ScenarioOut]:
    """Scenarios in the caller's jurisdiction, newest first."""
    from shequ.plan.scenarios import list_scenarios as stored
    from shequ.services.accounts.policy import jurisdiction_prefix

    _staff(user)
    return [_scenario_out(s) for s in stored(session, prefix=jurisdiction_prefix(user) or "")]


@router.post("/scenarios", response_model=ScenarioOut, status_code=201)
def create_scenario(body: ScenarioIn, ctx: ContextDep, session: SessionDep,
                    user: Planner) -> ScenarioOut:
    """Store a scenario of hand-made changes."""
    from shequ.plan.scenarios import ChangeInput
    from shequ.plan.scenarios import create_scenario as create

    require_in_jurisdiction(user, body.division_code)
    scenario = create(session, name=body.name, division_code=body.division_code,
                      description=body.description,
                      changes=[ChangeInput(**c.model_dump()) for c in body.changes],
                      catalog_types=list(ctx.catalog.facility_types))
    audit(session, user=user, action="create", entity="plan_scenario", entity_id=scenario.id,
          detail={"division_code": body.division_code, "changes": len(body.changes)})
    return _scenario_out(scenario)


@router.get("/scenarios/{scenario_id}", response_model=ScenarioOut)
def get_scenario(scenario_id: IdPath, session: SessionDep, user: CurrentUser) -> ScenarioOut:
    """One scenario with its changes, cost and last evaluation."""
    return _scenario_out(_readable(session, user, scenario_id))


@router.delete("/scenarios/{scenario_id}", status_code=204)
def delete_scenario(scenario_id: IdPath, session: SessionDep, user: Planner) -> Response:
    """Delete a draft scenario."""
    from shequ.plan.scenarios import delete_scenario as delete

    _readable(session, user, scenario_id)
    delete(session, scenario_id)
    audit(session, user=user, action="delete", entity="plan_scenario", entity_id=scenario_id)
    return Response(status_code=204)


@router.post("/scenarios/{scenario_id}/evaluate")
def evaluate(scenario_id: IdPath, ctx: ContextDep, session: SessionDep, user: Planner,
             life_circles: bool = True, period: int | None = None) -> dict[str, Any]:
    """Life circles and indicators before and after the scenario, at every level."""
    from shequ.plan.scenarios import evaluate_scenario

    _readable(session, user, scenario_id)
    session.rollback()  # evaluation opens its own sessions; release this one's snapshot
    return evaluate_scenario(ctx, scenario_id, life_circles=life_circles,
                             period=period).to_json()


@router.post("/scenarios/{scenario_id}/evaluation-jobs", status_code=202)
def evaluate_as_job(scenario_id: IdPath, ctx: ContextDep, session: SessionDep, user: Planner,
                    life_circles: bool = True, period: int | None = None) -> dict[str, Any]:
    """Evaluate the scenario as a job; follow it at ``/api/v1/jobs/{id}``."""
    from shequ.services.jobs.service import job_json
    from shequ.services.planning import start_evaluate

    _readable(session, user, scenario_id)
    session.rollback()
    return job_json(start_evaluate(ctx, user, scenario_id, life_circles=life_circles,
                                   period=period))


@router.post("/scenarios/{scenario_id}/adopt")
def adopt(scenario_id: IdPath, session: SessionDep, user: Planner) -> dict[str, Any]:
    """Write the scenario's new and reused facilities into the registry as planned."""
    from shequ.services.planning import adopt as adopt_it

    _readable(session, user, scenario_id)
    created = adopt_it(session, user, scenario_id)
    return {"scenario_id": scenario_id, "planned_facility_ids": [f.id for f in created]}


EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/scenarios/{scenario_id}/export")
def export(scenario_id: IdPath, session: SessionDep, user: CurrentUser,
           fmt: Annotated[Literal["csv", "xlsx", "geojson"], Query(alias="format")] = "csv"
           ) -> Response:
    """The scenario as CSV (changes), XLSX (changes, deltas, cost) or GeoJSON (sites)."""
    from shequ.services.planning import export as export_it

    scenario = _readable(session, user, scenario_id)
    body = export_it(session, user, scenario_id, fmt)
    filename = f"scenario-{scenario.id}.{fmt}"
    return Response(body, media_type=EXPORT_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/scenarios/{scenario_id}/map")
def scenario_map(scenario_id: IdPath, ctx: ContextDep, session: SessionDep,
                 user: CurrentUser) -> dict[str, Any]:
    """GeoJSON for the planner's map: proposed sites with what each covers, and every
    unit covered before/after.

    What a site serves and whether a unit is covered before and after follow one rule,
    the scenario's model's (``coverage.rule``): a unit holding a facility of each changed
    type in service or accepted (before; after: plus the scenario's new and reused ones,
    less its closures), or a unit within ``coverage.radius_m`` of an open site, served by
    the nearest.  Each unit names the change serving it (``served_by``) and each site
    counts its units and their residents.
    """
    from shequ.plan.scenarios import sites_geojson
    from shequ.registry.codes import code_prefix
    from shequ.registry.models import Division, Population
    from shequ.registry.queries import division
    from shequ.services.planning import site_coverage

    scenario = _readable(session, user, scenario_id)
    coverage = site_coverage(session, ctx.catalog, scenario)
    root = division(session, scenario.division_code)
    prefix = code_prefix(root.code, root.level)
    types = sorted({c.type_code for c in scenario.changes})
    residents = {row[0]: row[1] for row in session.execute(
        select(Population.division_code, Population.residents).where(
            Population.division_code.startswith(prefix)).order_by(Population.period))}
    units = []
    for unit in session.scalars(select(Division).where(
            Division.code.startswith(prefix), Division.level == 5,
            Division.valid_to.is_(None)).order_by(Division.code)):
        if unit.longitude is None or unit.latitude is None:
            continue
        units.append({"type": "Feature",
                      "geometry": {"type": "Point",
                                   "coordinates": [unit.longitude, unit.latitude]},
                      "properties": {
                          "code": unit.code, "name": unit.name,
                          "residents": residents.get(unit.code, 0),
                          "covered_before": unit.code in coverage.covered_before,
                          "covered_after": unit.code in coverage.covered_after,
                          "served_by": coverage.served_by.get(unit.code),
                          "synthetic": unit.synthetic_geography}})
    sites = sites_geojson(scenario)
    for site in sites["features"]:
        props = site["properties"]
        served = coverage.units_of(props["id"]) if props["action"] in ("new", "reuse") \
            else []
        props["covers_units"] = len(served)
        props["covers_residents"] = sum(residents.get(code, 0) for code in served)
    return {"scenario": scenario.name, "types": types, "sites": sites,
            "coverage": {"rule": coverage.rule, "radius_m": coverage.radius_m},
            "units": {"type": "FeatureCollection", "features": units}}


@router.get("/compare")
def compare(session: SessionDep, user: CurrentUser,
            ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]],
                           Query(description="scenario ids (2 to 4)", max_length=4)]
            ) -> list[dict[str, Any]]:
    """Two to four scenarios side by side: cost, changes, coverage of their solution and,
    once evaluated, every indicator at their division."""
    from shequ.services.planning import compare as compare_them

    return compare_them(session, user, list(ids))


@router.get("/candidates")
def candidates(ctx: ContextDep, session: SessionDep, user: CurrentUser,
               division_code: Annotated[str, Query(min_length=2, max_length=12)],
               type_code: Annotated[str, Query(max_length=48)] =
               "comprehensive_service_facility",
               area: Literal["rural", "urban", "all"] = "rural",
               candidates: Literal["both", "new", "reuse"] = "both") -> dict[str, Any]:
    """The sites a plan would choose from (GeoJSON points: existing facilities, new builds
    and reuse of public space, each with its id for ``drop_sites``)."""
    from shequ.services.planning import candidate_sites

    return candidate_sites(session, user, ctx.catalog, division_code=division_code,
                           type_code=type_code, area=area, candidates=candidates,
                           catalog_dir=ctx.settings.catalog_dir)


@router.post("/solve", response_model=SolveOut)
def solve(body: SolveIn, ctx: ContextDep, session: SessionDep, user: Planner) -> SolveOut:
    """Solve a location model for a division's gaps now (and store it as a scenario);
    ``POST /plan/solve-jobs`` does the same as a job."""
    from shequ.services.planning import solve_now

    session.rollback()  # the solve opens its own sessions
    summary = solve_now(ctx, user, body.to_request(), save=bool(body.save_as))
    return SolveOut.model_validate(summary)


@router.post("/solve-jobs", status_code=202)
def solve_as_job(body: SolveIn, ctx: ContextDep, session: SessionDep, user: Planner
                 ) -> dict[str, Any]:
    """Solve as a job (the scenario is stored when it is done); follow it at
    ``/api/v1/jobs/{id}``, whose result names the scenario."""
    from shequ.services.jobs.service import job_json
    from shequ.services.planning import start_solve

    session.rollback()
    return job_json(start_solve(ctx, user, body.to_request()))


class FacilityPlanIn(BaseModel):
    """A facility in an estate's plan."""

    type_code: str
    floor_area_m2: float = Field(default=0.0, ge=0)
    activity_area_m2: float = Field(default=0.0, ge=0)


class EstateIn(BaseModel):
    """A new estate's plan."""

    name: str = "estate"
    households: int = Field(ge=0)
    residents: int = Field(ge=0)
    total_floor_area_m2: float = Field(ge=0)
    commercial_floor_area_m2: float = Field(default=0.0, ge=0)
    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)
    area: Literal["urban", "rural"] = "urban"
    facilities: list[FacilityPlanIn] = Field(default_factory=list)


def _review(body: dict[str, Any], ctx: ContextDep, session: Session) -> dict[str, Any]:
    from dataclasses import asdict

    from shequ.plan.estate import EstatePlan, review_estate_in_registry

    plan = EstatePlan.from_mapping(body, source="estate plan")
    review = review_estate_in_registry(session, plan, catalog=ctx.catalog,
                                       catalog_dir=ctx.settings.catalog_dir)
    return {"estate": review.estate, "passed": review.passed,
            "findings": [asdict(f) for f in review.findings], "notes": list(review.notes)}


@router.post("/estate-review")
def estate_review(body: EstateIn, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Check a new estate against the standards: pass/fail, every reason, shortfalls."""
    return _review(body.model_dump(), ctx, session)
