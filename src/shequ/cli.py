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


def main() -> None:
    """Entry point that turns Shequ's errors into clean messages."""
    try:
        app()
    except ShequError as exc:
        raise fail(exc) from exc


if __name__ == "__main__":
    main()
