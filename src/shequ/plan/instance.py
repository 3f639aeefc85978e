"""The registry adapter: a division's gaps as a siting problem, and a solution as a scenario.

Demand points are the communities or villages of a division (level 5, in force on
``as_of``) of the chosen area.  Existing sites are the in-service or accepted facilities
of the type; candidate sites are, for every unit without one, a new build at the unit's
representative point and, where the unit has a facility that can lend space (a room in
the village clinic or cultural station, ``reuse_hosts`` in ``plan_costs.toml``), the
reuse of that space at a lower cost ("space for services").

Three objectives:

* ``units``: weight 1 per unit, and a unit is covered only by a facility in the unit
  itself — the plan's coverage indicators (e.g. N2, rural villages with a comprehensive
  service facility) count exactly that;
* ``residents``: weight = residents, covered by a site within the tier's distance
  (straight-line distance between representative points; the life-circle evaluation of
  the scenario then measures it on the street network);
* ``places``: weight = places needed (the type's demand group, e.g. residents aged 60+,
  times ``demand_rate`` of ``plan_costs.toml``), covered within the tier's distance by a
  site with room: every site carries its capacity (an existing facility's from the
  registry, a new or reused one the catalog's ``capacity``) for the capacitated model.

Candidates may be narrowed to new builds or reuse only, single candidates dropped by
their site id, and points added (each a new build in the unit nearest to it).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequ.catalog import Catalog, catalog_file, read_toml
from shequ.errors import CatalogError, NotFoundError, Problem, ValidationError
from shequ.plan.models import ChangeAction, PlanScenario, PlanScenarioChange
from shequ.plan.problem import SitingProblem, SitingSolution
from shequ.registry.codes import code_prefix
from shequ.registry.geodesy import LocalProjection, local_projection
from shequ.registry.models import Division, Facility, FacilityStatus, Population
from shequ.registry.queries import division, today, valid_on

COSTS_FILE = "plan_costs.toml"
ACTIVE = (FacilityStatus.IN_SERVICE.value, FacilityStatus.ACCEPTED.value)
Area = Literal["rural", "urban", "all"]
Objective = Literal["units", "residents", "places"]
Candidates = Literal["both", "new", "reuse"]


@dataclass(frozen=True, slots=True)
class CostNorm:
    """Unit costs for one facility type (see ``catalog/plan_costs.toml``)."""

    type_code: str
    floor_area_m2: float
    new_build_cny_per_m2: float
    reuse_cny_per_m2: float
    reuse_hosts: tuple[str, ...]
    activity_share: float
    source: str
    capacity: float = 0.0
    demand_group: str = "residents"
    demand_rate: float = 1.0

    @property
    def new_cost(self) -> float:
        """Cost of one new facility of the standard size."""
        return self.floor_area_m2 * self.new_build_cny_per_m2

    @property
    def reuse_cost(self) -> float:
        """Cost of fitting the standard size into existing public space."""
        return self.floor_area_m2 * self.reuse_cny_per_m2


def load_cost_norm(type_code: str, catalog_dir: Path | None = None) -> CostNorm:
    """The cost norm of ``type_code`` (defaults when the type has no entry of its own)."""
    path = catalog_file(COSTS_FILE, catalog_dir)
    data = read_toml(path)
    defaults = data.get("defaults", {})
    try:
        new_rate = float(defaults["new_build_cny_per_m2"])
        reuse_rate = float(defaults["reuse_cny_per_m2"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{path}: [defaults] needs new_build_cny_per_m2 and "
                           f"reuse_cny_per_m2 ({exc})") from None
    entry: dict[str, Any] = next(
        (e for e in data.get("type", []) if e.get("code") == type_code), {})
    return CostNorm(
        type_code, float(entry.get("floor_area_m2", 300.0)),
        float(entry.get("new_build_cny_per_m2", new_rate)),
        float(entry.get("reuse_cny_per_m2", reuse_rate)),
        tuple(entry.get("reuse_hosts", ())), float(entry.get("activity_share", 0.6)),
        str(entry.get("source", defaults.get("source", ""))),
        float(entry.get("capacity", 0.0)), str(entry.get("demand_group", "residents")),
        float(entry.get("demand_rate", 1.0)))


@dataclass(frozen=True, slots=True)
class Site:
    """A site of the instance: existing facility, new build or reused space."""

    kind: Literal["existing", "new", "reuse"]
    division_code: str
    name: str
    longitude: float
    latitude: float
    cost: float
    facility_id: int | None = None
    capacity: float = 0.0
    placed: bool = False  # a point added by hand on the map

    @property
    def key(self) -> str:
        """The site's id in the problem (and for dropping it from the candidates)."""
        if self.placed:
            return f"{self.kind}:{self.division_code}:@{self.longitude:.6f},{self.latitude:.6f}"
        return f"{self.kind}:{self.division_code}:{self.facility_id or ''}"


