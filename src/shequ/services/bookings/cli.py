"""`shequ bookings …`: send due reminders, print venue utilisation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shequ.cli_support import DataDir, console, open_context
from shequ.services.bookings import service
from shequ.services.bookings.clock import local_now

app = typer.Typer(help="Venue booking: reminders and utilisation.", no_args_is_help=True)


@app.command("reminders")
def reminders(data_dir: DataDir = None,
              hours: Annotated[int, typer.Option(help="remind bookings starting within")] = 24,
              dry_run: Annotated[bool, typer.Option(help="list without notifying")] = False
              ) -> None:
    """Notify the bookers of approved bookings starting soon, and list them.

    Each booking is reminded once, as a notification delivered on its booker's channels
    (the notification dispatcher also does this every quarter of an hour by itself).
    """
    ctx = open_context(data_dir)
    with ctx.sessions.begin() as session:
        due = service.due_reminders(session, within=dt.timedelta(hours=hours))
        table = Table("booking", "user", "starts", "resource", "purpose")
        for b in due:
            table.add_row(str(b.id), str(b.user_id), f"{b.starts_at:%Y-%m-%d %H:%M}",
                          str(b.resource_id), b.purpose)
        console.print(table)
        if not dry_run:
            service.mark_reminded(session, due)
    console.print(f"{len(due)} reminder(s) {'due' if dry_run else 'marked as sent'}")
    ctx.close()


@app.command("utilisation")
def utilisation(start: Annotated[str, typer.Argument(help="first day, YYYY-MM-DD")],
                end: Annotated[str, typer.Argument(help="day after the last, YYYY-MM-DD")],
                data_dir: DataDir = None,
                division: Annotated[str, typer.Option(help="division-code prefix")] = "",
                csv: Annotated[Path | None, typer.Option(help="write the table here")] = None
                ) -> None:
    """Booked hours over open hours per facility in [start, end)."""
    ctx = open_context(data_dir)
    a = dt.datetime.combine(dt.date.fromisoformat(start), dt.time())
    b = dt.datetime.combine(dt.date.fromisoformat(end), dt.time())
    with ctx.sessions() as session:
        frame = service.utilisation(session, start=a, end=b, division_prefix=division)
    if csv:
        frame.write_csv(csv)
    console.print(frame)
    console.print(f"computed {local_now():%Y-%m-%d %H:%M}")
    ctx.close()
