"""`shequ offline …`: upkeep of what devices without signal leave on the server."""

from __future__ import annotations

from typing import Annotated

import typer

from shequ.cli_support import DataDir, console, open_context
from shequ.services import offline

app = typer.Typer(help="Writes sent from devices without signal: their idempotency keys.",
                  no_args_is_help=True)


@app.command("forget-keys")
def forget_keys(
        data_dir: DataDir = None,
        days: Annotated[int | None, typer.Option(
            min=1, help="purge keys older than this many days "
                        "(default SHEQU_IDEMPOTENCY_RETENTION_DAYS, 7)")] = None) -> None:
    """Purge the idempotency keys past their retention (the dispatcher's periodic job does
    it too; run this where no dispatcher runs)."""
    ctx = open_context(data_dir)
    retention = days if days is not None else ctx.settings.idempotency_retention_days
    try:
        with ctx.sessions() as session:
            purged = offline.forget_expired(session, retention_days=retention)
    finally:
        ctx.close()
    console.print(f"{purged} idempotency key(s) older than {retention} day(s) purged")
