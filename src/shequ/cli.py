"""The `shequ` command: build, load, analyse and serve the community service registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shequ.context import Context
from shequ.errors import ShequError, ValidationError
from shequ.settings import Settings

app = typer.Typer(help="Shequ (社区): the urban and rural community service system.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Folder of the embedded database and files (SHEQU_DATA_DIR).")]


def load_settings(data_dir: Path | None = None) -> Settings:
    """Settings from the environment, with the command line's data folder if given."""
    settings = Settings.from_env()
    return settings.with_(data_dir=data_dir) if data_dir else settings


def fail(exc: ShequError) -> typer.Exit:
    """Print a user's error without a traceback and exit non-zero."""
    if isinstance(exc, ValidationError):
        err_console.print(f"[bold red]Rejected:[/] {exc}")
    else:
        err_console.print(f"[bold red]Error:[/] {exc}")
    return typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create or migrate the database to the newest schema."""
    settings = load_settings(data_dir)
    ctx = Context.open(settings)
    ctx.close()
    console.print(f"Database is at the newest schema: {settings.effective_database_url}")


@app.command()
def serve(data_dir: DataDir = None,
          host: Annotated[str | None, typer.Option(help="address to bind")] = None,
          port: Annotated[int | None, typer.Option(help="TCP port")] = None) -> None:
    """Serve the API and the pages over HTTP."""
    import uvicorn

    from shequ.api.app import create_app

    settings = load_settings(data_dir)
    try:
        ctx = Context.open(settings)
    except ShequError as exc:
        raise fail(exc) from exc
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"Serving {settings.effective_database_url} on http://{bind_host}:{bind_port}")
    uvicorn.run(create_app(ctx), host=bind_host, port=bind_port, log_level="info")


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

    from shequ.ingest.build import build_demo

    settings = load_settings(data_dir)
    try:
        ctx = Context.open(settings)
        with console.status("Building the demo county …"):
            built = build_demo(ctx, county=county, seed=seed, rebuild=rebuild)
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
