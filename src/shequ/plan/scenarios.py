"""Scenarios: store, evaluate (life circles and indicators before/after), compare, export, adopt.

Evaluation never touches the registry: it loads the registry as the indicator engine's
tables (:func:`shequ.indicators.store.load_measure_tables`), applies the scenario's
changes to a *copy* of the facility table (new and reused facilities counted as in
service, closures as closed, enlargements added to floor area and capacity), re-runs
the life-circle evaluator on the street network when the registry has one
(:func:`shequ.access.lifecircle.evaluate_life_circles`, its ``community_access`` rows
replacing the stored ones for the division's communities), and computes every indicator
of the catalog before and after (:func:`shequ.indicators.engine.compute_indicators`).
The report holds the deltas at every level from the nation down to each village.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.context import Context
from shequ.errors import ConflictError, NotFoundError, Problem, ValidationError
from shequ.plan.models import ChangeAction, PlanScenario, PlanScenarioChange, ScenarioStatus
from shequ.registry.codes import LEVEL_DIGITS, code_prefix
from shequ.registry.models import Division, Facility, FacilityStatus, FundingSource
from shequ.registry.queries import division, today

FACILITY_FRAME = {
    "id": pl.Int64(), "division_code": pl.String(), "type_code": pl.String(),
    "status": pl.String(), "floor_area_m2": pl.Float64(), "activity_area_m2": pl.Float64(),
    "capacity": pl.Float64(), "opened_on": pl.Date(), "closed_on": pl.Date(),
    "longitude": pl.Float64(), "latitude": pl.Float64(), "name": pl.String(),
}
LEVEL_NAMES = {0: "nation", 1: "province", 2: "prefecture", 3: "county", 4: "township",
               5: "village"}


# --------------------------------------------------------------------------- storage

@dataclass(frozen=True, slots=True)
class ChangeInput:
    """One change as a caller gives it (CLI, HTTP, a solved model)."""

    action: str
    type_code: str
    division_code: str
    name: str
    longitude: float | None = None
    latitude: float | None = None
    facility_id: int | None = None
    floor_area_m2: float | None = None
    activity_area_m2: float | None = None
    capacity: int | None = None
    cost_cny: float = 0.0
    funding_source: str | None = None
    space_for_services: bool = False


def create_scenario(session: Session, *, name: str, division_code: str,
                    changes: Sequence[ChangeInput], description: str | None = None,
                    catalog_types: Sequence[str] = ()) -> PlanScenario:
    """Store a scenario after checking every change; all problems are reported at once."""
    problems: list[Problem] = []
    if not name.strip():
        problems.append(Problem("name", "is empty", hint="give the scenario a name"))
    if session.scalar(select(PlanScenario.id).where(PlanScenario.name == name)) is not None:
        raise ConflictError(f"a scenario named {name!r} exists already; choose another name")
    root = division(session, division_code)
    prefix = code_prefix(root.code, root.level)
    actions = {a.value for a in ChangeAction}
    funding = {f.value for f in FundingSource}
    for row, change in enumerate(changes, start=1):
        where = "changes"
        if change.action not in actions:
            problems.append(Problem(where, f"action {change.action!r} is not one of "
                                    f"{', '.join(sorted(actions))}", row=row, column="action"))
        if catalog_types and change.type_code not in catalog_types:
            problems.append(Problem(where, f"unknown facility type {change.type_code!r}",
                                    row=row, column="type_code"))
        if not change.division_code.startswith(prefix):
            problems.append(Problem(where, f"division {change.division_code} is outside "
                                    f"{root.code} ({root.name})", row=row,
                                    column="division_code"))
        if change.cost_cny < 0:
            problems.append(Problem(where, "cost is negative", row=row, column="cost_cny"))
        if change.funding_source and change.funding_source not in funding:
            problems.append(Problem(where, f"funding source {change.funding_source!r} is not "
                                    f"one of {', '.join(sorted(funding))}", row=row,
                                    column="funding_source"))
        if change.action in ("close", "enlarge"):
            existing = session.get(Facility, change.facility_id) if change.facility_id else None
            if existing is None:
                problems.append(Problem(where, f"{change.action} needs the id of an existing "
                                        "facility", row=row, column="facility_id"))
    if problems:
        raise ValidationError(problems, summary=f"scenario {name!r} was not stored")
    scenario = PlanScenario(name=name, division_code=root.code, description=description,
                            status=ScenarioStatus.DRAFT.value)
    for change in changes:
        scenario.changes.append(PlanScenarioChange(
            action=change.action, facility_id=change.facility_id, type_code=change.type_code,
            division_code=change.division_code, name=change.name, longitude=change.longitude,
            latitude=change.latitude, floor_area_m2=change.floor_area_m2,
            activity_area_m2=change.activity_area_m2, capacity=change.capacity,
            cost_cny=change.cost_cny, funding_source=change.funding_source,
            space_for_services=change.space_for_services))
    session.add(scenario)
    session.flush()
    return scenario


def get_scenario(session: Session, scenario_id: int) -> PlanScenario:
    """The scenario with ``scenario_id``."""
    found = session.get(PlanScenario, scenario_id)
    if found is None:
        raise NotFoundError(f"no scenario with id {scenario_id}; `shequ plan list` shows them",
                            code="plan.no_scenario", params={"id": scenario_id})
    return found


def list_scenarios(session: Session, *, prefix: str = "") -> list[PlanScenario]:
    """Scenarios (under a division-code prefix), newest first."""
    query = select(PlanScenario).order_by(PlanScenario.id.desc())
    if prefix:
        query = query.where(PlanScenario.division_code.startswith(prefix))
    return list(session.scalars(query))


def delete_scenario(session: Session, scenario_id: int) -> None:
    """Delete a draft scenario (an adopted one stays as the record of the decision)."""
    scenario = get_scenario(session, scenario_id)
    if scenario.status == ScenarioStatus.ADOPTED.value:
        raise ConflictError(f"scenario {scenario.name!r} was adopted; it cannot be deleted",
                            code="plan.adopted_kept", params={"name": scenario.name})
    session.delete(scenario)


def cost_summary(scenario: PlanScenario) -> dict[str, Any]:
    """Total cost, by funding source and by action; counts by action."""
    by_source: dict[str, float] = {}
    by_action: dict[str, float] = {}
    counts: dict[str, int] = {}
    for change in scenario.changes:
        source = change.funding_source or "unspecified"
        by_source[source] = by_source.get(source, 0.0) + change.cost_cny
        by_action[change.action] = by_action.get(change.action, 0.0) + change.cost_cny
        counts[change.action] = counts.get(change.action, 0) + 1
    return {"total_cny": sum(by_source.values()), "by_funding_source": by_source,
            "by_action": by_action, "changes": counts}


# --------------------------------------------------------------------------- evaluation

def registry_facilities(session: Session, *, prefix: str = "") -> pl.DataFrame:
    """Every facility with id, place and the indicator engine's columns."""
    query = select(*(getattr(Facility, name) for name in FACILITY_FRAME))
    if prefix:
        query = query.where(Facility.division_code.startswith(prefix))
    rows = session.execute(query.order_by(Facility.id)).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=FACILITY_FRAME, orient="row")


