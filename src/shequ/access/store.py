"""Adapters of the life-circle evaluator: the registry in, the ``community_access`` table out.

The evaluator (:mod:`shequ.access.lifecircle`) is pure over tables and a street network;
this module is the one of the access package that reads the registry for it
(:func:`load_region`, :func:`region_network`), runs it over the loaded region
(:func:`compute_region_access`) and stores and reads its rows
(:func:`store_community_access`, :func:`load_community_access`), as
:mod:`shequ.indicators.store` does for the indicator engine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from shequ.access.lifecircle import (
    ACCESS_SCHEMA,
    DEFAULT_MAX_SNAP_M,
    LifeCircleResult,
    evaluate_life_circles,
    require_columns,
)
from shequ.access.models import CommunityAccess
from shequ.access.network import StreetNetwork
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.registry.models import (
    MAX_PERIOD,
    MIN_PERIOD,
    Division,
    Facility,
    FacilityStatus,
    Population,
)
from shequ.registry.queries import in_service_in, meta, today, valid_on

if TYPE_CHECKING:
    from shequ.context import Context


def load_community_access(session: Session, *, prefix: str = "",
                          period: int | None = None) -> pl.DataFrame:
    """Stored ``community_access`` rows (under ``prefix``) of ``period`` (default: the
    latest year stored there), with their period and computed_at."""
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        **ACCESS_SCHEMA, "period": pl.Int64, "computed_at": pl.Datetime(time_zone=None)}
    under = CommunityAccess.division_code.startswith(prefix) if prefix else None
    if period is None:
        latest = select(func.max(CommunityAccess.period))
        period = session.scalar(latest if under is None else latest.where(under))
        if period is None:
            return pl.DataFrame(schema=schema)
    query = select(CommunityAccess.division_code, CommunityAccess.facility_type,
                   CommunityAccess.distance_m, CommunityAccess.covered_share,
                   CommunityAccess.nearest_m, CommunityAccess.period,
                   CommunityAccess.computed_at).where(CommunityAccess.period == period)
    if under is not None:
        query = query.where(under)
    rows = session.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], orient="row", schema=schema) if rows else \
        pl.DataFrame(schema=schema)


@dataclass(frozen=True, slots=True)
class RegionInputs:
    """The registry's communities (with population) and in-service facilities as tables."""

    communities: pl.DataFrame
    facilities: pl.DataFrame
    without_point: list[str]


def load_region(session: Session, *, as_of: dt.date | None = None, prefix: str = "",
                period: int | None = None) -> RegionInputs:
    """Communities (level 5, in force on ``as_of``) and their facilities with points.

    Without ``period``: the facilities in service now and each community's latest
    population.  With ``period`` (a year): the facilities that served residents that year
    (:func:`shequ.registry.queries.in_service_in`, the indicators' rule) and the latest
    population up to that year.  Communities without a representative point are listed
    in ``without_point``.
    """
    when = as_of or today()
    query = select(Division.code, Division.longitude, Division.latitude,
                   Division.urban_rural).where(valid_on(when), Division.level == 5)
    if prefix:
        query = query.where(Division.code.startswith(prefix))
    rows = session.execute(query.order_by(Division.code)).all()
    without = [r.code for r in rows if r.longitude is None or r.latitude is None]
    rows = [r for r in rows if r.longitude is not None and r.latitude is not None]
    latest = (select(Population.division_code, func.max(Population.period).label("period"))
              .group_by(Population.division_code))
    if period is not None:
        latest = latest.where(Population.period <= period)
    if prefix:
        latest = latest.where(Population.division_code.startswith(prefix))
    chosen = latest.subquery()
    population = session.execute(
        select(Population.division_code, Population.residents, Population.households,
               Population.age_60_plus, Population.age_0_2, Population.age_3_5,
               Population.age_6_14)
        .join(chosen, (Population.division_code == chosen.c.division_code)
              & (Population.period == chosen.c.period))).all()
    people = {p.division_code: p for p in population}
    communities = pl.DataFrame(
        {
            "division_code": [r.code for r in rows],
            "longitude": [r.longitude for r in rows],
            "latitude": [r.latitude for r in rows],
            "urban_rural": [r.urban_rural for r in rows],
            **{name: [getattr(people[r.code], name) if r.code in people else 0 for r in rows]
               for name in ("residents", "households", "age_60_plus", "age_0_2",
                            "age_3_5", "age_6_14")},
        },
        schema={"division_code": pl.String, "longitude": pl.Float64, "latitude": pl.Float64,
                "urban_rural": pl.String, "residents": pl.Int64, "households": pl.Int64,
                "age_60_plus": pl.Int64, "age_0_2": pl.Int64, "age_3_5": pl.Int64,
                "age_6_14": pl.Int64})
    serving = (Facility.status == FacilityStatus.IN_SERVICE.value if period is None
               else in_service_in(period))
    fquery = select(Facility.id, Facility.type_code, Facility.longitude, Facility.latitude,
                    Facility.capacity, Facility.division_code, Facility.name).where(
        serving, Facility.longitude.is_not(None), Facility.latitude.is_not(None))
    if prefix:
        fquery = fquery.where(Facility.division_code.startswith(prefix))
    frows = session.execute(fquery.order_by(Facility.id)).all()
    facilities = pl.DataFrame(
        {"id": [f.id for f in frows], "type_code": [f.type_code for f in frows],
         "longitude": [f.longitude for f in frows], "latitude": [f.latitude for f in frows],
         "capacity": [f.capacity for f in frows],
         "division_code": [f.division_code for f in frows], "name": [f.name for f in frows]},
        schema={"id": pl.Int64, "type_code": pl.String, "longitude": pl.Float64,
                "latitude": pl.Float64, "capacity": pl.Float64, "division_code": pl.String,
                "name": pl.String})
    return RegionInputs(communities, facilities, without)


