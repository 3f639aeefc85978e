"""`shequ plan …`: solve siting models for a division, evaluate, compare, export, adopt scenarios,
and review a new estate against the standards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from shequ.cli_support import DataDir, console, fail, open_context
from shequ.errors import Problem, ShequError, ValidationError

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Short-board planning: where to build or reuse facilities, as scenarios.",
                  no_args_is_help=True)


@app.command("solve")
def solve(
    division: Annotated[str, typer.Argument(help="division code (e.g. a county, 130123)")],
    type_code: Annotated[str, typer.Option("--type", help="facility type code")] =
    "comprehensive_service_facility",
    model: Annotated[str, typer.Option(help="mclp, lscp or pmedian")] = "mclp",
    p: Annotated[int | None, typer.Option(help="number of new sites")] = None,
    budget: Annotated[float | None, typer.Option(help="money available (CNY)")] = None,
    target: Annotated[float | None, typer.Option(
        help="budget = cost of reaching this share of units by new builds (e.g. 0.8)")] = None,
    objective: Annotated[str, typer.Option(help="units (coverage indicator) or residents "
                                           "(within the tier's distance)")] = "units",
    area: Annotated[str, typer.Option(help="rural, urban or all")] = "rural",
    heuristic: Annotated[bool, typer.Option(help="lazy greedy + swaps instead of the MIP")]
    = False,
    time_limit: Annotated[float, typer.Option(help="seconds for the solver")] = 60.0,
    save: Annotated[str | None, typer.Option(help="store the plan as a scenario named so")]
    = None,
    funding: Annotated[str, typer.Option(help="funding source of the new sites")] =
    "special_bonds",
    data_dir: DataDir = None,
) -> None:
    """Solve a location model for a division's gaps and print (or save) the sites."""
    from shequ.plan.exact import solve_lscp, solve_mclp, solve_pmedian
    from shequ.plan.heuristic import greedy_lscp, greedy_mclp, greedy_pmedian
    from shequ.plan.instance import build_instance, scenario_from_solution, target_budget

    if model not in ("mclp", "lscp", "pmedian") or objective not in ("units", "residents") \
            or area not in ("rural", "urban", "all"):
        raise fail(ValidationError([Problem("options", f"model={model}, objective="
                                             f"{objective}, area={area} not understood",
                                             hint="see `shequ plan solve --help`")]))
    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            inst = build_instance(session, division, type_code, catalog=ctx.catalog,
                                  objective=objective, area=area)  # type: ignore[arg-type]
        if target is not None:
            budget = target_budget(inst, target)
            console.print(f"Budget to reach {target:.0%} by new builds: {budget:,.0f} CNY")
        problem, radius = inst.problem, inst.radius
        if model == "mclp":
            solution = (greedy_mclp(problem, radius, p=p, budget=budget, time_limit=time_limit)
                        if heuristic else
                        solve_mclp(problem, radius, p=p, budget=budget, time_limit=time_limit))
        elif model == "lscp":
            solution = (greedy_lscp(problem, radius) if heuristic
                        else solve_lscp(problem, radius, time_limit=time_limit))
        else:
            solution = (greedy_pmedian(problem, p=p, budget=budget, time_limit=time_limit)
                        if heuristic else
                        solve_pmedian(problem, p=p, budget=budget, time_limit=time_limit))
        table = Table(title=f"{inst.division_name} {inst.division_code}: {model} for "
                      f"{type_code} ({solution.solver}, {solution.status})")
        for column in ("kind", "division", "site", "cost (CNY)"):
            table.add_column(column)
        for j in solution.open_sites.tolist():
            site = inst.sites[j]
            if site.kind != "existing":
                table.add_row(site.kind, site.division_code, site.name, f"{site.cost:,.0f}")
        console.print(table)
        units = len(inst.units)
        console.print(f"objective {solution.objective:,.2f} (bound {solution.bound:,.2f}, gap "
                      f"{solution.gap:.2%}); cost {solution.cost:,.0f} CNY; "
                      f"{solution.seconds:.2f} s")
        if objective == "units" and model == "mclp":
            console.print(f"units with the facility: {inst.covered_units_now}/{units} "
                          f"({inst.covered_units_now / units:.1%}) → "
                          f"{solution.objective:.0f}/{units} ({solution.objective / units:.1%})")
        if save:
            parameters = json.dumps({"type": type_code, "model": model, "p": p,
                                     "budget": budget, "objective": objective, "area": area,
                                     "heuristic": heuristic, "gap": solution.gap})
            with ctx.sessions.begin() as session:
                scenario = scenario_from_solution(session, inst, solution, name=save,
                                                  funding_source=funding,
                                                  parameters=parameters)
                console.print(f"Saved scenario {scenario.id} {save!r} with "
                              f"{len(scenario.changes)} changes")
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()


