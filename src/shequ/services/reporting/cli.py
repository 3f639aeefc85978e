"""`shequ reporting …`: open a round, see who has reported, import indicator inputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shequ.cli_support import DataDir, fail, open_context
from shequ.errors import ShequError
from shequ.indicators.definitions import load_indicator_catalog
from shequ.services.accounts.users import user_by_username
from shequ.services.bookings.clock import local_now
from shequ.services.reporting import service
from shequ.services.reporting.inputs import import_inputs, read_inputs

app = typer.Typer(help="Reporting rounds: open them, follow them, import inputs.",
                  no_args_is_help=True)
console = Console()
AsUser = Annotated[str, typer.Option("--as", help="the username acting (audited)")]


@app.command("open")
def open_round(
    name: Annotated[str, typer.Argument(help="the round's name")],
    period: Annotated[int, typer.Option(help="the year the figures are for")],
    due: Annotated[str, typer.Option(help="due date YYYY-MM-DD")],
    user: AsUser,
    opens: Annotated[str | None, typer.Option(help="opening date; default today")] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        help="a data set to ask (repeat); default every one")] = None,
    province: Annotated[str | None, typer.Option(help="a province's code")] = None,
    data_dir: DataDir = None,
) -> None:
    """Open a round (as a national or province planner, or an administrator)."""
    ctx = open_context(data_dir)
    config = service.reporting_config(ctx.settings.catalog_dir)
    try:
        with ctx.sessions.begin() as session:
            actor = user_by_username(session, user)
            round_ = service.open_round(
                session, config, actor, name=name, period=period,
                opens_on=dt.date.fromisoformat(opens) if opens else local_now().date(),
                due_on=dt.date.fromisoformat(due), datasets=dataset or list(config.datasets),
                scope_code=province, now=local_now())
            console.print(f"Round {round_.id} is open: {round_.name}, due {round_.due_on}.")
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()


@app.command("list")
def list_rounds(user: AsUser, data_dir: DataDir = None) -> None:
    """The rounds that concern the user's jurisdiction."""
    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            table = Table("id", "name", "period", "opens", "due", "scope")
            for r in service.rounds_for(session, user_by_username(session, user)):
                table.add_row(str(r.id), r.name, str(r.period), str(r.opens_on),
                              str(r.due_on), r.scope_code or "nation")
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(table)


@app.command("overview")
def overview(round_id: int, user: AsUser, data_dir: DataDir = None) -> None:
    """Expected, reported, on-time and signed-off units in the user's jurisdiction."""
    ctx = open_context(data_dir)
    config = service.reporting_config(ctx.settings.catalog_dir)
    try:
        with ctx.sessions() as session:
            seen = service.overview(session, config, user_by_username(session, user),
                                    round_id, today=local_now().date())
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    table = Table("division", "expected", "reported", "on time", "signed off")
    table.add_row("all", *(str(seen.totals[k]) for k in ("expected", "reported", "on_time",
                                                         "approved")))
    for code, name, counts in seen.children:
        table.add_row(f"{name} {code}", *(str(counts[k]) for k in (
            "expected", "reported", "on_time", "approved")))
    console.print(table)
    late = [u for u in seen.units if u.late]
    console.print(f"{len(late)} late unit(s)" + (": " + ", ".join(
        f"{u.name} {u.code}" for u in late[:20]) if late else "."))


@app.command("import-inputs")
def import_inputs_command(
    path: Annotated[Path, typer.Argument(help="a .csv or .xlsx file: division_code, "
                                         "period, measure, value")],
    data_dir: DataDir = None,
) -> None:
    """Import indicator inputs (N3's floor areas …); one bad row and nothing is written."""
    ctx = open_context(data_dir)
    try:
        table = read_inputs(path)
        with ctx.sessions.begin() as session:
            count = import_inputs(session, load_indicator_catalog(ctx.settings.catalog_dir),
                                  table, source=f"import: {path.name}")
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(f"Imported {count:,} indicator input value(s) from {path}.")