def apply_changes(facilities: pl.DataFrame, changes: Sequence[PlanScenarioChange], *,
                  period: int) -> pl.DataFrame:
    """A copy of ``facilities`` with the scenario applied (the registry is untouched).

    New and reused facilities are in service (id = −change id); a closure closes the
    facility on 1 January of ``period``; an enlargement adds floor area, activity area
    and capacity.
    """
    frame = facilities.clone()
    added: list[dict[str, Any]] = []
    for change in changes:
        if change.action in (ChangeAction.NEW.value, ChangeAction.REUSE.value):
            added.append({
                "id": -change.id, "division_code": change.division_code,
                "type_code": change.type_code, "status": FacilityStatus.IN_SERVICE.value,
                "floor_area_m2": change.floor_area_m2,
                "activity_area_m2": change.activity_area_m2,
                "capacity": None if change.capacity is None else float(change.capacity),
                "opened_on": None, "closed_on": None, "longitude": change.longitude,
                "latitude": change.latitude, "name": change.name})
        elif change.action == ChangeAction.CLOSE.value:
            hit = pl.col("id") == change.facility_id
            frame = frame.with_columns(
                pl.when(hit).then(pl.lit(FacilityStatus.CLOSED.value))
                .otherwise(pl.col("status")).alias("status"),
                pl.when(hit).then(pl.lit(dt.date(period, 1, 1)))
                .otherwise(pl.col("closed_on")).alias("closed_on"))
        elif change.action == ChangeAction.ENLARGE.value:
            hit = pl.col("id") == change.facility_id
            updates = []
            for column, value in (("floor_area_m2", change.floor_area_m2),
                                  ("activity_area_m2", change.activity_area_m2),
                                  ("capacity", change.capacity)):
                if value:
                    updates.append(pl.when(hit).then(pl.col(column).fill_null(0.0)
                                                     + float(value))
                                   .otherwise(pl.col(column)).alias(column))
            if updates:
                frame = frame.with_columns(updates)
    if added:
        frame = pl.concat([frame, pl.DataFrame(added, schema=FACILITY_FRAME)])
    return frame


