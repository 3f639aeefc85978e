"""`shequ access …`: street networks, nearest facilities, life circles, 2SFCA, isochrones."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.table import Table

from shequ.cli_support import DataDir, console, fail, open_context
from shequ.errors import Problem, ShequError, ValidationError
from shequ.registry.models import MAX_PERIOD, MIN_PERIOD

if TYPE_CHECKING:
    from shequ.context import Context

app = typer.Typer(help="Walking accessibility: networks, life circles, capacity-aware access.",
                  no_args_is_help=True)

NetworkDir = Annotated[Path | None, typer.Option(
    "--network", help="A saved network folder; default: the registry's (RegistryMeta).")]
MaxSnap = Annotated[float, typer.Option(
    "--max-snap", help="Points farther than this (m) from every node are reported unsnapped.")]


def read_facilities_csv(path: Path) -> pl.DataFrame:
    """Facilities from a CSV with columns id, type, lon, lat (and optionally capacity)."""
    if not path.is_file():
        raise ValidationError([Problem(str(path), "no such file",
                                       hint="give a CSV with columns id,type,lon,lat")])
    try:
        table = pl.read_csv(path, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValidationError([Problem(str(path), f"cannot be read as CSV ({exc})")]) from exc
    missing = [c for c in ("id", "type", "lon", "lat") if c not in table.columns]
    if missing:
        raise ValidationError([Problem(str(path), f"missing column(s) {', '.join(missing)}",
                                       hint="the header must name id,type,lon,lat")])
    problems = []
    for column in ("lon", "lat"):
        values = table[column].cast(pl.Float64, strict=False)
        for row in values.is_null().arg_true().to_list()[:20]:
            problems.append(Problem(str(path), "not a number", row=row + 2, column=column))
    if problems:
        raise ValidationError(problems)
    out = table.select(
        pl.col("id").cast(pl.String), pl.col("type").alias("type_code"),
        pl.col("lon").cast(pl.Float64).alias("longitude"),
        pl.col("lat").cast(pl.Float64).alias("latitude"),
        (pl.col("capacity").cast(pl.Float64, strict=False) if "capacity" in table.columns
         else pl.lit(None, dtype=pl.Float64)).alias("capacity"))
    return out


def read_residences_csv(path: Path) -> pl.DataFrame:
    """Residence points from a CSV with division_code, lon, lat, population."""
    if not path.is_file():
        raise ValidationError([Problem(str(path), "no such file")])
    table = pl.read_csv(path, infer_schema_length=0)
    missing = [c for c in ("division_code", "lon", "lat", "population")
               if c not in table.columns]
    if missing:
        raise ValidationError([Problem(str(path), f"missing column(s) {', '.join(missing)}",
                                       hint="the header must name division_code,lon,lat,"
                                       "population")])
    out = table.select(pl.col("division_code"),
                       pl.col("lon").cast(pl.Float64, strict=False).alias("longitude"),
                       pl.col("lat").cast(pl.Float64, strict=False).alias("latitude"),
                       pl.col("population").cast(pl.Float64, strict=False).alias("weight"))
    problems = [Problem(str(path), "not a number", row=i + 2, column=column)
                for column, name in (("lon", "longitude"), ("lat", "latitude"),
                                     ("population", "weight"))
                for i in out[name].is_null().arg_true().to_list()[:20]]
    if problems:
        raise ValidationError(problems)
    return out


@app.command("network")
def network_command(
    osm: Annotated[Path | None, typer.Option("--osm", help="An .osm.pbf extract.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder to save into.")] = None,
    keep_islands: Annotated[bool, typer.Option(
        help="Keep components other than the largest (default: drop and report them).")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Build a walking network from an OSM extract, or show (and copy) the registry's."""
    from shequ.access.network import StreetNetwork

    started = time.perf_counter()
    try:
        if osm is not None:
            if out is None:
                raise ValidationError([Problem("--out", "missing",
                                               hint="say where to save the network")])
            network = StreetNetwork.from_osm(osm, largest_component=not keep_islands)
        else:
            from shequ.access.store import region_network

            ctx = open_context(data_dir)
            with ctx.sessions() as session:
                network = region_network(session)
            ctx.close()
        if out is not None:
            network.save(out)
    except ShequError as exc:
        raise fail(exc) from exc
    report = network.report
    console.print(f"Network: {network.node_count:,} nodes, {network.edge_count:,} edges "
                  f"({network.source}{', synthetic' if network.synthetic else ''}) "
                  f"in {time.perf_counter() - started:.2f} s")
    if report.get("islands_dropped"):
        console.print(f"Dropped {report['islands_dropped']:,} islands "
                      f"({report['island_nodes_dropped']:,} nodes) outside the largest "
                      "connected component")
    elif report.get("components", 1) > 1:
        console.print(f"[yellow]{report['components']} connected components kept[/]")
    if out is not None:
        console.print(f"Saved to {out}")