@app.command("list")
def list_command(data_dir: DataDir = None) -> None:
    """List stored scenarios."""
    from shequ.plan.scenarios import cost_summary, list_scenarios

    ctx = open_context(data_dir)
    with ctx.sessions() as session:
        table = Table(title="Scenarios")
        for column in ("id", "name", "division", "status", "changes", "cost (CNY)",
                       "evaluated"):
            table.add_column(column)
        for s in list_scenarios(session):
            table.add_row(str(s.id), s.name, s.division_code, s.status, str(len(s.changes)),
                          f"{cost_summary(s)['total_cny']:,.0f}",
                          "yes" if s.evaluation else "no")
    console.print(table)
    ctx.close()


def _print_report(report: dict[str, Any]) -> None:
    console.print(f"[bold]{report['name']}[/] — {report['division_name']} "
                  f"{report['division_code']}, period {report['period']}")
    cost = report["cost"]
    console.print(f"Cost {cost['total_cny']:,.0f} CNY: " + ", ".join(
        f"{k} {v:,.0f}" for k, v in cost["by_funding_source"].items()))
    for line in report["headlines"]:
        console.print(f"  {line}")
    for note in report["notes"]:
        console.print(f"  [dim]{note}[/]")
    table = Table(title="Indicator deltas (county and township level)")
    for column in ("indicator", "division", "level", "before", "after", "delta"):
        table.add_column(column)
    for row in report["indicator_deltas"]:
        if row["level"] in (3, 4) and row["delta"]:
            table.add_row(row["indicator"], f"{row['division_code']} {row['name']}",
                          str(row["level"]), _fmt(row["before"]), _fmt(row["after"]),
                          _fmt(row["delta"]))
    console.print(table)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


@app.command("evaluate")
def evaluate(
    scenario_id: Annotated[int, typer.Argument(help="scenario id")],
    period: Annotated[int | None, typer.Option(help="year; default the latest stored")] = None,
    life_circles: Annotated[bool, typer.Option(help="re-run life circles on the network")]
    = True,
    data_dir: DataDir = None,
) -> None:
    """Evaluate a scenario: life circles and indicators before and after, at every level."""
    from shequ.plan.scenarios import evaluate_scenario

    ctx = open_context(data_dir)
    try:
        report = evaluate_scenario(ctx, scenario_id, period=period, life_circles=life_circles)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    _print_report(report.to_json())


@app.command("compare")
def compare(scenario_ids: Annotated[list[int], typer.Argument(help="scenario ids")],
            data_dir: DataDir = None) -> None:
    """Compare evaluated scenarios side by side (cost and indicators at their division)."""
    from shequ.plan.scenarios import compare_scenarios

    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            frame = compare_scenarios(session, scenario_ids)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    table = Table(title="Scenarios side by side")
    for column in frame.columns:
        table.add_column(column)
    for row in frame.iter_rows():
        table.add_row(*(v if isinstance(v, str) else _fmt(v) for v in row))
    console.print(table)


@app.command("export")
def export(scenario_id: Annotated[int, typer.Argument(help="scenario id")],
           out: Annotated[Path, typer.Option(help="file to write")],
           fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or geojson")] = "csv",
           data_dir: DataDir = None) -> None:
    """Export a scenario's sites and deltas (CSV, XLSX or GeoJSON of the sites)."""
    from shequ.plan.scenarios import export_scenario

    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            out.write_bytes(export_scenario(session, scenario_id, fmt))
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(f"Wrote {out}")


@app.command("adopt")
def adopt(scenario_id: Annotated[int, typer.Argument(help="scenario id")],
          data_dir: DataDir = None) -> None:
    """Adopt a scenario: its new and reused facilities enter the registry as planned."""
    from shequ.plan.scenarios import adopt_scenario

    ctx = open_context(data_dir)
    try:
        with ctx.sessions.begin() as session:
            created = adopt_scenario(session, scenario_id)
            console.print(f"Adopted: {len(created)} planned facilities added to the registry")
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()


@app.command("review-estate")
def review_estate_command(
    plan_file: Annotated[Path, typer.Argument(help="JSON file of the estate's plan")],
    data_dir: DataDir = None,
) -> None:
    """Review a new estate's plan against the standards; exit 1 when it fails."""
    from shequ.plan.estate import EstatePlan, review_estate_in_registry

    try:
        data = json.loads(plan_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise fail(ValidationError([Problem(str(plan_file), f"cannot be read as JSON: {exc}")])
                    ) from None
    ctx = open_context(data_dir)
    try:
        plan = EstatePlan.from_mapping(data, source=str(plan_file))
        with ctx.sessions() as session:
            review = review_estate_in_registry(session, plan, catalog=ctx.catalog,
                                               catalog_dir=ctx.settings.catalog_dir)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    verdict = "[bold green]PASS[/]" if review.passed else "[bold red]FAIL[/]"
    console.print(f"{review.estate}: {verdict}")
    for finding in review.findings:
        mark = "✓" if finding.passed else "✗"
        console.print(f"  {mark} {finding.message}  [dim]({finding.source})[/]")
    if not review.passed:
        raise typer.Exit(code=1)