@dataclass
class ScenarioReport:
    """What a scenario does: cost, indicator deltas at every level, life-circle deltas."""

    scenario_id: int
    name: str
    division_code: str
    division_name: str
    period: int
    as_of: dt.date
    cost: dict[str, Any]
    indicator_deltas: pl.DataFrame
    life_circle_deltas: pl.DataFrame | None
    headlines: list[str]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored with the scenario, served by the API)."""
        return {
            "scenario_id": self.scenario_id, "name": self.name,
            "division_code": self.division_code, "division_name": self.division_name,
            "period": self.period, "as_of": self.as_of.isoformat(), "cost": self.cost,
            "headlines": self.headlines, "notes": self.notes,
            "indicator_deltas": self.indicator_deltas.to_dicts(),
            "life_circle_deltas": (None if self.life_circle_deltas is None
                                   else self.life_circle_deltas.to_dicts()),
        }


def _ancestor_codes(code: str, level: int) -> list[str]:
    return [code[:LEVEL_DIGITS[lv]].ljust(12, "0") for lv in range(1, level)]


def _life_circles(ctx: Context, session: Session, *, prefix: str, as_of: dt.date,
                  before: pl.DataFrame, after: pl.DataFrame
                  ) -> tuple[Any, Any] | None:
    """Life circles before and after on the registry's street network (None without one)."""
    from shequ.access.lifecircle import evaluate_life_circles
    from shequ.access.store import load_region, region_network

    try:
        network = region_network(session)
    except (NotFoundError, OSError, ValueError):
        return None
    region = load_region(session, as_of=as_of, prefix=prefix)
    if region.communities.height == 0:
        return None

    def frame(facilities: pl.DataFrame) -> pl.DataFrame:
        return (facilities.filter((pl.col("status") == FacilityStatus.IN_SERVICE.value)
                                  & pl.col("longitude").is_not_null()
                                  & pl.col("latitude").is_not_null()
                                  & pl.col("division_code").str.starts_with(prefix))
                .select("id", "type_code", "longitude", "latitude"))

    results = []
    for facilities in (before, after):
        results.append(evaluate_life_circles(network, communities=region.communities,
                                             facilities=frame(facilities),
                                             catalog=ctx.catalog))
    return results[0], results[1]


def _with_access(tables: Any, access: pl.DataFrame) -> Any:
    """The tables with ``community_access`` rows of the evaluated communities replaced
    (every year's: the fresh rows, undated, then speak for the scenario's year)."""
    from shequ.indicators.engine import ACCESS_SCHEMA

    fresh = access.with_columns(pl.lit(None).alias("period")).select(
        list(ACCESS_SCHEMA)).cast(ACCESS_SCHEMA)  # type: ignore[arg-type]
    codes = fresh["division_code"].unique()
    kept = tables.access.filter(~pl.col("division_code").is_in(codes.implode()))
    return replace(tables, access=pl.concat([kept, fresh]))


