"""`shequ indicators …`: compute, show a division's dashboard, export reports, assess."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from shequ.cli_support import DataDir, console, fail, open_context
from shequ.errors import ShequError

app = typer.Typer(help="Indicators against the plan's targets: compute, show, export, assess.",
                  no_args_is_help=True)

Lang = Annotated[str, typer.Option(help="zh-CN or en")]
STATUS_STYLE = {"met": "green", "on_track": "bright_green", "at_risk": "yellow",
                "behind": "red", "no_target": "dim", "no_data": "dim"}


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"


def _jurisdiction(code: str | None) -> str:
    if code is None:
        return "—"
    return "nation" if code == "000000000000" else code


@app.command()
def compute(data_dir: DataDir = None,
            as_of: Annotated[str | None, typer.Option(
                "--as-of", "--hierarchy", help="hierarchy date YYYY-MM-DD: every year's "
                "figures on the divisions of that date (default today)")] = None,
            period: Annotated[list[int] | None, typer.Option(
                help="year to compute (repeat; default every stored year)")] = None) -> None:
    """Compute every indicator for every division, level and period, and store the run."""
    from shequ.indicators.store import compute_for_registry

    ctx = open_context(data_dir)
    try:
        when = dt.date.fromisoformat(as_of) if as_of else None
        with console.status("Computing indicators …"):
            result = compute_for_registry(ctx, as_of=when, periods=period)
    except ShequError as exc:
        raise fail(exc) from exc
    except ValueError as exc:
        raise fail(ShequError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)")) from exc
    finally:
        ctx.close()
    counts = result.status.group_by("status").len().sort("status")
    console.print(f"Run {result.run_id}: {result.results.height:,} values, as of "
                  f"{result.as_of}, periods {', '.join(map(str, result.periods))}")
    console.print("Statuses (latest period): " + ", ".join(
        f"{s} {n:,}" for s, n in counts.iter_rows()))


@app.command()
def show(code: Annotated[str, typer.Argument(help="division code, or 'nation'")],
         data_dir: DataDir = None, lang: Lang = "zh-CN",
         indicator: Annotated[str | None, typer.Option(help="indicator for children and "
                                                       "short boards")] = None,
         limit: Annotated[int, typer.Option(help="short-board rows to show")] = 10) -> None:
    """A division's dashboard in the terminal: indicators vs targets, children, short boards."""
    from shequ.indicators.definitions import load_indicator_catalog
    from shequ.indicators.views import dashboard

    ctx = open_context(data_dir)
    try:
        catalog = load_indicator_catalog(ctx.settings.catalog_dir)
        with ctx.sessions() as session:
            board = dashboard(session, catalog, code, indicator=indicator, lang=lang,
                              board_limit=limit)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    path = " › ".join(a.name for a in board.ancestors)
    console.rule(f"{board.place.name} {board.place.code}  ({board.period}; as of "
                 f"{board.run.as_of})")
    if path:
        console.print(f"[dim]{path}[/]")
    table = Table(show_lines=False)
    right = {"value", "target", "2025 proj."}
    for name in ("code", "indicator", "value", "unit", "target", "set by", "2025 proj.",
                 "status"):
        table.add_column(name, justify="right" if name in right else "left")
    for line in board.lines:
        style = STATUS_STYLE.get(line.status or "no_data", "")
        table.add_row(line.code, line.name, _fmt(line.value), line.unit,
                      _fmt(line.target), _jurisdiction(line.target_jurisdiction),
                      _fmt(line.projected), f"[{style}]{line.status or 'no_data'}[/]")
    console.print(table)
    if board.children:
        kids = Table(title=f"{board.indicator} by division below")
        for name in ("code", "name", "value", "target", "status"):
            kids.add_column(name)
        for child in board.children:
            kids.add_row(child.place.code, child.place.name, _fmt(child.value),
                         _fmt(child.target), child.status or "no_data")
        console.print(kids)
    if board.short_boards.height:
        console.print(f"[bold]Short boards ({board.indicator})[/]")
        for row in board.short_boards.iter_rows(named=True):
            console.print(f"  {row['rank']:>3}. {row['action']}")


