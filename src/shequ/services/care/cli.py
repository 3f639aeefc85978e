"""`shequ care …`: lapse overdue offers and offer the freed places; show a waitlist."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shequ.cli_support import DataDir, open_context
from shequ.services.care import service
from shequ.services.care.rules import load_priority_rules

app = typer.Typer(help="Care places: offers, lapses and waitlists.", no_args_is_help=True)
console = Console()


@app.command("expire-offers")
def expire_offers(data_dir: DataDir = None) -> None:
    """Lapse offers past their deadline, then offer the places to the next applicants.

    Run it from cron (e.g. every hour).
    """
    ctx = open_context(data_dir)
    rules = load_priority_rules(ctx.settings.catalog_dir)
    with ctx.sessions.begin() as session:
        lapsed = service.expire_offers(session, rules)
        facilities = sorted({a.facility_id for a in lapsed})
    offered = [i for f in facilities for i in service.settle(ctx.sessions, rules, f)]
    console.print(f"{len(lapsed)} offer(s) lapsed; {len(offered)} new offer(s): {offered}")
    ctx.close()


@app.command("waitlist")
def waitlist(facility_id: int, data_dir: DataDir = None,
             catalog: Annotated[Path | None, typer.Option(help="rules folder")] = None) -> None:
    """The facility's waitlist in the declared order, with points and reasons."""
    ctx = open_context(data_dir)
    rules = load_priority_rules(catalog or ctx.settings.catalog_dir)
    with ctx.sessions() as session:
        table = Table("#", "application", "points", "reasons", "applied")
        for e in service.waitlist(session, rules, facility_id):
            table.add_row(str(e.rank.position), str(e.application.id), str(e.rank.points),
                          ", ".join(e.rank.reasons), f"{e.application.applied_at:%Y-%m-%d %H:%M}")
    console.print(table)
    ctx.close()