def region_network(session: Session, *, network_dir: Path | None = None) -> StreetNetwork:
    """The stored street network of the loaded region (RegistryMeta ``network_dir``)."""
    folder = network_dir or (Path(meta(session)["network_dir"])
                             if "network_dir" in meta(session) else None)
    if folder is None:
        raise NotFoundError(
            "the registry records no street network (RegistryMeta network_dir); build the "
            "demo region or run `shequ access network --osm FILE --out DIR` and pass --network"
        )
    return StreetNetwork.load(folder)


def compute_region_access(ctx: Context, *, period: int | None = None,
                          as_of: dt.date | None = None, network_dir: Path | None = None,
                          prefix: str = "", walking_speed_m_per_min: float | None = None,
                          max_snap_m: float = DEFAULT_MAX_SNAP_M,
                          residences: pl.DataFrame | None = None,
                          store: bool = False) -> LifeCircleResult:
    """Evaluate the loaded region from the registry and its stored network.

    ``period`` is the year whose facilities count (default: this year); the result's
    ``meta["period"]`` says which.  ``residences`` (division_code, longitude, latitude,
    weight — e.g. buildings with their population) replace the communities'
    representative points where given.  With ``store`` the ``community_access`` rows are
    written for that year (replacing that year's earlier rows of the same communities).
    """
    year = period if period is not None else today_year()
    with ctx.sessions() as session:
        network = region_network(session, network_dir=network_dir)
        region = load_region(session, as_of=as_of, prefix=prefix, period=year)
    if region.communities.height == 0:
        raise NotFoundError(
            f"no community with a representative point under prefix {prefix!r}; load the "
            "registry (e.g. `shequ demo build`) first")
    points = None
    if residences is not None:
        given = set(residences["division_code"].cast(pl.String).to_list())
        # communities without residence points keep their representative point
        points = pl.concat([
            residences.select(pl.col("division_code").cast(pl.String),
                              pl.col("longitude").cast(pl.Float64),
                              pl.col("latitude").cast(pl.Float64),
                              pl.col("weight").cast(pl.Float64)),
            region.communities.filter(~pl.col("division_code").is_in(list(given))).select(
                "division_code", "longitude", "latitude", pl.lit(1.0).alias("weight")),
        ])
    result = evaluate_life_circles(
        network, communities=region.communities, facilities=region.facilities,
        catalog=ctx.catalog, walking_speed_m_per_min=walking_speed_m_per_min,
        max_snap_m=max_snap_m, residences=points)
    result.meta["communities_without_point"] = region.without_point
    result.meta["period"] = year
    if store:
        with ctx.sessions() as session, session.begin():
            store_community_access(session, result.community_access, period=year)
    return result


def today_year() -> int:
    """This year in the registry's calendar (China Standard Time)."""
    return today().year


def store_community_access(session: Session, table: pl.DataFrame, *, period: int,
                           computed_at: dt.datetime | None = None) -> int:
    """Write ``community_access`` rows of year ``period``, replacing that year's earlier
    rows of the same communities (other years stay).

    ``table`` has division_code, facility_type, distance_m, covered_share, nearest_m.
    Returns the number of rows written.  The caller commits.
    """
    require_columns(table, ("division_code", "facility_type", "distance_m", "covered_share",
                             "nearest_m"), "community_access")
    shares = table["covered_share"].cast(pl.Float64)
    if shares.null_count() or (shares.len() and (shares.min() < 0 or shares.max() > 1)):  # type: ignore[operator]
        raise ValidationError([Problem("community_access", "covered_share must be in 0..1")])
    when = computed_at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise ValidationError([Problem("computed_at", "must be timezone-aware")])
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        raise ValidationError([Problem("period", f"{period} is not a year in "
                                       f"{MIN_PERIOD}…{MAX_PERIOD}")])
    codes = table["division_code"].unique().to_list()
    for start in range(0, len(codes), 500):
        session.execute(delete(CommunityAccess).where(
            CommunityAccess.period == period,
            CommunityAccess.division_code.in_(codes[start:start + 500])))
    rows = [
        {"division_code": r[0], "facility_type": r[1], "distance_m": int(r[2]),
         "covered_share": float(r[3]), "nearest_m": None if r[4] is None else float(r[4]),
         "period": period, "computed_at": when}
        for r in table.select("division_code", "facility_type", "distance_m",
                              "covered_share", "nearest_m").iter_rows()
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(CommunityAccess), rows[start:start + 5000])
    return len(rows)


__all__ = [
    "RegionInputs",
    "compute_region_access",
    "load_community_access",
    "load_region",
    "region_network",
    "store_community_access",
    "today_year",
]
