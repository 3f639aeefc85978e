"""Planning's use cases, one dispatch for the page, the API and the command line.

A plan request names the division, the facility type, the model — maximal covering by
budget or p (``mclp``), set covering (``lscp``), p-median with an unserved distance
(``pmedian``), capacitated covering of places or seats (``capacitated``) — the area, the
candidate sites (reuse of public space and/or new builds, single ones dropped, points
added on the map) and the budget, p or target share.  :func:`solve_request` turns it into
a solution and :func:`save_solution` into a draft scenario; on the page and the API both
run as a job (:func:`start_solve`), the CLI calls them in its own process.  Evaluating is
a job too (:func:`start_evaluate`); comparing, adopting and exporting are quick.  Every
step is audited.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.catalog import Catalog
from shequ.context import Context
from shequ.errors import AccessDenied, NotFoundError, Problem, ValidationError
from shequ.plan.models import PlanScenario
from shequ.plan.scenarios import adopt_scenario, get_scenario
from shequ.registry.codes import normalise_code
from shequ.registry.models import Facility
from shequ.services.accounts import (
    PLANNER_ROLES,
    STAFF_ROLES,
    Role,
    User,
    audit,
    require_in_jurisdiction,
)
from shequ.services.jobs.runner import ProgressReporter, no_progress

if TYPE_CHECKING:
    from shequ.plan.instance import RegistryInstance
    from shequ.plan.problem import SitingSolution
    from shequ.services.jobs.models import Job

Model = Literal["mclp", "lscp", "pmedian", "capacitated"]
MODELS: tuple[str, ...] = ("mclp", "lscp", "pmedian", "capacitated")
AREAS = ("rural", "urban", "all")
CANDIDATES = ("both", "new", "reuse")
OBJECTIVES = ("units", "residents")
# The p-median's unserved distance when none is given: this many times the tier's.
UNSERVED_TIMES_TIER = 3.0
MAX_COMPARED = 4


def _bad(name: str, reason: str, *, code: str, params: dict[str, object] | None = None
         ) -> Problem:
    """A problem of the request's field ``name`` (the form's field of the same name)."""
    return Problem("plan", reason, column=name, code=code, params=params or {})


@dataclass(frozen=True)
class PlanRequest:
    """What a planner asks to be solved (the page's form, the API's body, the CLI's options)."""

    division_code: str
    type_code: str = "comprehensive_service_facility"
    model: str = "mclp"
    p: int | None = None
    budget: float | None = None
    target: float | None = None
    objective: str = "units"
    area: str = "rural"
    candidates: str = "both"
    drop_sites: tuple[str, ...] = ()
    extra_sites: tuple[tuple[float, float], ...] = ()
    unserved_distance: float | None = None
    heuristic: bool = False
    time_limit: float = 30.0
    name: str | None = None
    funding_source: str = "special_bonds"
    indicator: str | None = None  # the short board it started from, if any

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (a job's parameters, a scenario's record)."""
        data = asdict(self)
        data["drop_sites"] = list(self.drop_sites)
        data["extra_sites"] = [list(p) for p in self.extra_sites]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanRequest:
        """The request stored by :meth:`to_json`."""
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["drop_sites"] = tuple(values.get("drop_sites") or ())
        values["extra_sites"] = tuple((float(a), float(b))
                                      for a, b in values.get("extra_sites") or ())
        return cls(**values)

    def check(self, catalog: Catalog) -> PlanRequest:
        """Every problem of the request at once; the request with its code normalised."""
        problems: list[Problem] = []
        code = self.division_code
        try:
            code = normalise_code(self.division_code, where="division_code")
        except ValidationError as exc:
            problems.extend(replace(p, column="division_code") for p in exc.problems)
        if self.type_code not in catalog.facility_types:
            problems.append(_bad("type_code", f"unknown facility type {self.type_code!r}",
                                    code="plan.unknown_type"))
        for name, value, allowed in (("model", self.model, MODELS),
                                     ("area", self.area, AREAS),
                                     ("candidates", self.candidates, CANDIDATES),
                                     ("objective", self.objective, OBJECTIVES)):
            if value not in allowed:
                problems.append(_bad(name, f"{value!r} is not one of {', '.join(allowed)}",
                                        code="plan.not_one_of",
                                        params={"allowed": ", ".join(allowed)}))
        if self.model in ("mclp", "capacitated") and self.p is None and self.budget is None \
                and self.target is None:
            problems.append(_bad("budget", "this model needs p, a budget or a target",
                                    code="plan.needs_limit"))
        if self.p is not None and self.p < 0:
            problems.append(_bad("p", "is negative", code="plan.negative"))
        if self.budget is not None and self.budget < 0:
            problems.append(_bad("budget", "is negative", code="plan.negative"))
        if self.target is not None and not 0 < self.target <= 1:
            problems.append(_bad("target", f"{self.target} is not a share in (0, 1]",
                                    code="plan.bad_target"))
        if self.unserved_distance is not None and self.unserved_distance <= 0:
            problems.append(_bad("unserved_distance", "must be more than 0 m",
                                    code="plan.negative"))
        if self.model == "capacitated" and self.type_code in catalog.facility_types \
                and catalog.facility_type(self.type_code).capacity_unit == "none":
            problems.append(_bad("type_code", f"{self.type_code} has no capacity unit "
                                    "(places, beds, seats)", code="plan.no_capacity"))
        if not 0 < self.time_limit <= 600:
            problems.append(_bad("time_limit", "must be in (0, 600] s",
                                    code="plan.bad_time_limit"))
        if problems:
            raise ValidationError(problems, summary="the plan cannot be solved as asked")
        return PlanRequest(**{**asdict(self), "division_code": code,
                              "drop_sites": self.drop_sites, "extra_sites": self.extra_sites})


@dataclass
class PlanOutcome:
    """A solved request: the instance, the solution and what it says."""

    request: PlanRequest
    instance: RegistryInstance
    solution: SitingSolution
    budget: float | None
    unserved_distance: float | None
    served: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Figures of the solution (JSON): objective, bound, cost, units, new sites."""
        inst, sol = self.instance, self.solution
        sites = [{"key": inst.sites[j].key, "kind": inst.sites[j].kind,
                  "division_code": inst.sites[j].division_code, "name": inst.sites[j].name,
                  "longitude": inst.sites[j].longitude, "latitude": inst.sites[j].latitude,
                  "cost_cny": inst.sites[j].cost, "facility_id": inst.sites[j].facility_id,
                  "capacity": inst.sites[j].capacity}
                 for j in sol.open_sites.tolist() if inst.sites[j].kind != "existing"]
        opened = {inst.sites[j].division_code for j in sol.open_sites.tolist()}
        return {"model": sol.model, "solver": sol.solver, "status": sol.status,
                "objective": float(sol.objective), "bound": float(sol.bound),
                "gap": float(sol.gap), "cost": float(sol.cost), "seconds": float(sol.seconds),
                "budget": self.budget, "unserved_distance": self.unserved_distance,
                "units": len(inst.units), "units_covered_before": inst.covered_units_now,
                "units_with_site_after": len(opened), "covered_weight":
                float(sol.covered_weight), "total_weight": float(sol.total_weight),
                "sites": sites, "served": self.served}


# --------------------------------------------------------------------------- short boards

_HAS = re.compile(r"has\((\w+)\)")


def request_from_short_board(catalog_dir: Any, indicator_code: str, division_code: str
                             ) -> PlanRequest:
    """A plan request that closes a coverage indicator's short board: its facility type,
    its area and its target share (e.g. N2 → comprehensive service facilities in 80% of
    villages, maximal covering with the budget that reaches the target)."""
    from shequ.indicators.definitions import load_indicator_catalog

    catalog = load_indicator_catalog(catalog_dir)
    indicator = catalog.indicators.get(indicator_code)
    if indicator is None:
        raise NotFoundError(f"no indicator {indicator_code!r}", code="plan.no_indicator",
                            params={"indicator": indicator_code})
    numerator = indicator.numerator_text
    found = _HAS.search(numerator)
    if found is None or not numerator.startswith("units"):
        raise ValidationError([Problem("indicator", f"{indicator_code} does not count units "
                                       "with a facility; start from a blank plan",
                                       code="plan.not_a_coverage_indicator",
                                       params={"indicator": indicator_code})])
    area = "rural" if "rural" in numerator else "urban" if "urban" in numerator else "all"
    target = None
    if indicator.target is not None and indicator.unit == "%":
        target = min(1.0, float(indicator.target) / 100.0)
    return PlanRequest(division_code=division_code, type_code=found.group(1), model="mclp",
                       target=target, objective="units", area=area, indicator=indicator_code)


def short_board_target(catalog_dir: Any, type_code: str, area: str
                       ) -> tuple[str, float] | None:
    """The coverage indicator of ``type_code`` in ``area`` that has a share as its target
    (its code and the share), e.g. N2 and 0.8 for comprehensive service facilities in
    rural villages; None when no indicator counts units with that type there."""
    from shequ.indicators.definitions import NATION_CODE, load_indicator_catalog

    catalog = load_indicator_catalog(catalog_dir)
    # the nation's indicators first (the plan's own targets), then a province's
    for indicator in sorted(catalog.indicators.values(),
                            key=lambda i: (i.scope != NATION_CODE, i.code)):
        code = indicator.code
        numerator = indicator.numerator_text
        found = _HAS.search(numerator)
        if found is None or found.group(1) != type_code or not numerator.startswith("units") \
                or indicator.target is None or indicator.unit != "%":
            continue
        its_area = "rural" if "rural" in numerator else "urban" if "urban" in numerator \
            else "all"
        if its_area == area and numerator.count("has(") == 1:
            return code, min(1.0, float(indicator.target) / 100.0)
    return None


# --------------------------------------------------------------------------- solving

def _assignment(instance: RegistryInstance, solution: SitingSolution, radius: float
                ) -> list[dict[str, Any]]:
    """Who each open site serves under the capacities: the transportation LP over the
    open sites (max Σ w_i z_ij, Σ_j z_ij ≤ 1, Σ_i w_i z_ij ≤ Q_j), per site its load."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    problem = instance.problem
    assert problem.capacity is not None
    cover = problem.coverage(radius).tocoo()
    is_open = np.zeros(problem.n_sites, bool)
    is_open[solution.open_sites] = True
    w = problem.weights
    keep = is_open[cover.col] & (w[cover.row] > 0)
    rows, cols = cover.row[keep], cover.col[keep]
    n = rows.size
    if n == 0:
        return []
    ones = np.ones(n)
    served = coo_matrix((ones, (rows, np.arange(n))), shape=(problem.n_demand, n))
    load = coo_matrix((w[rows], (cols, np.arange(n))), shape=(problem.n_sites, n))
    bound = np.concatenate([np.ones(problem.n_demand), problem.capacity])
    result = linprog(-w[rows], A_ub=vstack([served, load]).tocsr(), b_ub=bound,
                     bounds=(0, 1), method="highs")
    z = result.x if result.success else np.zeros(n)
    loads = np.bincount(cols, weights=w[rows] * z, minlength=problem.n_sites)
    return [{"key": instance.sites[j].key, "name": instance.sites[j].name,
             "capacity": float(problem.capacity[j]), "load": round(float(loads[j]), 6)}
            for j in solution.open_sites.tolist()]


def solve_request(session: Session, catalog: Catalog, request: PlanRequest, *,
                  catalog_dir: Any = None, progress: ProgressReporter = no_progress
                  ) -> PlanOutcome:
    """Build the instance from the registry and solve the request's model on it."""
    from shequ.plan.exact import solve_capacitated, solve_lscp, solve_mclp, solve_pmedian
    from shequ.plan.heuristic import greedy_lscp, greedy_mclp, greedy_pmedian
    from shequ.plan.instance import build_instance, default_radius, target_budget

    request = request.check(catalog)
    progress(0.05, "instance")
    area: Any = request.area
    tier = default_radius(catalog, request.type_code, area)
    unserved = None
    objective: Any = request.objective
    radius = None
    if request.model == "pmedian":
        unserved = request.unserved_distance or UNSERVED_TIMES_TIER * tier
        objective, radius = "residents", unserved
    elif request.model == "capacitated":
        objective = "places"
    instance = build_instance(session, request.division_code, request.type_code,
                              catalog=catalog, objective=objective, area=area, radius=radius,
                              catalog_dir=catalog_dir, candidates=request.candidates,  # type: ignore[arg-type]
                              drop=frozenset(request.drop_sites),
                              extra=request.extra_sites)
    budget = request.budget
    if request.target is not None and request.model in ("mclp", "capacitated") \
            and request.p is None and budget is None:
        budget = target_budget(instance, request.target)
    progress(0.2, "solve")
    problem, limit, p = instance.problem, request.time_limit, request.p
    if request.model == "mclp":
        solution = (greedy_mclp(problem, instance.radius, p=p, budget=budget, time_limit=limit)
                    if request.heuristic else
                    solve_mclp(problem, instance.radius, p=p, budget=budget, time_limit=limit))
    elif request.model == "lscp":
        solution = (greedy_lscp(problem, instance.radius) if request.heuristic
                    else solve_lscp(problem, instance.radius, time_limit=limit))
    elif request.model == "pmedian":
        solution = (greedy_pmedian(problem, p=p, budget=budget, unserved_distance=unserved,
                                   time_limit=limit) if request.heuristic else
                    solve_pmedian(problem, p=p, budget=budget, unserved_distance=unserved,
                                  time_limit=limit))
    else:
        solution = solve_capacitated(problem, instance.radius, p=p, budget=budget,
                                     time_limit=limit)
    progress(0.9, "save")
    served = _assignment(instance, solution, instance.radius) \
        if request.model == "capacitated" else []
    return PlanOutcome(request, instance, solution, budget, unserved, served)


# The longest scenario name the table holds (``plan_scenario.name``).
NAME_LENGTH = 120


def free_scenario_name(session: Session, wanted: str) -> str:
    """``wanted`` if no scenario bears it, else the first free ``wanted (2)``, ``(3)``, … —
    as a file manager names a copy — so that solving again (a job's rerun, the same form
    sent twice) stores a second scenario instead of failing after the work is done."""
    base = wanted.strip()[:NAME_LENGTH]
    name, n = base, 1
    while session.scalar(select(PlanScenario.id).where(PlanScenario.name == name)):
        n += 1
        suffix = f" ({n})"
        name = base[:NAME_LENGTH - len(suffix)] + suffix
    return name


def _scenario_name(session: Session, request: PlanRequest) -> str:
    if request.name and request.name.strip():
        return free_scenario_name(session, request.name)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return free_scenario_name(
        session, f"{request.model} {request.type_code} {request.division_code} {stamp}")


def save_solution(session: Session, outcome: PlanOutcome, user: User | None) -> PlanScenario:
    """Store the outcome as a draft scenario (audited), with its request and figures."""
    from shequ.plan.instance import scenario_from_solution

    request = outcome.request
    record = {**request.to_json(), "summary": {k: v for k, v in outcome.summary().items()
                                               if k != "sites"}}
    scenario = scenario_from_solution(
        session, outcome.instance, outcome.solution, name=_scenario_name(session, request),
        funding_source=request.funding_source,
        parameters=json.dumps(record, ensure_ascii=False, default=str))
    audit(session, user=user, action="create", entity="plan_scenario", entity_id=scenario.id,
          detail={"division_code": request.division_code, "model": request.model,
                  "changes": len(scenario.changes)})
    return scenario


def _require_planner(user: User, division_code: str) -> None:
    if Role(user.role) not in PLANNER_ROLES:
        raise AccessDenied("planning needs a planner or administrator account",
                           code="accounts.role_needed")
    require_in_jurisdiction(user, division_code)


def _require_staff(user: User, division_code: str) -> None:
    if Role(user.role) not in STAFF_ROLES:
        raise AccessDenied("planning scenarios are for staff accounts",
                           code="accounts.role_needed")
    require_in_jurisdiction(user, division_code)


def readable_scenario(session: Session, user: User, scenario_id: int) -> PlanScenario:
    """Scenario ``scenario_id`` when ``user`` (staff, in its jurisdiction) may read it."""
    scenario = get_scenario(session, scenario_id)
    _require_staff(user, scenario.division_code)
    return scenario


def start_solve(ctx: Context, user: User, request: PlanRequest) -> Job:
    """Check the request and the planner's right, then solve it as a job."""
    from shequ.services.jobs.service import submit

    checked = request.check(ctx.catalog)
    _require_planner(user, checked.division_code)
    return submit(ctx, user, kind="plan.solve", division_code=checked.division_code,
                  parameters={"request": checked.to_json(), "user_id": user.id})


def start_evaluate(ctx: Context, user: User, scenario_id: int, *,
                   life_circles: bool = True, period: int | None = None) -> Job:
    """Evaluate a draft scenario as a job (the planner's right checked first)."""
    from shequ.services.jobs.service import submit

    with ctx.sessions() as session:
        scenario = get_scenario(session, scenario_id)
        division_code = scenario.division_code
    _require_planner(user, division_code)
    return submit(ctx, user, kind="plan.evaluate", division_code=division_code,
                  parameters={"scenario_id": scenario_id, "life_circles": life_circles,
                              "period": period, "user_id": user.id})


def _job_user(session: Session, parameters: dict[str, Any]) -> User | None:
    user_id = parameters.get("user_id")
    return session.get(User, user_id) if user_id is not None else None


def solve_job(ctx: Context, parameters: dict[str, Any], progress: ProgressReporter
              ) -> dict[str, Any]:
    """The work of a ``plan.solve`` job: solve, store the scenario, audit."""
    request = PlanRequest.from_json(parameters["request"])
    with ctx.sessions() as session:
        outcome = solve_request(session, ctx.catalog, request,
                                catalog_dir=ctx.settings.catalog_dir, progress=progress)
    progress(0.95, "save")
    with ctx.sessions.begin() as session:
        scenario = save_solution(session, outcome, _job_user(session, parameters))
        summary = outcome.summary()
        summary["scenario_id"] = scenario.id
        summary["scenario_name"] = scenario.name
    return summary


def evaluate_job(ctx: Context, parameters: dict[str, Any], progress: ProgressReporter
                 ) -> dict[str, Any]:
    """The work of a ``plan.evaluate`` job: life circles and indicators before and after."""
    from shequ.plan.scenarios import evaluate_scenario

    scenario_id = int(parameters["scenario_id"])
    progress(0.05, "evaluate")
    report = evaluate_scenario(ctx, scenario_id, life_circles=bool(
        parameters.get("life_circles", True)), period=parameters.get("period"),
        progress=progress)
    with ctx.sessions.begin() as session:
        audit(session, user=_job_user(session, parameters), action="evaluate",
              entity="plan_scenario", entity_id=scenario_id)
    data = report.to_json()
    return {"scenario_id": scenario_id, "period": data["period"],
            "headlines": data["headlines"], "cost": data["cost"],
            "indicator_deltas": [d for d in data["indicator_deltas"]
                                 if d["division_code"] == data["division_code"]]}


def candidate_sites(session: Session, user: User, catalog: Catalog, *, division_code: str,
                    type_code: str, area: str = "rural", candidates: str = "both",
                    catalog_dir: Any = None) -> dict[str, Any]:
    """The sites a plan would choose from (existing, new builds, reuse) as GeoJSON, so that
    a planner can drop some or add points on the map before solving."""
    from shequ.plan.instance import build_instance

    request = PlanRequest(division_code, type_code=type_code, area=area,
                          candidates=candidates, model="lscp").check(catalog)
    _require_staff(user, request.division_code)
    instance = build_instance(session, request.division_code, request.type_code,
                              catalog=catalog, area=request.area,  # type: ignore[arg-type]
                              candidates=request.candidates,  # type: ignore[arg-type]
                              catalog_dir=catalog_dir)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point",
                                         "coordinates": [s.longitude, s.latitude]},
         "properties": {"key": s.key, "kind": s.kind, "name": s.name,
                        "division_code": s.division_code, "cost_cny": s.cost}}
        for s in instance.sites]}