def evaluate_scenario(  # noqa: PLR0915 (before/after pipeline, read top to bottom)
        ctx: Context, scenario_id: int, *, as_of: dt.date | None = None,
                      period: int | None = None, life_circles: bool = True,
                      indicators: Sequence[str] | None = None, store: bool = True,
                      progress: Callable[[float, str | None], None] | None = None
                      ) -> ScenarioReport:
    """Indicators (and life circles) before and after the scenario, at every level.

    ``progress(fraction, step)`` is told each step (a job's progress reporter)."""
    def report_progress(fraction: float, step: str) -> None:
        if progress is not None:
            progress(fraction, step)

    from shequ.indicators.definitions import load_indicator_catalog
    from shequ.indicators.engine import compute_indicators
    from shequ.indicators.store import load_measure_tables, stored_periods

    when = as_of or today()
    catalog = load_indicator_catalog(ctx.settings.catalog_dir)
    notes: list[str] = []
    with ctx.sessions() as session:
        scenario = get_scenario(session, scenario_id)
        root = division(session, scenario.division_code, as_of=when)
        prefix = code_prefix(root.code, root.level)
        years = stored_periods(session)
        if period is None:
            if not years:
                raise ValidationError([Problem(
                    "population", "no population figures are stored",
                    hint="load the registry (e.g. `shequ demo`) before evaluating",
                    code="plan.no_population")])
            period = years[-1]
        tables = load_measure_tables(session, as_of=when, period=period)
        facilities = registry_facilities(session)
        after_facilities = apply_changes(facilities, scenario.changes, period=period)
        report_progress(0.1, "life_circles")
        circles = _life_circles(ctx, session, prefix=prefix, as_of=when, before=facilities,
                                after=after_facilities) if life_circles else None
        cost = cost_summary(scenario)
        names: dict[str, str] = {row[0]: row[1] for row in session.execute(
            select(Division.code, Division.name).where(
                Division.code.startswith(prefix) | Division.code.in_(
                    _ancestor_codes(root.code, root.level))))}
    before_tables = replace(tables, facilities=facilities)
    after_tables = replace(tables, facilities=after_facilities)
    life_deltas = None
    if circles is not None:
        before_tables = _with_access(before_tables, circles[0].community_access)
        after_tables = _with_access(after_tables, circles[1].community_access)
        key = ["division_code", "level", "tier"]
        b = circles[0].divisions.select(*key, "residents", "residents_covered_share",
                                        "communities", "communities_complete")
        a = circles[1].divisions.select(*key, pl.col("residents_covered_share")
                                        .alias("share_after"),
                                        pl.col("communities_complete").alias("complete_after"))
        life_deltas = (b.join(a, on=key, how="inner")
                       .filter(pl.col("division_code").str.starts_with(prefix)
                               | (pl.col("level") < root.level))
                       .rename({"residents_covered_share": "share_before",
                                "communities_complete": "complete_before"})
                       .with_columns((pl.col("share_after") - pl.col("share_before"))
                                     .alias("share_delta"))
                       .sort("level", "division_code", "tier"))
    else:
        notes.append("life circles were not re-run (no street network recorded in the "
                     "registry); accessibility indicators use the stored community_access")
    chosen = list(indicators) if indicators else None
    report_progress(0.5, "indicators")
    before = compute_indicators(before_tables, catalog, as_of=when, periods=[period],
                                indicators=chosen)
    after = compute_indicators(after_tables, catalog, as_of=when, periods=[period],
                               indicators=chosen)
    ancestors = [*_ancestor_codes(root.code, root.level), "000000000000"]
    joined = (before.join(after.select("indicator", "division_code", "period",
                                       pl.col("value").alias("after")),
                          on=["indicator", "division_code", "period"], how="inner")
              .rename({"value": "before"})
              .filter(pl.col("division_code").str.starts_with(prefix)
                      | pl.col("division_code").is_in(ancestors))
              .with_columns((pl.col("after") - pl.col("before")).alias("delta")))
    changed = joined.filter((pl.col("delta").abs() > 1e-12)
                            | (pl.col("before").is_null() != pl.col("after").is_null()))
    shown = joined.filter((pl.col("level") <= root.level)
                          & pl.col("indicator").is_in(changed["indicator"].unique().implode()))
    deltas = (pl.concat([shown, changed]).unique(["indicator", "division_code"])
              .with_columns(
                  pl.col("division_code").replace_strict(names, default="").alias("name"),
                  pl.col("indicator").replace_strict(
                      {c: i.name_zh for c, i in catalog.indicators.items()}, default="")
                  .alias("indicator_name_zh"),
                  pl.col("indicator").replace_strict(
                      {c: i.name_en for c, i in catalog.indicators.items()}, default="")
                  .alias("indicator_name_en"),
                  pl.col("indicator").replace_strict(
                      {c: i.unit for c, i in catalog.indicators.items()}, default="")
                  .alias("unit"))
              .select("indicator", "indicator_name_zh", "indicator_name_en", "unit",
                      "division_code", "name", "level", "period", "before", "after", "delta")
              .sort("indicator", "level", "division_code"))
    headlines = []
    for row in deltas.filter(pl.col("division_code") == root.code).iter_rows(named=True):
        if row["before"] is None or row["after"] is None or abs(row["delta"]) <= 1e-12:
            continue
        unit = row["unit"] or ""
        headlines.append(f"{row['indicator']} {row['indicator_name_en']} in {root.name}: "
                         f"{row['before']:.1f}{unit} → {row['after']:.1f}{unit}")
    report = ScenarioReport(scenario_id, scenario.name, root.code, root.name, period, when,
                            cost, deltas, life_deltas, headlines, notes)
    report_progress(0.9, "save")
    if store:
        with ctx.sessions() as session, session.begin():
            stored = get_scenario(session, scenario_id)
            stored.evaluation = json.dumps(report.to_json(), ensure_ascii=False, default=str)
            stored.evaluated_at = dt.datetime.now(dt.UTC)
    return report


