"""`shequ notify …`: the dispatcher as its own process, and the reminders job by hand."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from shequ.cli_support import DataDir, console, open_context
from shequ.services.notify.dispatcher import DispatchPolicy
from shequ.services.notify.runner import dispatcher_for, periodic_jobs, remind

app = typer.Typer(help="Notifications: deliver them, write the reminders.",
                  no_args_is_help=True)


@app.command("run")
def run(data_dir: DataDir = None,
        once: Annotated[bool, typer.Option(help="deliver what is due now, then stop")] = False,
        batch: Annotated[int, typer.Option(help="deliveries claimed at a time")] = 100,
        idle: Annotated[float, typer.Option(help="seconds to wait when nothing is due")] = 2.0,
        lease: Annotated[float, typer.Option(help="seconds a claim is held")] = 120.0,
        reminders: Annotated[bool, typer.Option(
            help="also run the periodic jobs: reminders, purging old idempotency keys")] = True
        ) -> None:
    """Deliver notifications until stopped (SIGTERM or Ctrl-C): for deployments with
    several servers, set SHEQU_NOTIFY_IN_SERVER=0 on them and run this once or more.
    Several dispatchers may run at once: each delivery is leased to one of them."""
    import datetime as dt

    ctx = open_context(data_dir)
    policy = DispatchPolicy(batch=batch, lease=dt.timedelta(seconds=lease))
    dispatcher = dispatcher_for(ctx.sessions, ctx.settings, policy=policy)
    console.print(f"channels: {', '.join(sorted(dispatcher.adapters)) or 'in-app only'}")
    if once:
        total = 0
        while (report := dispatcher.run_once()).claimed:
            total += report.sent
        dispatcher.close()
        console.print(f"{total} notification(s) sent")
        ctx.close()
        return
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    dispatcher.run(stopping, idle_seconds=idle,
                   periodic=(lambda: periodic_jobs(ctx.sessions, ctx.settings))
                   if reminders else None)
    ctx.close()


@app.command("reminders")
def reminders_now(data_dir: DataDir = None) -> None:
    """Write today's staff reminders and the reminders of bookings starting within a day."""
    ctx = open_context(data_dir)
    console.print(f"{remind(ctx.sessions)} reminder(s) written")
    ctx.close()


if __name__ == "__main__":  # the dispatcher process without the rest of the CLI
    app()