# --------------------------------------------------------------------------- what sites cover

@dataclass(frozen=True)
class SiteCoverage:
    """What a scenario's sites serve and which communities or villages are covered before
    and after it, all by one rule: the rule of the model that chose the sites.

    ``rule`` is ``own_unit`` (the plan's coverage indicators: a site serves the unit it
    stands in; a unit is covered when it holds a facility of every type the scenario
    changes) or ``within`` (a unit is served by the nearest open site — existing or the
    scenario's — within ``radius_m``, straight-line, as the model measured it: the
    p-median's unserved distance; it is covered when one lies that near).  ``served_by``
    maps a unit's code to the id of the scenario's change serving it;
    ``covered_before`` and ``covered_after`` are the codes of the units covered without
    and with the scenario.  The map's dots, its lines, the table of sites and the counts
    all read this one answer, so that they cannot disagree.
    """

    rule: str
    radius_m: float | None
    served_by: dict[str, int]
    covered_before: frozenset[str] = frozenset()
    covered_after: frozenset[str] = frozenset()

    def units_of(self, change_id: int) -> list[str]:
        """The units that change ``change_id`` serves."""
        return [code for code, served in self.served_by.items() if served == change_id]


def _model_radius(catalog: Catalog, scenario: PlanScenario, types: list[str]
                  ) -> float | None:
    """The distance within which the scenario's model counts a unit served, or None for
    a model (or a scenario made by hand) that counts a site's own unit."""
    from shequ.plan.instance import default_radius

    record = json.loads(scenario.parameters) if scenario.parameters else {}
    model = scenario.model or record.get("model")
    area: Any = record.get("area") if record.get("area") in AREAS else "all"
    if len(types) != 1:
        return None
    if model == "pmedian":
        return float((record.get("summary") or {}).get("unserved_distance") or
                     UNSERVED_TIMES_TIER * default_radius(catalog, types[0], area))
    if model == "capacitated" or record.get("objective") == "residents":
        return float(default_radius(catalog, types[0], area))
    return None