def stored_report(scenario: PlanScenario) -> dict[str, Any]:
    """The scenario's last evaluation; ValidationError when it was never evaluated."""
    if not scenario.evaluation:
        raise ValidationError([Problem(
            f"scenario {scenario.id}", "has not been evaluated yet",
            hint=f"run `shequ plan evaluate {scenario.id}` or POST …/evaluate first")])
    loaded: dict[str, Any] = json.loads(scenario.evaluation)
    return loaded


def compare_scenarios(session: Session, scenario_ids: Sequence[int]) -> pl.DataFrame:
    """Side by side: cost and every changed indicator at each scenario's own division.

    One row per (indicator, division); per scenario columns ``<name>: after`` and
    ``<name>: delta``; the first row is the total cost.
    """
    if len(scenario_ids) < 1:
        raise ValidationError([Problem("scenarios", "give at least one scenario id")])
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    cost_row: dict[str, Any] = {"indicator": "cost_cny", "division_code": "", "before": None}
    for scenario_id in scenario_ids:
        scenario = get_scenario(session, scenario_id)
        report = stored_report(scenario)
        cost_row[f"{scenario.name}: after"] = report["cost"]["total_cny"]
        cost_row[f"{scenario.name}: delta"] = report["cost"]["total_cny"]
        for item in report["indicator_deltas"]:
            if item["division_code"] != scenario.division_code:
                continue
            key = (item["indicator"], item["division_code"])
            row = rows.setdefault(key, {"indicator": item["indicator"],
                                        "division_code": item["division_code"],
                                        "before": item["before"]})
            row[f"{scenario.name}: after"] = item["after"]
            row[f"{scenario.name}: delta"] = item["delta"]
    return pl.DataFrame([cost_row, *rows.values()], infer_schema_length=None)


# --------------------------------------------------------------------------- export, adopt

CHANGE_COLUMNS = ("id", "action", "type_code", "division_code", "name", "longitude",
                  "latitude", "facility_id", "floor_area_m2", "activity_area_m2", "capacity",
                  "cost_cny", "funding_source", "space_for_services", "adopted_facility_id")


