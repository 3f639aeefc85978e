"""The `shequ` command: build, load, analyse and serve the community service registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shequ.access.cli import app as access_app
from shequ.cli_support import DataDir, console, fail, load_settings
from shequ.context import Context
from shequ.errors import ConfigurationError, Problem, ShequError, ValidationError
from shequ.indicators.cli import app as indicators_app
from shequ.ingest.boundaries_cli import app as boundaries_app
from shequ.plan.cli import app as plan_app
from shequ.services.bookings.cli import app as bookings_app
from shequ.services.care.cli import app as care_app
from shequ.services.cli import accounts_app
from shequ.services.cli import app as services_app
from shequ.services.db_cli import add_commands as add_db_commands
from shequ.services.db_cli import keys_app
from shequ.services.hierarchy_cli import app as hierarchy_change_app
from shequ.services.notify.cli import app as notify_app
from shequ.services.offline_cli import app as offline_app
from shequ.services.reporting.cli import app as reporting_app

if TYPE_CHECKING:
    from shequ.plan.warm import WarmReport
    from shequ.registry.rules import Table

app = typer.Typer(help="Shequ (社区): the urban and rural community service system.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
hierarchy_app = typer.Typer(help="The national hierarchy of divisions.", no_args_is_help=True)
registry_app = typer.Typer(help="The registry's divisions: their boundaries.",
                           no_args_is_help=True)
# Registry commands first, then each domain's, in the direction data flows.
app.add_typer(db_app, name="db")
add_db_commands(db_app)
app.add_typer(keys_app, name="keys")
app.add_typer(hierarchy_app, name="hierarchy")
hierarchy_app.add_typer(hierarchy_change_app, name="change")
app.add_typer(registry_app, name="registry")
registry_app.add_typer(boundaries_app, name="boundaries")
app.add_typer(indicators_app, name="indicators")
app.add_typer(access_app, name="access")
app.add_typer(plan_app, name="plan")
app.add_typer(services_app, name="services")
app.add_typer(accounts_app, name="accounts")
app.add_typer(bookings_app, name="bookings")
app.add_typer(care_app, name="care")
app.add_typer(notify_app, name="notify")
app.add_typer(offline_app, name="offline")
app.add_typer(reporting_app, name="reporting")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create or migrate the database to the newest schema."""
    settings = load_settings(data_dir)
    ctx = Context.open(settings)
    ctx.close()
    console.print(f"Database is at the newest schema: {settings.effective_database_url}")


@app.command()
def warm() -> None:
    """Compile the street-search and planning kernels into the install's cache (once)."""
    report = _compile_kernels()
    console.print(f"Kernels ready in {report.total_seconds:.1f} s: {report.compiled} "
                  f"compiled, {report.loaded} loaded from the cache.")


def _compile_kernels() -> WarmReport:
    from shequ.plan.warm import warm as warm_kernels

    with console.status("Compiling the street-search and planning kernels …"):
        return warm_kernels()


@app.command()
def serve(data_dir: DataDir = None,
          host: Annotated[str | None, typer.Option(help="address to bind")] = None,
          port: Annotated[int | None, typer.Option(help="TCP port")] = None) -> None:
    """Serve the API and the pages over HTTP."""
    import uvicorn

    from shequ.app import create_app

    settings = load_settings(data_dir)
    try:
        ctx = Context.open(settings)
    except ShequError as exc:
        raise fail(exc) from exc
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"Serving {settings.effective_database_url} on http://{bind_host}:{bind_port}")
    uvicorn.run(create_app(ctx), host=bind_host, port=bind_port, log_level="info")