def site_coverage(session: Session, catalog: Catalog, scenario: PlanScenario
                  ) -> SiteCoverage:
    """What each site of ``scenario`` serves and which units it leaves covered, by the
    rule of the model that chose it (a scenario made by hand counts like the coverage
    indicators: its own unit).  Units are the scenario division's communities and
    villages that have a point."""
    from scipy.spatial import cKDTree

    from shequ.plan.instance import ACTIVE
    from shequ.registry.codes import code_prefix
    from shequ.registry.geodesy import local_projection
    from shequ.registry.models import Division
    from shequ.registry.queries import division

    root = division(session, scenario.division_code)
    prefix = code_prefix(root.code, root.level)
    opened = [c for c in scenario.changes if c.action in ("new", "reuse")]
    closed = {c.facility_id for c in scenario.changes if c.action == "close"}
    types = sorted({c.type_code for c in scenario.changes})
    units = [u for u in session.scalars(select(Division).where(
        Division.code.startswith(prefix), Division.level == 5,
        Division.valid_to.is_(None)).order_by(Division.code))
        if u.longitude is not None and u.latitude is not None]
    existing = list(session.scalars(select(Facility).where(
        Facility.division_code.startswith(prefix), Facility.type_code.in_(types),
        Facility.status.in_(ACTIVE)))) if types else []
    radius = _model_radius(catalog, scenario, types)
    if radius is None:
        held = {(f.division_code, f.type_code) for f in existing}
        kept = {(f.division_code, f.type_code) for f in existing if f.id not in closed}
        kept |= {(c.division_code, c.type_code) for c in opened}
        codes = [u.code for u in units]
        return SiteCoverage(
            "own_unit", None, {c.division_code: c.id for c in opened},
            frozenset(c for c in codes if all((c, t) in held for t in types)),
            frozenset(c for c in codes if all((c, t) in kept for t in types)))
    if not units:
        return SiteCoverage("within", radius, {})
    points = {u.code: (float(u.longitude or 0), float(u.latitude or 0)) for u in units}
    # the open sites: the registry's active facilities of the type, then the scenario's;
    # -1 marks an existing one, -2 one the scenario closes (open before it only)
    sites: list[tuple[float, float, int]] = []
    for f in existing:
        at = (f.longitude, f.latitude) if f.longitude is not None and \
            f.latitude is not None else points.get(f.division_code)
        if at is not None:
            sites.append((float(at[0]), float(at[1]), -2 if f.id in closed else -1))
    sites.extend((float(c.longitude), float(c.latitude), c.id) for c in opened
                 if c.longitude is not None and c.latitude is not None)
    centre = local_projection(float(np.mean([p[0] for p in points.values()])),
                              float(np.mean([p[1] for p in points.values()])))
    unit_xy = np.column_stack(centre.to_metres([p[0] for p in points.values()],
                                               [p[1] for p in points.values()]))

    def nearest(kept: list[tuple[float, float, int]]) -> list[tuple[float, int]]:
        """Each unit's distance to its nearest site of ``kept`` within the radius (inf
        beyond it) and that site's mark."""
        if not kept:
            return [(float("inf"), 0)] * len(points)
        site_xy = np.column_stack(centre.to_metres([s[0] for s in kept],
                                                   [s[1] for s in kept]))
        distance, index = cKDTree(site_xy).query(unit_xy, k=1, distance_upper_bound=radius)
        return [(d, kept[j][2] if np.isfinite(d) else 0)
                for d, j in zip(distance.tolist(), index.tolist(), strict=True)]

    before = nearest([s for s in sites if s[2] < 0])
    after = nearest([s for s in sites if s[2] != -2])
    served = {code: mark for code, (d, mark) in zip(points, after, strict=True)
              if np.isfinite(d) and mark >= 0}
    return SiteCoverage(
        "within", radius, served,
        frozenset(c for c, (d, _) in zip(points, before, strict=True) if np.isfinite(d)),
        frozenset(c for c, (d, _) in zip(points, after, strict=True) if np.isfinite(d)))


