"""What every `shequ` sub-command shares: the data-folder option, opening the deployment,
and printing a user's error without a traceback.

Domain CLIs (access, indicators, plan, services …) import from here, not from
:mod:`shequ.cli`, which imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shequ.errors import ShequError, ValidationError
from shequ.settings import Settings

if TYPE_CHECKING:
    from shequ.context import Context

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Folder of the embedded database and files (SHEQU_DATA_DIR).")]


def load_settings(data_dir: Path | None = None) -> Settings:
    """Settings from the environment, with the command line's data folder if given."""
    settings = Settings.from_env()
    return settings.with_(data_dir=data_dir) if data_dir else settings


def open_context(data_dir: Path | None = None) -> Context:
    """The deployment named by the environment (and ``--data-dir``), migrated."""
    from shequ.context import Context

    return Context.open(load_settings(data_dir))


def fail(exc: ShequError) -> typer.Exit:
    """Print a user's error without a traceback; the caller raises the returned Exit."""
    label = "Rejected" if isinstance(exc, ValidationError) else "Error"
    # soft_wrap: a problem stays on one line, so it can be read and grepped whole.
    err_console.print(f"[bold red]{label}:[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(code=2)