@hierarchy_app.command("load-national")
def hierarchy_load_national(data_dir: DataDir = None) -> None:
    """Load the real five-level national hierarchy (668,389 communities and villages)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from shequ.ingest.national import load_national

    settings = load_settings(data_dir)
    ctx = Context.open(settings)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("Reading and deriving codes", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, description="Storing divisions", completed=done, total=total)

        report = load_national(ctx.engine, progress=advance)
        progress.update(task, description="Done")
    levels = ", ".join(f"level {k}: {v:,}" for k, v in sorted(report.counts_by_level.items()))
    console.print(f"National hierarchy: {levels}")
    console.print(f"Inserted {report.inserted:,}, re-versioned {report.reversioned:,}, "
                  f"unchanged {report.unchanged:,}.")
    ctx.close()


TableArg = Annotated[str, typer.Argument(help="divisions, facilities, workforce or population")]


def _table(name: str) -> Table:
    from shequ.registry.rules import Table

    try:
        return Table(name)
    except ValueError:
        raise fail(ValidationError([Problem("table", f"unknown table {name!r}", hint=(
            "use divisions, facilities, workforce or population"))])) from None


@app.command("import")
def import_command(
    table: TableArg,
    path: Annotated[Path, typer.Argument(help="a .csv, .xlsx or .geojson file")],
    data_dir: DataDir = None,
    crs: Annotated[str, typer.Option(help="coordinates of the file: wgs84 or gcj02 "
                                     "(Chinese map services)")] = "wgs84",
    as_of: Annotated[str | None, typer.Option(help="date (YYYY-MM-DD) divisions are "
                                              "looked up on; default today")] = None,
) -> None:
    """Import a file after checking every row; one bad row and nothing is written."""
    import datetime as dt

    from shequ.ingest.tables import import_file

    settings = load_settings(data_dir)
    try:
        when = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise fail(ValidationError([Problem("--as-of", f"{as_of!r} is not a date",
                                            hint="write YYYY-MM-DD")])) from None
    ctx = Context.open(settings)
    try:
        with ctx.sessions() as session, session.begin():
            report = import_file(session, ctx.catalog, path, _table(table), crs=crs, as_of=when)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(f"Imported {report.rows:,} {report.table.value} rows from {path}: "
                  f"{report.inserted:,} new, {report.updated:,} updated, "
                  f"{report.versioned:,} new versions.")


@app.command("export")
def export_command(
    table: TableArg,
    path: Annotated[Path, typer.Argument(help="a .csv, .xlsx or .geojson file to write")],
    data_dir: DataDir = None,
    division: Annotated[str | None, typer.Option(help="only this division's subtree "
                                                 "(a code or code prefix)")] = None,
) -> None:
    """Export a table with the same columns the import reads (round trip without loss)."""
    from shequ.ingest.tables import export_file
    from shequ.registry.codes import code_prefix, level_of, normalise_code

    settings = load_settings(data_dir)
    ctx = Context.open(settings)
    try:
        prefix = ""
        if division:
            code = normalise_code(division, where="--division")
            prefix = code_prefix(code, level_of(code))
        with ctx.sessions() as session:
            count = export_file(session, _table(table), path, prefix=prefix)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(f"Exported {count:,} {table} rows to {path}.")


@app.command()
def demo(
    data_dir: DataDir = None,
    county: Annotated[str, typer.Option(help="county code or name from the national "
                                        "hierarchy")] = "130123",
    seed: Annotated[int, typer.Option(help="seed of the synthetic data")] = 20220101,
    rebuild: Annotated[bool, typer.Option(help="rebuild even if this demo exists")] = False,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve",
                                              help="serve it when built")] = True,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
) -> None:
    """Build the demo county (real names, synthetic geography and facilities), analyse it
    and serve it on http://127.0.0.1:8000."""
    from rich.table import Table

    from shequ.ingest.build import analyse_demo, build_demo
    from shequ.registry import queries
    from shequ.services.accounts.demo import DEMO_PASSWORD, ensure_demo_accounts
    from shequ.services.bookings.clock import local_now
    from shequ.services.care.rules import load_priority_rules
    from shequ.services.demo_activity import populate_demo_activity
    from shequ.services.reporting.demo import report_demo_round
    from shequ.services.requests import load_request_catalog

    settings = load_settings(data_dir)
    if settings.environment == "production":
        # Refused before anything is written: synthetic facilities and indicator values
        # must never mix with a real registry, nor demo accounts with real ones.
        raise fail(ConfigurationError(
            "`shequ demo` writes a synthetic county and sign-ins with a published password; "
            "SHEQU_ENV=production refuses it. Run it with SHEQU_ENV=development on a "
            "separate data folder, or load real data (`shequ import …`) and create users "
            "with `shequ services create-user`."))
    try:
        ctx = Context.open(settings)
        with console.status("Building the demo county …"):
            built = build_demo(ctx, county=county, seed=seed, rebuild=rebuild)
        if built.rebuilt:  # a new demo, most likely a new install: no one waits to compile
            _compile_kernels()
        with ctx.sessions() as session:
            analysed = "analysed_at" in queries.meta(session)
        if built.rebuilt or not analysed:
            with console.status("Analysing: life circles on the streets, then indicators …"):
                analysis = analyse_demo(ctx)
            console.print(f"Life circles evaluated for {analysis.communities_evaluated} "
                          f"communities; {analysis.indicator_values:,} indicator values "
                          f"stored (run {analysis.indicator_run}).")
        with ctx.sessions() as session:
            accounts = ensure_demo_accounts(session,
                                            county_code=built.county_code,
                                            environment=settings.environment)
            session.commit()
            # Once per build: a second run finds this build's activity and adds nothing.
            activity = populate_demo_activity(
                session, county_code=built.county_code, seed=built.seed, now=local_now(),
                catalog=ctx.catalog, request_catalog=load_request_catalog(settings.catalog_dir),
                care_rules=load_priority_rules(settings.catalog_dir))
            session.commit()
        # The 2025 round: every community but the demo worker's reports, once.
        activity |= report_demo_round(ctx, county_code=built.county_code, seed=built.seed,
                                      now=local_now())
        if any(activity.values()):
            console.print("Synthetic activity: " + ", ".join(
                f"{value:,} {key}" for key, value in activity.items() if value) + ".")
    except ShequError as exc:
        raise fail(exc) from exc
    table = Table(title=f"{built.county_name} {built.county_code} "
                  f"(synthetic data, seed {built.seed})")
    table.add_column("what")
    table.add_column("rows", justify="right")
    for key, value in built.counts.items():
        table.add_row(key, f"{value:,}")
    console.print(table)
    state = "built" if built.rebuilt else "already built (use --rebuild to regenerate)"
    console.print(f"Demo {state}: database {settings.effective_database_url}, "
                  f"street network {built.network_dir}")
    sign_in = Table(title=f"Demo sign-ins at /login (password {DEMO_PASSWORD!r}; "
                    "synthetic demo only)")
    for column in ("username", "role", "jurisdiction", "name"):
        sign_in.add_column(column)
    for account in accounts:
        sign_in.add_row(account.username, account.role.value,
                        account.jurisdiction_code or "—", account.display_name)
    console.print(sign_in)
    ctx.close()
    if serve_after:
        serve(data_dir=data_dir, host=None, port=port)


def main() -> None:
    """Entry point that turns Shequ's errors into clean messages."""
    try:
        app()
    except ShequError as exc:
        raise fail(exc) from exc


if __name__ == "__main__":
    main()