# --------------------------------------------------------------------------- after solving

def adopt(session: Session, user: User | None, scenario_id: int) -> list[Facility]:
    """Adopt a scenario (confirmed by the caller): its new and reused facilities enter the
    registry as planned; audited.  ``user`` None: the command line."""
    scenario = get_scenario(session, scenario_id)
    if user is not None:
        _require_planner(user, scenario.division_code)
    created = adopt_scenario(session, scenario_id)
    audit(session, user=user, action="adopt", entity="plan_scenario", entity_id=scenario_id,
          detail={"planned_facility_ids": [f.id for f in created]})
    return created


def compare(session: Session, user: User | None, scenario_ids: list[int]
            ) -> list[dict[str, Any]]:
    """Two to four scenarios side by side: cost, changes, coverage from their solution,
    and (once evaluated) every indicator at their division."""
    ids = list(dict.fromkeys(scenario_ids))
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise ValidationError([Problem("ids", f"compare 2 to {MAX_COMPARED} scenarios, not "
                                       f"{len(ids)}", code="plan.compare_count",
                                       params={"most": MAX_COMPARED})])
    from shequ.plan.scenarios import cost_summary

    out = []
    for scenario_id in ids:
        scenario = get_scenario(session, scenario_id) if user is None else \
            readable_scenario(session, user, scenario_id)
        record = json.loads(scenario.parameters) if scenario.parameters else {}
        summary = record.get("summary") or {}
        report = json.loads(scenario.evaluation) if scenario.evaluation else None
        indicators = {} if report is None else {
            d["indicator"]: {"before": d["before"], "after": d["after"], "delta": d["delta"],
                             "name_zh": d.get("indicator_name_zh"),
                             "name_en": d.get("indicator_name_en"), "unit": d.get("unit")}
            for d in report["indicator_deltas"]
            if d["division_code"] == scenario.division_code}
        cost = cost_summary(scenario)
        out.append({"id": scenario.id, "name": scenario.name, "status": scenario.status,
                    "division_code": scenario.division_code, "model": scenario.model,
                    "cost_cny": cost["total_cny"], "changes": cost["changes"],
                    "units": summary.get("units"),
                    "units_covered_before": summary.get("units_covered_before"),
                    "units_with_site_after": summary.get("units_with_site_after"),
                    "objective": summary.get("objective"), "evaluated": report is not None,
                    "indicators": indicators})
    if user is not None:
        audit(session, user=user, action="compare", entity="plan_scenario",
              entity_id=",".join(map(str, ids)))
    return out