@dataclass(frozen=True)
class RegistryInstance:
    """A siting problem built from the registry, with the units and sites it indexes."""

    problem: SitingProblem
    radius: float
    type_code: str
    division_code: str
    division_name: str
    objective: Objective
    area: Area
    units: tuple[str, ...]
    unit_names: tuple[str, ...]
    unit_points: tuple[tuple[float, float], ...]
    residents: tuple[int, ...]
    sites: tuple[Site, ...]
    norm: CostNorm

    @property
    def covered_units_now(self) -> int:
        """Units that already hold an existing facility of the type."""
        return len({s.division_code for s in self.sites if s.kind == "existing"})


def _is_in_area(urban_rural: str | None, kind: str, area: Area) -> bool:
    if area == "all":
        return True
    if urban_rural:
        return urban_rural.startswith("2" if area == "rural" else "1")
    rural_kind = kind == "villagers_committee"
    return rural_kind if area == "rural" else not rural_kind


def _local_xy(lon: np.ndarray, lat: np.ndarray, centre: LocalProjection) -> np.ndarray:
    """Metres around the instance's centre (azimuthal equidistant: good to 0.1 % within
    50 km, so inside any county)."""
    return np.column_stack(centre.to_metres(lon, lat))


def default_radius(catalog: Catalog, type_code: str, area: Area) -> float:
    """The walking distance of the tier that requires ``type_code`` in ``area``."""
    ftype = catalog.facility_type(type_code)
    wanted = "rural" if area == "rural" else "urban"
    for tier in catalog.tiers.values():
        if tier.area == wanted and type_code in tier.required:
            return tier.distance_m
    return catalog.tiers[ftype.tier].distance_m if ftype.tier in catalog.tiers else 1000.0


def build_instance(  # noqa: PLR0912, PLR0915 (one pass from registry rows to the problem)
        session: Session, division_code: str, type_code: str, *,
                   catalog: Catalog, objective: Objective = "units", area: Area = "rural",
                   radius: float | None = None, as_of: dt.date | None = None,
                   catalog_dir: Path | None = None, candidates: Candidates = "both",
                   drop: frozenset[str] = frozenset(),
                   extra: tuple[tuple[float, float], ...] = ()) -> RegistryInstance:
    """Turn the gaps of ``division_code`` for ``type_code`` into a siting problem."""
    when = as_of or today()
    root = division(session, division_code, as_of=when)
    catalog.facility_type(type_code)
    norm = load_cost_norm(type_code, catalog_dir)
    prefix = code_prefix(root.code, root.level)
    units = [d for d in session.scalars(
        select(Division).where(valid_on(when), Division.level == 5,
                               Division.code.startswith(prefix)).order_by(Division.code))
        if _is_in_area(d.urban_rural, d.kind, area)]
    if not units:
        raise NotFoundError(f"no {area} community or village under {root.code} ({root.name}) "
                            f"in force on {when.isoformat()}")
    no_point = [u.code for u in units if u.longitude is None or u.latitude is None]
    if no_point:
        raise ValidationError([Problem(
            "division", f"{len(no_point)} unit(s) have no representative point, e.g. "
            f"{', '.join(no_point[:5])}", hint="load coordinates for them first")])
    latest = (select(Population.division_code, func.max(Population.period).label("p"))
              .where(Population.division_code.startswith(prefix))
              .group_by(Population.division_code).subquery())
    group = norm.demand_group if objective == "places" else "residents"
    if group not in Population.__table__.c:
        raise CatalogError(f"{COSTS_FILE}: demand_group {group!r} of {type_code} is not a "
                           "population column")
    people: dict[str, int] = {row[0]: row[1] for row in session.execute(
        select(Population.division_code, getattr(Population, group)).join(
            latest, (Population.division_code == latest.c.division_code)
            & (Population.period == latest.c.p)))}
    facilities = session.scalars(
        select(Facility).where(Facility.division_code.startswith(prefix),
                               Facility.status.in_(ACTIVE)).order_by(Facility.id)).all()
    index = {u.code: i for i, u in enumerate(units)}
    sites: list[Site] = []
    have = set()
    for f in facilities:
        if f.type_code == type_code and f.division_code in index:
            unit = units[index[f.division_code]]
            lon = f.longitude if f.longitude is not None else unit.longitude
            lat = f.latitude if f.latitude is not None else unit.latitude
            assert lon is not None and lat is not None  # units without points were rejected
            sites.append(Site("existing", f.division_code, f.name, lon, lat, 0.0, f.id,
                              float(f.capacity if f.capacity is not None else norm.capacity)))
            have.add(f.division_code)
    hosts: dict[str, Facility] = {}
    for f in facilities:
        if (f.type_code in norm.reuse_hosts and f.division_code in index
                and f.division_code not in have and f.division_code not in hosts
                and f.longitude is not None and f.latitude is not None):
            hosts[f.division_code] = f
    ftype = catalog.facility_type(type_code)
    for u in units:
        if u.code in have:
            continue
        assert u.longitude is not None and u.latitude is not None
        if candidates != "reuse":
            sites.append(Site("new", u.code, f"{u.name}{ftype.name_zh}（新建）", u.longitude,
                              u.latitude, norm.new_cost, capacity=norm.capacity))
        host = hosts.get(u.code)
        if host is not None and candidates != "new":
            assert host.longitude is not None and host.latitude is not None
            sites.append(Site("reuse", u.code, f"{u.name}{ftype.name_zh}（利用{host.name}）",
                              host.longitude, host.latitude, norm.reuse_cost, host.id,
                              norm.capacity))
    if extra:
        tree = cKDTree(np.array([(u.longitude, u.latitude) for u in units], np.float64))
        for lon, lat in extra:
            unit = units[int(tree.query((lon, lat))[1])]
            sites.append(Site("new", unit.code, f"{unit.name}{ftype.name_zh}（新选址）",
                              float(lon), float(lat), norm.new_cost, capacity=norm.capacity,
                              placed=True))
    sites = [s for s in sites if s.kind == "existing" or s.key not in drop]
    reach = radius if radius is not None else default_radius(catalog, type_code, area)
    site_division = np.array([index[s.division_code] for s in sites], np.int64)
    if objective == "units":
        demand_idx, site_idx = site_division, np.arange(len(sites))
        dist = np.zeros(len(sites))
        weights = np.ones(len(units))
        reach = 0.0
    else:
        centre = local_projection(float(np.mean([u.longitude for u in units])),
                                  float(np.mean([u.latitude for u in units])))
        unit_xy = _local_xy(np.array([u.longitude for u in units]),
                            np.array([u.latitude for u in units]), centre)
        site_xy = _local_xy(np.array([s.longitude for s in sites]),
                            np.array([s.latitude for s in sites]), centre)
        pairs = cKDTree(unit_xy).query_ball_point(site_xy, r=reach) if sites else []
        demand_idx = np.array([i for lst in pairs for i in lst], np.int64)
        site_idx = np.array([j for j, lst in enumerate(pairs) for _ in lst], np.int64)
        dist = np.hypot(*(unit_xy[demand_idx] - site_xy[site_idx]).T) if demand_idx.size \
            else np.zeros(0)
        weights = np.array([people.get(u.code, 0) for u in units], np.float64)
        if objective == "places":
            weights = np.ceil(weights * norm.demand_rate - 1e-9)
    problem = SitingProblem.from_table(
        demand_idx, site_idx, dist, weights=weights,
        site_cost=[s.cost for s in sites], existing=[s.kind == "existing" for s in sites],
        capacity=[s.capacity for s in sites] if objective == "places" else None,
        n_demand=len(units), n_sites=len(sites), demand_ids=tuple(u.code for u in units),
        site_ids=tuple(s.key for s in sites),
        site_kind=tuple(s.kind for s in sites))
    return RegistryInstance(
        problem, reach, type_code, root.code, root.name, objective, area,
        tuple(u.code for u in units), tuple(u.name for u in units),
        tuple((float(u.longitude or 0), float(u.latitude or 0)) for u in units),
        tuple(int(people.get(u.code, 0)) for u in units), tuple(sites), norm)


