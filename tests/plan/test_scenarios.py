"""Registry → siting problem → scenario → indicator deltas → export → adoption."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import polars as pl
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from shequ.context import Context
from shequ.errors import ConflictError, ValidationError
from shequ.plan.exact import solve_mclp
from shequ.plan.heuristic import greedy_mclp
from shequ.plan.instance import build_instance, scenario_from_solution, target_budget
from shequ.plan.scenarios import (
    ChangeInput,
    adopt_scenario,
    compare_scenarios,
    create_scenario,
    evaluate_scenario,
    export_scenario,
)
from shequ.registry.models import Facility
from shequ.settings import Settings

from .county import COUNTY, TOWNS, seed_county, village_codes, with_clinic_only, without_facility

TYPE = "comprehensive_service_facility"


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    context = Context.open(settings)
    seed_county(context.sessions)
    yield context
    context.close()


def test_instance_lists_existing_new_and_reuse_sites(ctx: Context) -> None:
    with ctx.sessions() as session:
        inst = build_instance(session, COUNTY, TYPE, catalog=ctx.catalog)
    kinds = [s.kind for s in inst.sites]
    assert kinds.count("existing") == 20
    assert kinds.count("new") == 10
    assert kinds.count("reuse") == 6
    assert inst.covered_units_now == 20
    assert {s.division_code for s in inst.sites if s.kind == "reuse"} == set(with_clinic_only())
    # 80% of 30 villages = 24; 4 missing × 300 m² × 3000 CNY/m²
    assert target_budget(inst, 0.8) == pytest.approx(4 * 300 * 3000.0)
    assert inst.norm.reuse_cost < inst.norm.new_cost


def test_target_budget_plan_reaches_80_percent_and_reports_every_level(ctx: Context) -> None:
    with ctx.sessions() as session:
        inst = build_instance(session, COUNTY, TYPE, catalog=ctx.catalog)
    budget = target_budget(inst, 0.8)
    exact = solve_mclp(inst.problem, inst.radius, budget=budget)
    heuristic = greedy_mclp(inst.problem, inst.radius, budget=budget)
    # 6 reuses (6 × 240 000) + 2 new builds (2 × 900 000) = 3.24 M ≤ 3.6 M → 28 villages
    assert exact.objective == 28
    assert heuristic.objective == 28
    with ctx.sessions.begin() as session:
        scenario = scenario_from_solution(session, inst, exact, name="target 80%")
        scenario_id = scenario.id
    report = evaluate_scenario(ctx, scenario_id, life_circles=False)
    n2 = report.indicator_deltas.filter(pl.col("indicator") == "N2")
    county = n2.filter(pl.col("division_code") == COUNTY).row(0, named=True)
    assert county["before"] == pytest.approx(100 * 20 / 30)
    assert county["after"] == pytest.approx(100 * 28 / 30)
    assert county["after"] >= 80.0
    levels = set(n2["level"].to_list())
    assert {3, 4, 5} <= levels
    town = n2.filter(pl.col("division_code") == TOWNS[0]).row(0, named=True)
    assert town["before"] == pytest.approx(70.0)
    assert town["after"] == pytest.approx(100.0)  # 3 gap villages, 3 with clinics + 0 new
    village = n2.filter(pl.col("division_code") == without_facility()[0]).row(0, named=True)
    assert (village["before"], village["after"]) == (0.0, 100.0)
    assert any("N2" in line and "66.7% → 93.3%" in line for line in report.headlines)
    assert report.cost["total_cny"] == pytest.approx(3_240_000.0)
    assert report.cost["by_funding_source"] == {"special_bonds": pytest.approx(3_240_000.0)}


def test_scenarios_compare_export_and_adopt(ctx: Context) -> None:
    gap = without_facility()
    with ctx.sessions.begin() as session:
        small = create_scenario(session, name="two new", division_code=COUNTY, changes=[
            ChangeInput("new", TYPE, gap[8], "new A", 120.1, 30.0, cost_cny=900_000,
                        funding_source="special_bonds", floor_area_m2=300),
            ChangeInput("new", TYPE, gap[9], "new B", 120.11, 30.0, cost_cny=900_000,
                        funding_source="local_budget", floor_area_m2=300)])
        closing = session.scalar(select(Facility.id).where(
            Facility.division_code == village_codes()[0], Facility.type_code == TYPE))
        closure = create_scenario(session, name="close one", division_code=COUNTY, changes=[
            ChangeInput("close", TYPE, village_codes()[0], "closure", facility_id=closing)])
        ids = (small.id, closure.id)
    for scenario_id in ids:
        evaluate_scenario(ctx, scenario_id, life_circles=False)
    with ctx.sessions() as session:
        table = compare_scenarios(session, ids)
        n2 = table.filter(pl.col("indicator") == "N2").row(0, named=True)
        assert n2["two new: after"] == pytest.approx(100 * 22 / 30)
        assert n2["close one: after"] == pytest.approx(100 * 19 / 30)
        cost = table.filter(pl.col("indicator") == "cost_cny").row(0, named=True)
        assert cost["two new: after"] == pytest.approx(1_800_000)
        geo = json.loads(export_scenario(session, ids[0], "geojson"))
        assert [f["geometry"]["coordinates"] for f in geo["features"]] == [[120.1, 30.0],
                                                                           [120.11, 30.0]]
        text = export_scenario(session, ids[0], "csv").decode("utf-8-sig")
        assert text.splitlines()[0].startswith("id,action,type_code")
        assert len(text.splitlines()) == 3
        book = load_workbook(io.BytesIO(export_scenario(session, ids[0], "xlsx")))
        assert {"changes", "indicator_deltas", "summary"} <= set(book.sheetnames)
    with ctx.sessions.begin() as session:
        created = adopt_scenario(session, ids[0])
        assert [f.status for f in created] == ["planned", "planned"]
    with ctx.sessions.begin() as session:
        planned = session.scalar(select(func.count()).select_from(Facility).where(
            Facility.status == "planned"))
        assert planned == 2
        with pytest.raises(ConflictError):
            adopt_scenario(session, ids[0])


def test_bad_scenario_changes_are_all_reported(ctx: Context) -> None:
    with ctx.sessions.begin() as session, pytest.raises(ValidationError) as caught:
        create_scenario(session, name="bad", division_code=COUNTY, changes=[
            ChangeInput("demolish", TYPE, without_facility()[0], "x"),
            ChangeInput("new", TYPE, "110101001001", "elsewhere", cost_cny=-5),
            ChangeInput("close", TYPE, without_facility()[0], "no id"),
            ChangeInput("new", TYPE, without_facility()[0], "y", funding_source="lottery")],
            catalog_types=list(ctx.catalog.facility_types))
    text = str(caught.value)
    assert "demolish" in text and "outside" in text and "negative" in text
    assert "facility_id" in text and "lottery" in text