def export(session: Session, user: User | None, scenario_id: int, fmt: str) -> bytes:
    """The scenario as CSV, XLSX or GeoJSON, audited."""
    from shequ.plan.scenarios import export_scenario

    if fmt not in ("csv", "xlsx", "geojson"):
        raise ValidationError([Problem("format", f"{fmt!r} is not csv, xlsx or geojson",
                                       code="plan.not_one_of",
                                       params={"allowed": "csv, xlsx, geojson"})])
    if user is not None:
        readable_scenario(session, user, scenario_id)
    body = export_scenario(session, scenario_id, fmt)
    audit(session, user=user, action="export", entity="plan_scenario", entity_id=scenario_id,
          detail={"format": fmt})
    return body


def solve_now(ctx: Context, user: User | None, request: PlanRequest, *, save: bool = False,
              progress: ProgressReporter = no_progress) -> dict[str, Any]:
    """Solve in this process (the API's quick answer, the command line): the planner's
    right checked (``user`` None: the command line), the scenario saved when asked."""
    checked = request.check(ctx.catalog)
    if user is not None:
        _require_planner(user, checked.division_code)
    with ctx.sessions() as session:
        outcome = solve_request(session, ctx.catalog, checked,
                                catalog_dir=ctx.settings.catalog_dir, progress=progress)
    summary = outcome.summary()
    summary["scenario_id"] = None
    if save:
        with ctx.sessions.begin() as session:
            scenario = save_solution(session, outcome, user)
            summary["scenario_id"], summary["scenario_name"] = scenario.id, scenario.name
    return summary
