"""What the registry holds for the loaded region: divisions per level, facilities per type,
and the region's townships with their communities, residents and facilities.

Read by the home page and by ``GET /api/v1/region``, so that both count alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, ColumnExpressionArgument, func, literal_column, select
from sqlalchemy.orm import Session

from shequ.registry import queries
from shequ.registry.codes import code_prefix
from shequ.registry.models import Division, Facility, Population


@dataclass(frozen=True, slots=True)
class RegionSummary:
    """The region recorded in the registry's meta data (or everything when none is)."""

    region_code: str | None
    region_name: str | None
    synthetic: bool
    divisions_by_level: dict[int, int]
    facilities_by_type: dict[str, int]


@dataclass(frozen=True, slots=True)
class TownshipCounts:
    """One township of the region with what lies under it."""

    unit: Division
    communities: int
    facilities: int
    residents: int


def summarise_region(session: Session) -> RegionSummary:
    """Counts for the region recorded in the registry's meta data (or everything)."""
    info = queries.meta(session)
    code = info.get("region_code")
    prefix = ""
    name = None
    if code:
        unit = queries.division(session, code)
        prefix = code_prefix(unit.code, unit.level)
        name = unit.name
    by_level = queries.count_by_level(session, prefix=prefix)
    fac_query = select(Facility.type_code, func.count()).group_by(Facility.type_code)
    if prefix:
        fac_query = fac_query.where(Facility.division_code.startswith(prefix))
    by_type = {t: int(n) for t, n in session.execute(fac_query).all()}
    return RegionSummary(region_code=code, region_name=name,
                         synthetic=info.get("synthetic") == "true",
                         divisions_by_level=by_level, facilities_by_type=by_type)


def _township_of(code: ColumnExpressionArgument[str]) -> ColumnElement[str]:
    """The first nine digits of a division code (its township), with the positions as
    SQL literals: bound parameters would differ between SELECT and GROUP BY, and
    PostgreSQL refuses to group by an expression it cannot see is the same."""
    return func.substr(code, literal_column("1"), literal_column("9"))


def townships_of(session: Session, region: Division) -> list[TownshipCounts]:
    """The divisions directly under ``region`` (a county: its townships) with their
    communities, their facilities (every status) and their residents of the latest
    year recorded, grouped by the codes' first nine digits."""
    prefix = code_prefix(region.code, region.level)
    facility_township = _township_of(Facility.division_code)
    facilities: dict[str, int] = {key: int(n) for key, n in session.execute(
        select(facility_township, func.count())
        .where(Facility.division_code.startswith(prefix))
        .group_by(facility_township)).all()}
    population_township = _township_of(Population.division_code)
    residents: dict[str, int] = {key: int(n or 0) for key, n in session.execute(
        select(population_township, func.sum(Population.residents))
        .where(Population.division_code.startswith(prefix),
               Population.period == select(func.max(Population.period)).scalar_subquery())
        .group_by(population_township)).all()}
    return [TownshipCounts(unit=unit,
                           communities=len(queries.children(session, unit.code)),
                           facilities=facilities.get(unit.code[:9], 0),
                           residents=residents.get(unit.code[:9], 0))
            for unit in queries.children(session, region.code)]


__all__ = ["RegionSummary", "TownshipCounts", "summarise_region", "townships_of"]
