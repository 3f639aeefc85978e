"""``shequ hierarchy change …``: division changes from a file or one at a time.

Run by the operator of the deployment, so no account is checked; every batch is audited
and recorded as change events like those made through the API.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from shequ.cli_support import DataDir, console, fail, open_context
from shequ.errors import Problem, ShequError, ValidationError
from shequ.registry.changes import ChangeEvent, NewUnit

app = typer.Typer(help="Division changes: rename, recode, re-parent, merge, split, abolish, "
                  "create — each with its effective date, carrying the data.",
                  no_args_is_help=True)

OnOption = Annotated[str, typer.Option("--on", help="effective date YYYY-MM-DD")]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(ValidationError([Problem("--on", f"{text!r} is not a date",
                                            hint="write YYYY-MM-DD")])) from None


def _run(events: list[ChangeEvent], source: str, data_dir: Path | None) -> None:
    from shequ.services.hierarchy import apply_division_changes

    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session, session.begin():
            outcome = apply_division_changes(session, None, events, source=source,
                                             check_rights=False)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    report = outcome.report
    moved = ", ".join(f"{label} {n}" for label, n in sorted(report.moved.items())) or "none"
    console.print(f"Applied {outcome.events} change(s): {report.opened} version(s) opened, "
                  f"{report.closed} closed; rows carried: {moved}; "
                  f"{len(report.notices)} account(s) told of a new jurisdiction")


@app.command("apply")
def apply_file(path: Annotated[Path, typer.Argument(help="a .csv or .xlsx change file")],
               boundaries: Annotated[Path | None, typer.Option(
                   help="the split parts' boundaries by new code (GeoJSON, zipped "
                   "Shapefile or GeoPackage): a split by boundaries")] = None,
               crs: Annotated[str, typer.Option(help="coordinates of the boundary file: "
                                                "wgs84 or gcj02")] = "wgs84",
               data_dir: DataDir = None) -> None:
    """Apply a change file (原代码, 原名称, 变更类型, 新代码, 新名称, 日期); one bad row and
    nothing is written."""
    from shequ.ingest.changes import read_change_file
    from shequ.services.hierarchy import apply_change_file

    try:
        changes = read_change_file(path, boundaries=boundaries, crs=crs)
    except ShequError as exc:
        raise fail(exc) from exc
    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session, session.begin():
            outcome = apply_change_file(session, None, changes, check_rights=False)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    report = outcome.report
    moved = ", ".join(f"{label} {n}" for label, n in sorted(report.moved.items())) or "none"
    console.print(f"{path.name}: applied {outcome.events} change(s) from {changes.rows} "
                  f"row(s): {report.opened} version(s) opened, {report.closed} closed; rows "
                  f"carried: {moved}")


@app.command("rename")
def rename(code: str, name: str, on: OnOption, data_dir: DataDir = None) -> None:
    """Give a unit a new name (its code stays)."""
    _run([ChangeEvent("rename", _date(on), old=(code,), new=(NewUnit(None, name),))],
         "cli: rename", data_dir)


@app.command("recode")
def recode(code: str, new_code: str, on: OnOption,
           name: Annotated[str | None, typer.Option(help="a new name too")] = None,
           data_dir: DataDir = None) -> None:
    """Give a unit a new code under the same parent (its subtree follows)."""
    _run([ChangeEvent("recode", _date(on), old=(code,), new=(NewUnit(new_code, name),))],
         "cli: recode", data_dir)


@app.command("reparent")
def reparent(code: str, on: OnOption,
             parent: Annotated[str | None, typer.Option(help="the new parent's code")] = None,
             new_code: Annotated[str | None, typer.Option(
                 "--code", help="the unit's code under its new parent (default: the "
                 "same number if free, else the next free one)")] = None,
             data_dir: DataDir = None) -> None:
    """Move a unit (and everything under it) under another parent."""
    _run([ChangeEvent("reparent", _date(on), old=(code,),
                      new=(NewUnit(new_code, None, parent=parent),))],
         "cli: reparent", data_dir)


@app.command("merge")
def merge(codes: Annotated[list[str], typer.Argument(help="the units merged")],
          into: Annotated[str, typer.Option(help="the merged unit's code (may be one of "
                                            "theirs)")],
          on: OnOption,
          name: Annotated[str | None, typer.Option(help="the merged unit's name")] = None,
          data_dir: DataDir = None) -> None:
    """Merge units of one level into one."""
    _run([ChangeEvent("merge", _date(on), old=tuple(codes), new=(NewUnit(into, name),))],
         "cli: merge", data_dir)


@app.command("split")
def split(code: str, on: OnOption,  # noqa: PLR0917 (a Typer command)
          part: Annotated[list[str], typer.Option(
              help="CODE:NAME:SHARE, once per part (the shares add up to 1); CODE:NAME "
                   "with --boundaries")],
          boundaries: Annotated[Path | None, typer.Option(
              help="the parts' boundaries by code (GeoJSON, zipped Shapefile or "
                   "GeoPackage): a split by boundaries")] = None,
          crs: Annotated[str, typer.Option(help="coordinates of the boundary file: "
                                           "wgs84 or gcj02")] = "wgs84",
          data_dir: DataDir = None) -> None:
    """Split a unit into parts, each taking its share of the people — or its boundary,
    and then the people by the residents or the area it takes."""
    shapes = {}
    if boundaries is not None:
        from shequ.ingest.boundaries import read_boundary_file

        try:
            rows, problems = read_boundary_file(boundaries, crs=crs)
        except ShequError as exc:
            raise fail(exc) from exc
        if problems:
            raise fail(ValidationError(problems))
        shapes = {row.code: row.geometry for row in rows if row.code}
    parts = []
    for text in part:
        pieces = text.split(":")
        try:
            share = float(pieces[2]) if len(pieces) > 2 or boundaries is None else None
            parts.append(NewUnit(pieces[0], pieces[1] or None, share=share,
                                 boundary=shapes.get(pieces[0].ljust(12, "0"))))
        except (IndexError, ValueError):
            raise fail(ValidationError([Problem("--part", f"{text!r} is not CODE:NAME:SHARE",
                                                hint="e.g. 130123102220:新村:0.4")])) from None
    _run([ChangeEvent("split", _date(on), old=(code,), new=tuple(parts))], "cli: split",
         data_dir)


@app.command("abolish")
def abolish(code: str, on: OnOption, data_dir: DataDir = None) -> None:
    """End a unit that holds nothing any more."""
    _run([ChangeEvent("abolish", _date(on), old=(code,))], "cli: abolish", data_dir)


@app.command("create")
def create(code: str, name: str, on: OnOption,  # noqa: PLR0917 (a Typer command)
           longitude: Annotated[float | None, typer.Option(help="representative point")] = None,
           latitude: Annotated[float | None, typer.Option(help="representative point")] = None,
           data_dir: DataDir = None) -> None:
    """Start a new unit under the parent its code names."""
    _run([ChangeEvent("create", _date(on), new=(NewUnit(code, name, longitude=longitude,
                                                        latitude=latitude),))],
         "cli: create", data_dir)


@app.command("list")
def list_command(prefix: Annotated[str, typer.Option(help="codes starting with")] = "",
                 data_dir: DataDir = None) -> None:
    """The recorded changes, newest first."""
    from shequ.services.hierarchy import list_changes

    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            total, rows = list_changes(session, prefix=prefix)
    finally:
        ctx.close()
    console.print(f"{total} change(s)")
    for row in rows:
        console.print(f"{row.effective_on}  {row.kind:9} {row.old_codes} → {row.new_codes}"
                      f"  ({row.source}, {row.recorded_by or '-'})", soft_wrap=True)
