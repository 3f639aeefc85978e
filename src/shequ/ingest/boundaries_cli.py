"""``shequ registry boundaries import|export``: division boundaries from and to files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from shequ.cli_support import DataDir, console, fail, load_settings
from shequ.context import Context
from shequ.errors import Problem, ShequError, ValidationError
from shequ.registry.levels import BoundaryScale

app = typer.Typer(help="Division boundaries: import (checked row by row) and export as "
                  "GeoJSON, GeoPackage or zipped Shapefile.", no_args_is_help=True)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise fail(ValidationError([Problem("--as-of", f"{text!r} is not a date",
                                            hint="write YYYY-MM-DD")])) from None


AsOf = Annotated[str | None, typer.Option(help="date (YYYY-MM-DD) the divisions are in "
                                          "force on; default today")]


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="a .geojson, .gpkg or zipped Shapefile (.zip)")],
    data_dir: DataDir = None,
    crs: Annotated[str, typer.Option(help="coordinates of the file: wgs84 or gcj02 "
                                     "(Chinese map services)")] = "wgs84",
    tolerance: Annotated[float, typer.Option(help="metres a boundary may stray outside its "
                                             "parent or into a sibling")] = 50.0,
    as_of: AsOf = None,
) -> None:
    """Import boundaries after checking every row; one bad row and nothing is written."""
    from shequ.ingest.boundaries import import_boundaries

    when = _date(as_of)
    ctx = Context.open(load_settings(data_dir))
    try:
        with ctx.sessions() as session, session.begin():
            report = import_boundaries(session, path, crs=crs, as_of=when,
                                       tolerance_m=tolerance)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(f"Stored {report.stored:,} boundaries from {path}, each whole and "
                  "simplified for three map scales.")


@app.command("export")
def export_command(  # noqa: PLR0917 (Typer options are taken by position)
    path: Annotated[Path, typer.Argument(help="a .geojson, .gpkg or .zip (Shapefile) to "
                                         "write")],
    data_dir: DataDir = None,
    division: Annotated[str | None, typer.Option(help="only this division's subtree "
                                                 "(a code or code prefix)")] = None,
    level: Annotated[int | None, typer.Option(min=1, max=5, help="only this level")] = None,
    scale: Annotated[BoundaryScale, typer.Option(help="full, or a copy simplified for "
                                                 "maps")] = BoundaryScale.FULL,
    as_of: AsOf = None,
) -> None:
    """Export stored boundaries (WGS84) with each division's code, name, level, parent
    and whether its code is official or derived; the file imports again as it is."""
    from shequ.ingest.boundaries import export_boundaries
    from shequ.registry.codes import code_prefix, level_of, normalise_code

    when = _date(as_of)
    prefix = ""
    try:
        if division:
            code = normalise_code(division, where="--division")
            prefix = code_prefix(code, level_of(code))
    except ShequError as exc:
        raise fail(exc) from exc
    ctx = Context.open(load_settings(data_dir))
    try:
        with ctx.sessions() as session:
            count = export_boundaries(session, path, prefix=prefix, level=level, as_of=when,
                                      scale=scale)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(f"Wrote {count:,} boundaries to {path}.")
