"""Planning's one dispatch checked against enumeration: p-median with an unserved
distance (service and CLI, on the seeded county and the demo) and capacitated places of
elderly day care, whose assignment meets every site's capacity; a short board as a plan."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator

import networkx as nx  # type: ignore[import-untyped]
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.errors import ValidationError
from shequ.plan.instance import build_instance, default_radius
from shequ.registry.models import Facility
from shequ.services.planning import (
    UNSERVED_TIMES_TIER,
    PlanRequest,
    request_from_short_board,
    solve_now,
    solve_request,
)
from shequ.settings import Settings

from .county import COUNTY, seed_county, village_codes

runner = CliRunner()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    """The seeded county, with three elderly day-care centres of known places."""
    context = Context.open(settings)
    seed_county(context.sessions)
    codes = village_codes()
    with context.sessions.begin() as session:
        for code, places, lon in ((codes[0], 12, 120.0), (codes[12], 40, 120.058),
                                  (codes[25], 25, 120.1)):
            session.add(Facility(type_code="elderly_day_care", division_code=code,
                                 name=f"day care {code[-3:]}", longitude=lon, latitude=30.0,
                                 capacity=places, floor_area_m2=350.0))
    yield context
    context.close()


def _pmedian_by_enumeration(problem: object, p: int, unserved: float) -> float:
    """min over every set of p new sites of Σ_i w_i · min(U, min_{j open} d_ij)."""
    table = problem.distances.toarray()  # type: ignore[attr-defined]
    stored = problem.distances.copy()  # type: ignore[attr-defined]
    stored.data[:] = 1
    reach = np.where(stored.toarray() > 0, np.minimum(table, unserved), unserved)
    weights = problem.weights  # type: ignore[attr-defined]
    existing = np.flatnonzero(problem.existing)  # type: ignore[attr-defined]
    new = np.flatnonzero(~problem.existing)  # type: ignore[attr-defined]
    best = np.inf
    for chosen in itertools.combinations(new.tolist(), p):
        columns = np.concatenate([existing, np.array(chosen, np.int64)])
        best = min(best, float(weights @ reach[:, columns].min(axis=1)))
    return best


@pytest.mark.parametrize("p", [1, 2, 3])
def test_pmedian_is_the_optimum_found_by_enumeration(ctx: Context, p: int) -> None:
    request = PlanRequest(COUNTY, model="pmedian", p=p)
    with ctx.sessions() as session:
        outcome = solve_request(session, ctx.catalog, request)
        unserved = UNSERVED_TIMES_TIER * default_radius(
            ctx.catalog, "comprehensive_service_facility", "rural")
        assert outcome.unserved_distance == unserved
        # the same instance the dispatch built: residents within the unserved distance
        inst = build_instance(session, COUNTY, "comprehensive_service_facility",
                              catalog=ctx.catalog, objective="residents", radius=unserved)
    assert outcome.solution.status == "optimal"
    assert len(outcome.summary()["sites"]) == p
    expected = _pmedian_by_enumeration(inst.problem, p, unserved)
    assert outcome.solution.objective == pytest.approx(expected, rel=1e-9)
    assert expected > 0


def test_pmedian_from_the_command_line_gives_the_optimum_on_the_demo(
        demo_settings: Settings) -> None:
    """p = 3 and p = 20 on the demo county: optimal, with a positive objective (before the
    unserved distance was passed the CLI said "infeasible" at 3 and 0.00 at 20)."""
    ctx = Context.open(demo_settings)
    try:
        for p in (3, 20):
            result = runner.invoke(app, ["plan", "solve", "130123", "--model", "pmedian",
                                         "--p", str(p), "--data-dir",
                                         str(demo_settings.data_dir)])
            assert result.exit_code == 0, result.output
            found = re.search(r"objective ([\d,.]+) \(bound ([\d,.]+), gap ([\d.]+)%\)",
                              result.output)
            assert found is not None, result.output
            objective = float(found.group(1).replace(",", ""))
            assert "optimal" in result.output and found.group(3) == "0.00"
            assert objective > 0
            summary = solve_now(ctx, None, PlanRequest("130123", model="pmedian", p=p,
                                                       heuristic=True))
            # the heuristic's answer is never better than the proven optimum
            assert summary["objective"] >= objective - 0.01 * 1.0001
            assert "unserved distance" in result.output
    finally:
        ctx.close()


def _served_by_max_flow(problem: object, radius: float, open_sites: list[int]) -> float:
    """Places served by ``open_sites`` under their capacities: a max flow from each demand
    point (its places) to the open sites within ``radius`` (each with its capacity)."""
    graph = nx.DiGraph()
    cover = problem.coverage(radius).tocoo()  # type: ignore[attr-defined]
    weights = problem.weights  # type: ignore[attr-defined]
    capacity = problem.capacity  # type: ignore[attr-defined]
    chosen = set(open_sites)
    for i, j in zip(cover.row.tolist(), cover.col.tolist(), strict=True):
        if j in chosen and weights[i] > 0:
            graph.add_edge("s", ("d", i), capacity=float(weights[i]))
            graph.add_edge(("d", i), ("f", j), capacity=float(weights[i]))
            graph.add_edge(("f", j), "t", capacity=float(capacity[j]))
    if "s" not in graph or "t" not in graph:
        return 0.0
    return float(nx.maximum_flow_value(graph, "s", "t"))


@pytest.mark.parametrize("p", [1, 2])
def test_capacitated_places_meet_every_capacity_and_the_enumerated_optimum(
        ctx: Context, p: int) -> None:
    request = PlanRequest(COUNTY, type_code="elderly_day_care", model="capacitated", p=p,
                          area="all")
    with ctx.sessions() as session:
        outcome = solve_request(session, ctx.catalog, request)
    inst, solution = outcome.instance, outcome.solution
    problem = inst.problem
    assert problem.capacity is not None
    # capacities from the registry for the three centres, the catalog's 30 for new ones
    existing = {s.name: s.capacity for s in inst.sites if s.kind == "existing"}
    assert existing == {"day care 201": 12, "day care 203": 40, "day care 206": 25}
    assert {s.capacity for s in inst.sites if s.kind != "existing"} == {30.0}
    # places needed: ⌈3% of residents aged 60+⌉ per village
    with ctx.sessions() as session:
        from shequ.registry.models import Population

        aged = dict(session.execute(select(Population.division_code,
                                           Population.age_60_plus)).all())
    assert problem.weights.tolist() == [float(np.ceil(aged[c] * 0.03 - 1e-9))
                                        for c in inst.units]
    assert solution.status == "optimal"
    new = np.flatnonzero(~problem.existing).tolist()
    fixed = np.flatnonzero(problem.existing).tolist()
    best = max(_served_by_max_flow(problem, inst.radius, fixed + list(chosen))
               for chosen in itertools.combinations(new, p))
    assert solution.objective == pytest.approx(best, abs=1e-6)
    assert best < problem.weights.sum()  # the capacities bind: not everyone is served
    served = outcome.summary()["served"]
    assert len(served) == len(fixed) + p
    for row in served:  # every site's load within its capacity
        assert row["load"] <= row["capacity"] + 1e-6
    assert sum(r["load"] for r in served) == pytest.approx(best, abs=1e-6)


def test_the_scenario_of_capacitated_places_carries_the_capacities(ctx: Context) -> None:
    summary = solve_now(ctx, None, PlanRequest(
        COUNTY, type_code="elderly_day_care", model="capacitated", p=2, area="all",
        name="day care places"), save=True)
    from shequ.plan.scenarios import get_scenario

    with ctx.sessions() as session:
        scenario = get_scenario(session, summary["scenario_id"])
        assert [c.capacity for c in scenario.changes] == [30, 30]
        assert scenario.model == "capacitated_max_cover"


def test_a_short_board_becomes_a_plan_request(ctx: Context) -> None:
    request = request_from_short_board(None, "N2", COUNTY)
    assert (request.type_code, request.area, request.model, request.target) == (
        "comprehensive_service_facility", "rural", "mclp", 0.8)
    with pytest.raises(ValidationError):
        request_from_short_board(None, "N4", COUNTY)  # floor area per 100 households


def test_every_problem_of_a_request_is_told_at_once(ctx: Context) -> None:
    with pytest.raises(ValidationError) as refused:
        PlanRequest("33011", type_code="nope", model="kmeans", target=1.5, p=-1,
                    time_limit=0).check(ctx.catalog)
    columns = sorted(p.column or "" for p in refused.value.problems)
    assert columns == sorted(["division_code", "type_code", "model", "target", "p",
                              "time_limit"]), columns


def test_candidates_narrowed_dropped_and_added(ctx: Context) -> None:
    with ctx.sessions() as session:
        both = build_instance(session, COUNTY, "comprehensive_service_facility",
                              catalog=ctx.catalog)
        new = build_instance(session, COUNTY, "comprehensive_service_facility",
                             catalog=ctx.catalog, candidates="new")
        reuse = build_instance(session, COUNTY, "comprehensive_service_facility",
                               catalog=ctx.catalog, candidates="reuse")
        kinds = [s.kind for s in both.sites]
        assert (kinds.count("existing"), kinds.count("new"), kinds.count("reuse")) == (20, 10, 6)
        assert {s.kind for s in new.sites} == {"existing", "new"}
        assert {s.kind for s in reuse.sites} == {"existing", "reuse"}
        dropped = build_instance(session, COUNTY, "comprehensive_service_facility",
                                 catalog=ctx.catalog,
                                 drop=frozenset(s.key for s in both.sites if s.kind == "reuse"))
        assert [s.kind for s in dropped.sites].count("reuse") == 0
        gap = next(s for s in both.sites if s.kind == "new")
        added = build_instance(session, COUNTY, "comprehensive_service_facility",
                               catalog=ctx.catalog,
                               extra=((gap.longitude + 0.0003, gap.latitude),))
        placed = [s for s in added.sites if s.placed]
        assert len(placed) == 1 and placed[0].division_code == gap.division_code



def test_what_each_site_covers_follows_its_model(ctx: Context) -> None:
    """Town 1's villages lie on two rows 0.004° apart (386 m east-west at 30° N); each
    facility stands 0.0005° east of its village.  A p-median scenario with an unserved
    distance of 1 km closes the facilities of villages 2 and 4 and builds in village 3:
    village 4 is then 386 m from the new site and 434 m from village 5's facility, so the
    new site serves villages 3 and 4; village 2 is 338 m from village 1's facility and
    stays with it.  The same change in a scenario by hand counts its own village only."""
    from shequ.plan.scenarios import ChangeInput, create_scenario
    from shequ.services.planning import site_coverage

    codes = village_codes()
    csf = "comprehensive_service_facility"
    with ctx.sessions.begin() as session:
        closing = {code: session.scalars(select(Facility.id).where(
            Facility.division_code == code, Facility.type_code == csf)).one()
            for code in (codes[1], codes[3])}
        changes = [ChangeInput("new", csf, codes[2], "new in village 3", 120.008, 30.0)] + [
            ChangeInput("close", csf, code, "closed", facility_id=fid)
            for code, fid in closing.items()]
        modelled = create_scenario(session, name="p-median by hand", division_code=COUNTY,
                                   changes=changes)
        modelled.model = "pmedian"
        modelled.parameters = json.dumps({"area": "rural",
                                          "summary": {"unserved_distance": 1000.0}})
        session.flush()
        coverage = site_coverage(session, ctx.catalog, modelled)
        new_id = modelled.changes[0].id
        assert coverage.rule == "within" and coverage.radius_m == 1000.0
        assert coverage.served_by == {codes[2]: new_id, codes[3]: new_id}
        assert coverage.units_of(new_id) == [codes[2], codes[3]]
        plain = create_scenario(session, name="by hand", division_code=COUNTY,
                                changes=changes)
        session.flush()
        coverage = site_coverage(session, ctx.catalog, plain)
        assert coverage.rule == "own_unit" and coverage.radius_m is None
        assert coverage.served_by == {codes[2]: plain.changes[0].id}


def test_the_dots_follow_the_rule_of_the_lines(ctx: Context) -> None:
    """A p-median scenario with an unserved distance of 420 m builds one site in village
    1's unit but 0.002° north of it, half-way to village 6 (which has no facility).
    Villages sit 0.004° apart east-west (386 m at 30° N) and north-south (445 m); each
    facility 0.0005° east of its village (48 m).  Within 420 m, before the scenario:
    the 20 villages with a facility (48 m), villages 3, 9, 12, 15, 18, 24, 27 and 30
    (337 m to a neighbour's facility) — 28; villages 6 and 21 are 434 m and 448 m from
    the nearest facility: uncovered.  After: village 6 is 222 m from the new site, newly
    covered and served by it; village 1 stays with its own facility (48 m against
    222 m).  By the own-village rule the site would have covered nothing new (village 1
    has its facility) and village 6 would stay red under the site's line."""
    from shequ.plan.scenarios import ChangeInput, create_scenario
    from shequ.services.planning import site_coverage

    codes = village_codes()
    csf = "comprehensive_service_facility"
    with ctx.sessions.begin() as session:
        scenario = create_scenario(session, name="p-median, 420 m", division_code=COUNTY,
                                   changes=[ChangeInput("new", csf, codes[0], "between",
                                                        120.0, 30.002)])
        scenario.model = "pmedian"
        scenario.parameters = json.dumps({"area": "rural",
                                          "summary": {"unserved_distance": 420.0}})
        session.flush()
        coverage = site_coverage(session, ctx.catalog, scenario)
        site = scenario.changes[0].id
        assert (coverage.rule, coverage.radius_m) == ("within", 420.0)
        assert coverage.served_by == {codes[5]: site}
        assert sorted(set(codes) - coverage.covered_before) == [codes[5], codes[20]]
        assert coverage.covered_after - coverage.covered_before == {codes[5]}
        assert sorted(set(codes) - coverage.covered_after) == [codes[20]]
        # every unit served by a site of the scenario is covered after it
        assert set(coverage.served_by) <= coverage.covered_after
        scenario.model = None  # the same change made by hand: the own-village rule
        scenario.parameters = None
        session.flush()
        plain = site_coverage(session, ctx.catalog, scenario)
        assert plain.served_by == {codes[0]: site}
        assert len(plain.covered_before) == len(plain.covered_after) == 20
