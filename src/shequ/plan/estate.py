"""Standard review of a new estate's plan: floor areas and the facilities its life circles need.

A new estate's plan (households, residents, floor areas, planned facilities, location)
is checked against the standards as data (``catalog/estate_standards.toml``) and the
life-circle tiers (``catalog/life_circles.toml``):

* comprehensive service floor area A_s ≥ a × H / 100 (a = 30 m² per 100 households);
* residents' activity space A_act ≥ s × A_s (s = 60%);
* commercial + service floor area A_c + A_s ≥ c × A_total (c = 10%);
* every facility type each tier of the estate's area requires is planned in the estate
  or already exists within the tier's distance (straight-line distance from the estate's
  point to registry facilities in service or accepted).

The review lists every reason, with the shortfall in m² or the missing types; it never
stops at the first failure.  :func:`review_estate` is the pure core; the registry adapter
:func:`review_estate_in_registry` looks up what exists nearby.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from shequ.catalog import Catalog, catalog_file, read_toml
from shequ.errors import CatalogError, Problem, ValidationError
from shequ.registry.models import FacilityStatus
from shequ.registry.queries import facilities_near

STANDARDS_FILE = "estate_standards.toml"
RULE_CODES = ("service_area_per_100_households", "activity_share", "commercial_service_share")
DEFAULT_SERVICE_TYPES = ("comprehensive_service_facility",)


@dataclass(frozen=True, slots=True)
class EstateRule:
    """One figure of the standard with the document it comes from."""

    code: str
    name_zh: str
    name_en: str
    minimum: float
    unit: str
    source: str

    def name(self, lang: str) -> str:
        """The rule's name in ``lang``."""
        return self.name_zh if lang.startswith("zh") else self.name_en


@dataclass(frozen=True, slots=True)
class EstateStandards:
    """The loaded rules by code and the facility types counted as service floor area."""

    rules: dict[str, EstateRule]
    service_types: tuple[str, ...] = DEFAULT_SERVICE_TYPES
    path: Path | None = None


