"""`shequ plan …`: solve siting models for a division, evaluate, compare, export, adopt scenarios,
and review a new estate against the standards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from shequ.cli_support import DataDir, console, fail, open_context
from shequ.errors import Problem, ShequError, ValidationError

app = typer.Typer(help="Short-board planning: where to build or reuse facilities, as scenarios.",
                  no_args_is_help=True)


@app.command("solve")
def solve(
    division: Annotated[str, typer.Argument(help="division code (e.g. a county, 130123)")],
    type_code: Annotated[str, typer.Option("--type", help="facility type code")] =
    "comprehensive_service_facility",
    model: Annotated[str, typer.Option(help="mclp, lscp, pmedian or capacitated")] = "mclp",
    p: Annotated[int | None, typer.Option(help="number of new sites")] = None,
    budget: Annotated[float | None, typer.Option(help="money available (CNY)")] = None,
    target: Annotated[float | None, typer.Option(
        help="budget = cost of reaching this share of units by new builds (e.g. 0.8). "
             "Maximal covering or capacitated with no --p, --budget or --target: the "
             "target of the short board of the type and area (e.g. N2, 80% of rural "
             "villages with a comprehensive service facility)")] = None,
    objective: Annotated[str, typer.Option(help="units (coverage indicator) or residents "
                                           "(within the tier's distance)")] = "units",
    area: Annotated[str, typer.Option(help="rural, urban or all")] = "rural",
    candidates: Annotated[str, typer.Option(help="both, new (builds) or reuse (of public "
                                            "space)")] = "both",
    unserved_distance: Annotated[float | None, typer.Option(
        help="p-median: metres at which a resident counts as unserved (default three "
             "times the tier's walking distance)")] = None,
    heuristic: Annotated[bool, typer.Option(help="lazy greedy + swaps instead of the MIP")]
    = False,
    time_limit: Annotated[float, typer.Option(help="seconds for the solver")] = 60.0,
    save: Annotated[str | None, typer.Option(help="store the plan as a scenario named so")]
    = None,
    funding: Annotated[str, typer.Option(help="funding source of the new sites")] =
    "special_bonds",
    data_dir: DataDir = None,
) -> None:
    """Solve a location model for a division's gaps and print (or save) the sites.

    With no --p, --budget or --target, maximal covering (and capacitated)
    aims at the target of the short board of the facility type and area:
    `shequ plan solve 130123` closes N2's gap, 80% of the county's villages
    with a comprehensive service facility.
    """
    from shequ.services.planning import PlanRequest, short_board_target, solve_now

    ctx = open_context(data_dir)
    indicator = None
    if model in ("mclp", "capacitated") and p is None and budget is None and target is None:
        board = short_board_target(ctx.settings.catalog_dir, type_code, area)
        if board is not None:
            indicator, target = board
            console.print(f"No --p, --budget or --target: aiming at {indicator}'s target, "
                          f"{target:.0%} of the {area} units with a {type_code}")
    try:
        request = PlanRequest(
            division_code=division, type_code=type_code, model=model, p=p, budget=budget,
            target=target, objective=objective, area=area, candidates=candidates,
            unserved_distance=unserved_distance, heuristic=heuristic, time_limit=time_limit,
            name=save, funding_source=funding, indicator=indicator)
        summary = solve_now(ctx, None, request, save=bool(save))
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    _print_solution(summary, request)


def _print_solution(summary: dict[str, Any], request: Any) -> None:
    if request.target is not None and summary["budget"] is not None:
        console.print(f"Budget to reach {request.target:.0%} by new builds: "
                      f"{summary['budget']:,.0f} CNY")
    table = Table(title=f"{request.division_code}: {request.model} for {request.type_code} "
                  f"({summary['solver']}, {summary['status']})")
    for column in ("kind", "division", "site", "cost (CNY)"):
        table.add_column(column)
    for site in summary["sites"]:
        table.add_row(site["kind"], site["division_code"], site["name"],
                      f"{site['cost_cny']:,.0f}")
    console.print(table)
    units = summary["units"]
    console.print(f"objective {summary['objective']:,.2f} (bound {summary['bound']:,.2f}, gap "
                  f"{summary['gap']:.2%}); cost {summary['cost']:,.0f} CNY; "
                  f"{summary['seconds']:.2f} s")
    if summary["unserved_distance"] is not None:
        console.print(f"unserved distance {summary['unserved_distance']:,.0f} m")
    if request.objective == "units" and request.model == "mclp":
        before = summary["units_covered_before"]
        console.print(f"units with the facility: {before}/{units} ({before / units:.1%}) → "
                      f"{summary['objective']:.0f}/{units} "
                      f"({summary['objective'] / units:.1%})")
    for row in summary["served"]:
        console.print(f"  {row['name']}: {row['load']:,.1f} of {row['capacity']:,.0f} places")
    if summary.get("scenario_id") is not None:
        console.print(f"Saved scenario {summary['scenario_id']} "
                      f"{summary['scenario_name']!r} with {len(summary['sites'])} changes")


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
    from shequ.services.planning import adopt as adopt_it

    ctx = open_context(data_dir)
    try:
        with ctx.sessions.begin() as session:
            created = adopt_it(session, None, scenario_id)
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