def changes_frame(scenario: PlanScenario) -> pl.DataFrame:
    """The scenario's changes as a table."""
    return pl.DataFrame([{name: getattr(c, name) for name in CHANGE_COLUMNS}
                         for c in scenario.changes],
                        schema={"id": pl.Int64, "action": pl.String, "type_code": pl.String,
                                "division_code": pl.String, "name": pl.String,
                                "longitude": pl.Float64, "latitude": pl.Float64,
                                "facility_id": pl.Int64, "floor_area_m2": pl.Float64,
                                "activity_area_m2": pl.Float64, "capacity": pl.Int64,
                                "cost_cny": pl.Float64, "funding_source": pl.String,
                                "space_for_services": pl.Boolean,
                                "adopted_facility_id": pl.Int64})


def sites_geojson(scenario: PlanScenario) -> dict[str, Any]:
    """The scenario's sites as a GeoJSON FeatureCollection (WGS84 points)."""
    features = []
    for change in scenario.changes:
        if change.longitude is None or change.latitude is None:
            continue
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [change.longitude, change.latitude]},
            "properties": {name: getattr(change, name) for name in CHANGE_COLUMNS
                           if name not in ("longitude", "latitude")}
            | {"scenario": scenario.name},
        })
    return {"type": "FeatureCollection", "features": features}


def export_scenario(session: Session, scenario_id: int, fmt: str) -> bytes:
    """The scenario as CSV (changes), XLSX (changes, deltas, cost) or GeoJSON (sites)."""
    scenario = get_scenario(session, scenario_id)
    if fmt == "geojson":
        return json.dumps(sites_geojson(scenario), ensure_ascii=False).encode()
    changes = changes_frame(scenario)
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(changes.columns)
        writer.writerows(changes.rows())
        return text.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "changes"
        sheet.append(changes.columns)
        for row in changes.rows():
            sheet.append(list(row))
        if scenario.evaluation:
            report = stored_report(scenario)
            for title, items in (("indicator_deltas", report["indicator_deltas"]),
                                 ("life_circle_deltas", report["life_circle_deltas"] or [])):
                out = book.create_sheet(title)
                if items:
                    out.append(list(items[0]))
                    for item in items:
                        out.append([item[k] for k in items[0]])
            summary = book.create_sheet("summary")
            summary.append(["total_cny", report["cost"]["total_cny"]])
            for source, value in report["cost"]["by_funding_source"].items():
                summary.append([f"funding:{source}", value])
            for line in report["headlines"]:
                summary.append([line])
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()
    raise ValidationError([Problem("format", f"{fmt!r} is not csv, xlsx or geojson")])


def adopt_scenario(session: Session, scenario_id: int, *, on: dt.date | None = None
                   ) -> list[Facility]:
    """Write the scenario's new and reused facilities into the registry as ``planned``.

    Closures and enlargements are decisions about existing facilities; they stay in the
    scenario as the record and do not change the facilities until carried out.
    """
    scenario = get_scenario(session, scenario_id)
    if scenario.status == ScenarioStatus.ADOPTED.value:
        raise ConflictError(f"scenario {scenario.name!r} was adopted already",
                            code="plan.adopted_already", params={"name": scenario.name})
    when = on or today()
    created = []
    for change in scenario.changes:
        if change.action not in (ChangeAction.NEW.value, ChangeAction.REUSE.value):
            continue
        facility = Facility(
            type_code=change.type_code, division_code=change.division_code, name=change.name,
            longitude=change.longitude, latitude=change.latitude,
            floor_area_m2=change.floor_area_m2, activity_area_m2=change.activity_area_m2,
            capacity=change.capacity, status=FacilityStatus.PLANNED.value, planned_on=when,
            investment_cny=change.cost_cny, funding_source=change.funding_source,
            space_for_services=change.space_for_services,
            parent_id=change.facility_id if change.action == ChangeAction.REUSE.value
            else None,
            source=f"plan scenario {scenario.id} ({scenario.name})")
        session.add(facility)
        session.flush()
        change.adopted_facility_id = facility.id
        created.append(facility)
    scenario.status = ScenarioStatus.ADOPTED.value
    scenario.adopted_at = dt.datetime.now(dt.UTC)
    return created