def load_estate_standards(catalog_dir: Path | None = None) -> EstateStandards:
    """Read ``estate_standards.toml`` (the deployment's copy if it has one)."""
    path = catalog_file(STANDARDS_FILE, catalog_dir)
    data = read_toml(path)
    rules: dict[str, EstateRule] = {}
    for index, entry in enumerate(data.get("rule", []), start=1):
        try:
            rule = EstateRule(str(entry["code"]), str(entry["name_zh"]), str(entry["name_en"]),
                              float(entry["minimum"]), str(entry["unit"]), str(entry["source"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"{path}, rule #{index}: missing or bad key ({exc})") from None
        rules[rule.code] = rule
    missing = [code for code in RULE_CODES if code not in rules]
    if missing:
        raise CatalogError(f"{path}: rules {', '.join(missing)} are missing; every estate "
                           "review needs them (copy them from the packaged file)")
    service = tuple(data.get("service_types", DEFAULT_SERVICE_TYPES))
    return EstateStandards(rules, service, path)


@dataclass(frozen=True, slots=True)
class PlannedFacility:
    """A facility in the estate's plan."""

    type_code: str
    floor_area_m2: float = 0.0
    activity_area_m2: float = 0.0


@dataclass(frozen=True, slots=True)
class EstatePlan:
    """What a developer submits: size, floor areas, facilities and where the estate is."""

    name: str
    households: int
    residents: int
    total_floor_area_m2: float
    commercial_floor_area_m2: float
    longitude: float
    latitude: float
    facilities: tuple[PlannedFacility, ...] = ()
    area: str = "urban"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "estate plan") -> EstatePlan:
        """Parse a plan from JSON/TOML-like data, reporting every bad field at once."""
        problems: list[Problem] = []

        def number(key: str, *, integer: bool = False, required: bool = True) -> float:
            value = data.get(key)
            if value is None:
                if required:
                    problems.append(Problem(source, "is missing", column=key,
                                            code="required"))
                return 0.0
            try:
                parsed = float(value)
            except (TypeError, ValueError):
                problems.append(Problem(source, f"{value!r} is not a number", column=key,
                                        code="not_a_number", params={"value": value}))
                return 0.0
            if not math.isfinite(parsed) or parsed < 0:
                problems.append(Problem(source, f"{value!r} must be ≥ 0", column=key,
                                        code="negative", params={"value": value}))
            if integer and parsed != int(parsed):
                problems.append(Problem(source, f"{value!r} must be a whole number",
                                        column=key, code="plan.not_whole",
                                        params={"value": value}))
            return parsed

        facilities = []
        for row, item in enumerate(data.get("facilities", []) or [], start=1):
            if not isinstance(item, Mapping) or "type_code" not in item:
                problems.append(Problem(source, "needs a type_code", row=row,
                                        column="facilities", code="plan.facility_type_missing"))
                continue
            try:
                floor = float(item.get("floor_area_m2") or 0.0)
                activity = float(item.get("activity_area_m2") or 0.0)
            except (TypeError, ValueError):
                problems.append(Problem(source, "floor areas must be numbers", row=row,
                                        column="facilities", code="plan.areas_not_numbers"))
                continue
            if activity > floor:
                problems.append(Problem(source, f"activity area {activity:g} m² exceeds the "
                                        f"floor area {floor:g} m²", row=row,
                                        column="facilities", code="plan.activity_exceeds_floor",
                                        params={"activity": f"{activity:g}",
                                                "floor": f"{floor:g}"}))
            facilities.append(PlannedFacility(str(item["type_code"]), floor, activity))
        lon, lat = number("longitude"), number("latitude")
        if not -180 <= lon <= 180 or not -90 <= lat <= 90:
            problems.append(Problem(source, "longitude/latitude are outside WGS84 ranges",
                                    column="longitude", code="plan.outside_wgs84"))
        plan = cls(str(data.get("name") or "estate"), int(number("households", integer=True)),
                   int(number("residents", integer=True)), number("total_floor_area_m2"),
                   number("commercial_floor_area_m2", required=False), lon, lat,
                   tuple(facilities), str(data.get("area") or "urban"))
        if plan.area not in ("urban", "rural"):
            problems.append(Problem(source, f"area {plan.area!r} is not urban or rural",
                                    column="area", code="not_a_choice",
                                    params={"value": plan.area}))
        if problems:
            raise ValidationError(problems, summary="the estate plan is incomplete")
        return plan


@dataclass(frozen=True, slots=True)
class Finding:
    """One check: passed or not, required and actual figures, shortfall, its source."""

    check: str
    passed: bool
    required: float
    actual: float
    shortfall: float
    unit: str
    message: str
    source: str
    tier: str | None = None
    missing_types: tuple[str, ...] = ()
    # The figures of ``message``, for saying it in the reader's language.
    params: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class EstateReview:
    """The verdict and every finding (failures first)."""

    estate: str
    passed: bool
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def failures(self) -> tuple[Finding, ...]:
        """The findings that failed."""
        return tuple(f for f in self.findings if not f.passed)


def review_estate(plan: EstatePlan, *, standards: EstateStandards, catalog: Catalog,
                  nearest_existing_m: Mapping[str, float]) -> EstateReview:
    """Check ``plan`` against the standards; ``nearest_existing_m`` maps type → distance.

    Formulas: required service area = a·H/100; required activity area = s·A_s; required
    commercial + service area = c·A_total; shortfall = max(0, required − actual).
    """
    rules = standards.rules
    service = [f for f in plan.facilities if f.type_code in standards.service_types]
    service_area = sum(f.floor_area_m2 for f in service)
    activity_area = sum(f.activity_area_m2 for f in service)
    findings: list[Finding] = []

    rule = rules["service_area_per_100_households"]
    need = rule.minimum * plan.households / 100.0
    findings.append(_area_finding(
        rule, need, service_area,
        f"comprehensive service floor area {service_area:,.0f} m² for {plan.households:,} "
        f"households; the standard asks {rule.minimum:g} m² per 100 households = "
        f"{need:,.0f} m²", {"area": service_area, "households": plan.households,
                            "minimum": rule.minimum, "need": need}))
    rule = rules["activity_share"]
    need = rule.minimum * service_area
    findings.append(_area_finding(
        rule, need, activity_area,
        f"residents' activity space {activity_area:,.0f} m² of {service_area:,.0f} m² "
        f"({_percent(activity_area, service_area)}); the standard asks ≥ {rule.minimum:.0%}",
        {"area": activity_area, "of": service_area, "minimum": rule.minimum,
         **({"share": activity_area / service_area} if service_area > 0 else {})}))
    rule = rules["commercial_service_share"]
    need = rule.minimum * plan.total_floor_area_m2
    actual = plan.commercial_floor_area_m2 + service_area
    findings.append(_area_finding(
        rule, need, actual,
        f"commercial + service floor area {actual:,.0f} m² of {plan.total_floor_area_m2:,.0f}"
        f" m² total ({_percent(actual, plan.total_floor_area_m2)}); the standard asks ≥ "
        f"{rule.minimum:.0%}", {"area": actual, "of": plan.total_floor_area_m2,
                               "minimum": rule.minimum,
                               **({"share": actual / plan.total_floor_area_m2}
                                  if plan.total_floor_area_m2 > 0 else {})}))

    planned = {f.type_code for f in plan.facilities}
    for tier in catalog.tiers.values():
        if tier.area != plan.area:
            continue
        missing = tuple(code for code in tier.required if code not in planned
                        and nearest_existing_m.get(code, math.inf) > tier.distance_m)
        present = len(tier.required) - len(missing)
        text = (f"{tier.name_en}: {present} of {len(tier.required)} required types planned or "
                f"within {tier.distance_m:g} m")
        if missing:
            text += "; missing " + ", ".join(missing)
        findings.append(Finding(f"tier:{tier.code}", not missing, float(len(tier.required)),
                                float(present), float(len(missing)), "types", text,
                                tier.source, tier.code, missing,
                                {"present": present, "required": len(tier.required),
                                 "distance": tier.distance_m}))
    findings.sort(key=lambda f: f.passed)
    notes = ("distances to existing facilities are straight-line (a lower bound on walking "
             "distance)",)
    return EstateReview(plan.name, all(f.passed for f in findings), tuple(findings), notes)


def _percent(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole > 0 else "n/a"


def _area_finding(rule: EstateRule, need: float, actual: float, message: str,
                  params: dict[str, float]) -> Finding:
    shortfall = max(0.0, need - actual)
    if shortfall > 0:
        message += f"; short by {shortfall:,.1f} m²"
    return Finding(rule.code, shortfall <= 1e-9, need, actual, shortfall, "m2", message,
                   rule.source, params=params)


def nearest_existing(session: Session, plan: EstatePlan, catalog: Catalog,
                     *, types: Sequence[str] | None = None) -> dict[str, float]:
    """Straight-line distance to the nearest in-service or accepted facility of each type."""
    tiers = [t for t in catalog.tiers.values() if t.area == plan.area]
    wanted: dict[str, float] = {}
    for tier in tiers:
        for code in tier.required:
            wanted[code] = max(wanted.get(code, 0.0), tier.distance_m)
    if types is not None:
        wanted = {k: v for k, v in wanted.items() if k in types}
    found: dict[str, float] = {}
    for code, radius in wanted.items():
        near = facilities_near(session, plan.longitude, plan.latitude, radius,
                               type_codes=[code], limit=1,
                               statuses=[FacilityStatus.IN_SERVICE.value,
                                         FacilityStatus.ACCEPTED.value])
        if near:
            found[code] = near[0].distance_m
    return found


def review_estate_in_registry(session: Session, plan: EstatePlan, *, catalog: Catalog,
                              catalog_dir: Path | None = None) -> EstateReview:
    """Review ``plan`` with what the registry holds near it."""
    unknown = sorted({f.type_code for f in plan.facilities} - set(catalog.facility_types))
    if unknown:
        raise ValidationError([Problem("facilities", f"unknown facility type {code!r}",
                                       column="type_code",
                                       hint="use a code from the facility type catalog",
                                       code="plan.unknown_type", params={"value": code})
                               for code in unknown])
    return review_estate(plan, standards=load_estate_standards(catalog_dir), catalog=catalog,
                         nearest_existing_m=nearest_existing(session, plan, catalog))