@app.command("nearest")
def nearest_command(
    *,
    out: Annotated[Path, typer.Option("--out", help="Output .csv or .parquet.")],
    network_dir: NetworkDir = None,
    facilities: Annotated[Path | None, typer.Option(
        "--facilities", help="CSV with id,type,lon,lat; default: the registry's in-service "
        "facilities.")] = None,
    max_distance: Annotated[float, typer.Option(
        "--max-distance", help="Search cap in metres.")] = 1000.0,
    max_snap: MaxSnap = 500.0,
    data_dir: DataDir = None,
) -> None:
    """Per network node: the walking distance to the nearest facility of each type."""
    from shequ.access.kernels import nearest_distances
    from shequ.access.lifecircle import node_table, snap_facilities, write_table
    from shequ.access.network import StreetNetwork

    try:
        if facilities is not None:
            table = read_facilities_csv(facilities)
            if network_dir is None:
                raise ValidationError([Problem("--network", "missing", hint="give the "
                                               "network folder that matches the CSV")])
            network = StreetNetwork.load(network_dir)
        else:
            from shequ.access.store import load_region, region_network

            ctx = open_context(data_dir)
            with ctx.sessions() as session:
                network = region_network(session, network_dir=network_dir)
                table = load_region(session).facilities.with_columns(pl.col("id").cast(
                    pl.String))
            ctx.close()
        started = time.perf_counter()
        located = snap_facilities(network, table, max_snap_m=max_snap)
        distances = nearest_distances(network, list(located.nodes), cap_m=max_distance)
        elapsed = time.perf_counter() - started
        write_table(node_table(network, located.types, distances), out)
    except ShequError as exc:
        raise fail(exc) from exc
    console.print(f"{network.node_count:,} nodes × {len(located.types)} types within "
                  f"{max_distance:g} m in {elapsed:.2f} s → {out}")
    if located.unsnapped.height:
        console.print(f"[yellow]{located.unsnapped.height} facilities farther than "
                      f"{max_snap:g} m from the network were left out:[/] "
                      + ", ".join(located.unsnapped["id"].cast(pl.String).to_list()[:20]))