def target_budget(instance: RegistryInstance, target_share: float) -> float:
    """Money to reach ``target_share`` of units covered if every missing one is built new.

    budget = max(0, ⌈target × units⌉ − units covered now) × cost of one new facility.
    """
    if not 0 < target_share <= 1:
        raise ValidationError([Problem("target", f"{target_share} is not a share in (0, 1]",
                                       hint="e.g. 0.8 for the national 80% target")])
    need = math.ceil(target_share * len(instance.units) - 1e-9) - instance.covered_units_now
    return max(0, need) * instance.norm.new_cost


def scenario_from_solution(session: Session, instance: RegistryInstance,
                           solution: SitingSolution, *, name: str,
                           funding_source: str | None = "special_bonds",
                           description: str | None = None,
                           parameters: str | None = None) -> PlanScenario:
    """Store the solution's new and reused sites as a draft scenario."""
    if session.scalar(select(PlanScenario.id).where(PlanScenario.name == name)) is not None:
        from shequ.errors import ConflictError

        raise ConflictError(f"a scenario named {name!r} exists already; choose another name")
    scenario = PlanScenario(name=name, division_code=instance.division_code,
                            description=description, model=solution.model,
                            parameters=parameters, status="draft")
    norm = instance.norm
    for j in solution.open_sites.tolist():
        site = instance.sites[j]
        if site.kind == "existing":
            continue
        scenario.changes.append(PlanScenarioChange(
            action=ChangeAction.NEW.value if site.kind == "new" else ChangeAction.REUSE.value,
            facility_id=site.facility_id, type_code=instance.type_code,
            division_code=site.division_code, name=site.name, longitude=site.longitude,
            latitude=site.latitude, floor_area_m2=norm.floor_area_m2,
            activity_area_m2=round(norm.floor_area_m2 * norm.activity_share, 1),
            capacity=int(site.capacity) if site.capacity else None,
            cost_cny=site.cost, funding_source=funding_source,
            space_for_services=site.kind == "reuse"))
    session.add(scenario)
    session.flush()
    return scenario
