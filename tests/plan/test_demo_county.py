"""Done criterion on the demo county: the target-budget MCLP plan lifts rural coverage ≥ 80%
and its report shows indicator deltas at county, township and village level."""

from __future__ import annotations

import polars as pl
import pytest

from shequ.context import Context
from shequ.plan.exact import solve_mclp
from shequ.plan.instance import build_instance, scenario_from_solution, target_budget
from shequ.plan.scenarios import evaluate_scenario
from shequ.settings import Settings


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_demo_county_plan_reaches_the_national_rural_target(settings: Settings) -> None:
    from shequ.ingest.build import build_demo

    ctx = Context.open(settings)
    demo = build_demo(ctx)
    with ctx.sessions() as session:
        inst = build_instance(session, demo.county_code, "comprehensive_service_facility",
                              catalog=ctx.catalog)
    before = inst.covered_units_now / len(inst.units)
    assert before < 0.8  # the demo has the gap the plan is about
    solution = solve_mclp(inst.problem, inst.radius, budget=target_budget(inst, 0.8))
    assert solution.status == "optimal"
    assert solution.objective / len(inst.units) >= 0.8
    assert solution.cost <= target_budget(inst, 0.8)
    with ctx.sessions.begin() as session:
        scenario_id = scenario_from_solution(session, inst, solution, name="N2 target").id
    report = evaluate_scenario(ctx, scenario_id)
    n2 = report.indicator_deltas.filter(pl.col("indicator") == "N2")
    county = n2.filter(pl.col("division_code") == demo.county_code).row(0, named=True)
    assert county["before"] == pytest.approx(100 * before)
    assert county["after"] >= 80.0
    assert {3, 4, 5} <= set(n2.filter(pl.col("delta") > 0)["level"].to_list())
    assert report.life_circle_deltas is not None  # the demo has a street network
    village_tier = report.life_circle_deltas.filter(
        (pl.col("division_code") == demo.county_code) & (pl.col("tier") == "village"))
    assert village_tier["share_delta"][0] > 0
    ctx.close()