@app.command("lifecircle")
def lifecircle_command(
    *,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for communities/divisions/community_access/nodes tables.")
    ] = None,
    network_dir: NetworkDir = None,
    walking_speed: Annotated[float | None, typer.Option(
        "--walking-speed", help="Metres per minute; tiers become minutes × speed.")] = None,
    max_snap: MaxSnap = 500.0,
    store: Annotated[bool, typer.Option(help="Write community_access to the database.")
                     ] = True,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address (tcp://…): one job per county.")] = None,
    border_m: Annotated[float, typer.Option(
        "--border", help="With --scheduler: facilities this far outside a county count.")
    ] = 3000.0,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    residences: Annotated[Path | None, typer.Option(
        "--residences", help="CSV of residence points: division_code,lon,lat,population "
        "(e.g. buildings); other communities use their representative point.")] = None,
    period: Annotated[int | None, typer.Option(
        "--period", min=MIN_PERIOD, max=MAX_PERIOD,
        help="Year whose facilities count (in service on 31 December); default this "
        "year.  Stored rows of other years stay, so each year's indicators use its own.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Evaluate the 15/10/5-minute (and rural) life circles for every community."""
    from shequ.access.lifecircle import node_table, write_table
    from shequ.access.store import compute_region_access, store_community_access

    if fmt not in ("parquet", "csv"):
        raise fail(ValidationError([Problem("--format", f"{fmt!r} is not parquet or csv")]))
    ctx = open_context(data_dir)
    started = time.perf_counter()
    try:
        if scheduler:
            from shequ.access.distributed import compute_by_county

            result = compute_by_county(ctx, scheduler=scheduler, network_dir=network_dir,
                                       border_m=border_m, max_snap_m=max_snap,
                                       walking_speed_m_per_min=walking_speed, period=period)
            if store:
                with ctx.sessions() as session, session.begin():
                    store_community_access(session, result.community_access,
                                           period=result.meta["period"])
        else:
            points = read_residences_csv(residences) if residences else None
            result = compute_region_access(ctx, network_dir=network_dir, store=store,
                                           max_snap_m=max_snap, residences=points,
                                           walking_speed_m_per_min=walking_speed,
                                           period=period)
        names = _community_names(ctx)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    elapsed = time.perf_counter() - started
    _print_report(result.communities, result.divisions, names)
    if result.unsnapped_residences.height:
        console.print(f"[yellow]{result.unsnapped_residences.height} residence points "
                      f"could not be snapped within {max_snap:g} m (counted as not covered), "
                      "in communities:[/] "
                      + ", ".join(result.unsnapped_residences["division_code"].to_list()[:20]))
    if result.unsnapped_facilities.height:
        console.print(f"[yellow]{result.unsnapped_facilities.height} facilities could not be "
                      "snapped and were left out[/]")
    if out is not None:
        communities = result.communities.with_columns(
            pl.col("division_code").replace_strict(names, default=None).alias("name"))
        if result.node_distances.size:
            from shequ.access.store import region_network

            with ctx.sessions() as session:
                network = region_network(session, network_dir=network_dir)
            write_table(node_table(network, result.types, result.node_distances),
                        out / f"nodes.{fmt}")
        write_table(communities, out / f"communities.{fmt}")
        write_table(result.divisions, out / f"divisions.{fmt}")
        write_table(result.community_access, out / f"community_access.{fmt}")
        console.print(f"Tables written to {out}")
    console.print(f"Done in {elapsed:.2f} s, facilities of {result.meta['period']}"
                  + (" (community_access stored)" if store else ""))


def _community_names(ctx: Context) -> dict[str, str]:
    from sqlalchemy import select

    from shequ.registry.models import Division

    with ctx.sessions() as session:
        rows = session.execute(select(Division.code, Division.name)).all()
    return {str(code): str(name) for code, name in rows}


def _print_report(communities: pl.DataFrame, divisions: pl.DataFrame,
                  names: dict[str, str]) -> None:
    summary = Table(title="Life circles: residents who reach every required type")
    for column in ("tier", "distance", "communities", "complete", "residents", "covered",
                   "share", "60+ covered", "0–5 covered"):
        summary.add_column(column, justify="right")
    top = divisions.filter(pl.col("level") == divisions["level"].min()) if divisions.height \
        else divisions
    for row in top.sort("distance_m", descending=True).iter_rows(named=True):
        share = row["residents_covered_share"]
        summary.add_row(row["tier"], f"{row['distance_m']} m", f"{row['communities']:,}",
                        f"{row['communities_complete']:,}", f"{row['residents']:,.0f}",
                        f"{row['residents_covered']:,.0f}",
                        "—" if share is None else f"{share:.1%}",
                        f"{row['age_60_plus_covered']:,.0f}",
                        f"{row['age_0_5_covered']:,.0f}")
    console.print(summary)
    uncovered = communities.filter(pl.col("complete_share") < 1.0)
    if uncovered.height == 0:
        console.print("Every community reaches every required type.")
        return
    worst = Table(title=f"Uncovered communities ({uncovered.height:,} community-tiers); "
                        "most residents first")
    for column in ("community", "tier", "residents not covered", "missing"):
        worst.add_column(column)
    listed = uncovered.with_columns(
        (pl.col("residents") - pl.col("residents_covered")).alias("gap")).sort(
        "gap", descending=True).head(25)
    for row in listed.iter_rows(named=True):
        worst.add_row(f"{names.get(row['division_code'], '')} {row['division_code']}",
                      row["tier"], f"{row['gap']:,.0f}",
                      ", ".join(row["missing"] + [f"{p} (part)" for p in row["partial"]]))
    console.print(worst)


@app.command("fca")
def fca_command(
    *,
    out: Annotated[Path, typer.Option("--out", help="Output .csv or .parquet.")],
    network_dir: NetworkDir = None,
    types: Annotated[str | None, typer.Option(
        "--types", help="Comma-separated facility types (default: all with capacity).")
    ] = None,
    radius: Annotated[float | None, typer.Option(
        "--radius", help="Catchment radius in metres (default: the type's tier distance).")
    ] = None,
    decay: Annotated[str, typer.Option(help="none (2SFCA) or gaussian (E2SFCA)")] = "none",
    sigma: Annotated[float | None, typer.Option(help="Gaussian width in metres")] = None,
    max_snap: MaxSnap = 500.0,
    data_dir: DataDir = None,
) -> None:
    """Capacity-aware access (2SFCA / E2SFCA) per community and facility type."""
    from shequ.access.fca import Decay, fca_by_type
    from shequ.access.lifecircle import write_table
    from shequ.access.store import load_region, region_network

    ctx = open_context(data_dir)
    try:
        if decay not in {d.value for d in Decay}:
            raise ValidationError([Problem("--decay", f"{decay!r} is not none or gaussian")])
        with ctx.sessions() as session:
            network = region_network(session, network_dir=network_dir)
            region = load_region(session)
        chosen = types.split(",") if types else sorted(
            set(region.facilities.filter(pl.col("capacity") > 0)["type_code"].to_list()))
        for code in chosen:
            ctx.catalog.facility_type(code)
        table = fca_by_type(network, communities=region.communities,
                            facilities=region.facilities, catalog=ctx.catalog, types=chosen,
                            radius_m=radius, decay=decay, sigma_m=sigma, max_snap_m=max_snap)
        write_table(table, out)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    summary = table.group_by("facility_type", "demand_column").agg(
        pl.col("demand").sum(), (pl.col("access") * pl.col("demand")).sum().alias("served"),
        (pl.col("access") == 0).sum().alias("no_access")).sort("facility_type")
    view = Table(title="Capacity-aware access (places per person in need)")
    for column in ("type", "demand", "people", "mean access", "communities without"):
        view.add_column(column)
    for row in summary.iter_rows(named=True):
        mean = row["served"] / row["demand"] if row["demand"] else 0.0
        view.add_row(row["facility_type"], row["demand_column"], f"{row['demand']:,.0f}",
                     f"{mean:.4f}", str(row["no_access"]))
    console.print(view)
    console.print(f"Written to {out}")


@app.command("isochrones")
def isochrones_command(
    *,
    out: Annotated[Path, typer.Option("--out", help="Output .geojson")],
    network_dir: NetworkDir = None,
    type_code: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    distance: Annotated[list[float] | None, typer.Option(
        "--distance", help="Walking distance(s) in metres (repeat the option).")] = None,
    max_snap: MaxSnap = 500.0,
    data_dir: DataDir = None,
) -> None:
    """Catchment polygons of the registry's in-service facilities as GeoJSON."""
    from shequ.access.isochrones import isochrones_geojson
    from shequ.access.lifecircle import snap_facilities
    from shequ.access.store import load_region, region_network

    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            network = region_network(session, network_dir=network_dir)
            facilities = load_region(session).facilities
        if type_code:
            ctx.catalog.facility_type(type_code)
            facilities = facilities.filter(pl.col("type_code") == type_code)
        located = snap_facilities(network, facilities, max_snap_m=max_snap, types=None)
        groups, props = [], []
        for code, nodes, rows in zip(located.types, located.nodes, located.rows, strict=True):
            for node, row in zip(nodes.tolist(), rows.tolist(), strict=True):
                groups.append([node])
                props.append({"facility_id": int(facilities["id"][row]), "type": code,
                              "name": facilities["name"][row]})
        collection = isochrones_geojson(network, sources=groups, properties=props,
                                        distances_m=distance or [1000.0])
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    console.print(f"{len(collection['features'])} isochrones → {out}")