@app.command()
def export(output: Annotated[Path, typer.Argument(help="folder for the report files")],
           data_dir: DataDir = None, lang: Lang = "zh-CN",
           division: Annotated[str, typer.Option(help="only this division's subtree")] = "",
           period: Annotated[int | None, typer.Option(help="year (default the latest)")] = None
           ) -> None:
    """Write the newest run as XLSX (one sheet per level, plus short boards) and CSV."""
    from shequ.indicators.definitions import load_indicator_catalog
    from shequ.indicators.export import data_value_sets, level_sheets, write_csv, write_xlsx
    from shequ.indicators.store import latest_run, load_divisions, load_values
    from shequ.indicators.views import latest_period, place_of, unit_short_boards
    from shequ.registry.codes import LEVEL_DIGITS

    ctx = open_context(data_dir)
    try:
        catalog = load_indicator_catalog(ctx.settings.catalog_dir)
        with ctx.sessions() as session:
            run = latest_run(session)
            year = period or latest_period(run)
            place = place_of(session, division or "nation", as_of=run.as_of)
            prefix = "" if place.level == 0 else place.code[:LEVEL_DIGITS[place.level]]
            values = load_values(session, run_id=run.id, prefix=prefix or None)
            divisions = load_divisions(session, as_of=run.as_of)
            boards = unit_short_boards(session, catalog, place, run=run, period=year,
                                       lang=lang)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    sheets = level_sheets(values, catalog, divisions=divisions, period=year, lang=lang)
    sheets["短板" if lang.startswith("zh") else "short boards"] = boards
    about = [("run", str(run.id)), ("as_of", run.as_of.isoformat()), ("period", str(year)),
             ("computed_at", run.computed_at.isoformat()),
             ("inputs_stamp", "" if run.inputs_stamp is None else run.inputs_stamp.isoformat()),
             ("catalog_digest", run.catalog_digest), ("division", place.code)]
    base = f"indicators_{place.code}_{year}"
    files = [
        write_xlsx(output / f"{base}.xlsx", sheets, about=about),
        write_csv(output / f"{base}.csv", values.filter(pl.col("period") == year)),
        write_csv(output / f"{base}_short_boards.csv", boards),
    ]
    import json

    dvs = output / f"{base}_dataValueSets.json"
    dvs.write_text(json.dumps(data_value_sets(values.filter(pl.col("period") == year)),
                              ensure_ascii=False), encoding="utf-8")
    files.append(dvs)
    for path in files:
        console.print(f"wrote {path}")


@app.command()
def assess(data_dir: DataDir = None,
           level: Annotated[int, typer.Option(help="level to assess (1–5)")] = 4,
           scheme: Annotated[Path | None, typer.Option(help="scheme TOML file")] = None,
           output: Annotated[Path | None, typer.Option(help="write scores to this XLSX")] = None
           ) -> None:
    """Score and rank the local governments of one level with the assessment scheme."""
    from shequ.indicators.assessment import assess as run_assessment
    from shequ.indicators.assessment import load_scheme, scores_frame
    from shequ.indicators.definitions import load_indicator_catalog
    from shequ.indicators.export import write_xlsx
    from shequ.indicators.store import latest_run, load_divisions, load_measure_tables, load_values
    from shequ.indicators.views import latest_period, with_direction

    ctx = open_context(data_dir)
    try:
        catalog = load_indicator_catalog(ctx.settings.catalog_dir)
        chosen = load_scheme(catalog, path=scheme, catalog_dir=ctx.settings.catalog_dir)
        with ctx.sessions() as session:
            run = latest_run(session)
            year = latest_period(run)
            values = with_direction(load_values(session, run_id=run.id, periods=[year]),
                                    catalog)
            tables = load_measure_tables(session, as_of=run.as_of, period=year)
            divisions = load_divisions(session, as_of=run.as_of)
            # residents' reviews are kept by the services layer (an edge may join both)
            from shequ.services.reviews.service import assessment_reviews

            reviews = assessment_reviews(session, chosen, period=year, level=level)
        scores = run_assessment(values, chosen, level=level, tables=tables, as_of=run.as_of,
                                period=year, reviews=reviews, divisions=divisions)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    frame = scores_frame(scores)
    table = Table(title=f"Assessment ({chosen.code}), level {level}, {year}")
    for name in ("rank", "division_code", "name", "score"):
        table.add_column(name)
    for row in frame.head(30).iter_rows(named=True):
        table.add_row(str(row["rank"]), row["division_code"], row["name"],
                      f"{row['score']:.2f}")
    console.print(table)
    if output is not None:
        write_xlsx(output, {"assessment": frame})
        console.print(f"wrote {output}")


__all__ = ["app"]
