"""What the maps need beyond each page's own data: residents under each division.

The indicators' child map sizes a child by its residents (not by its value: a circle that
grows with the value made the failing villages the smallest dots) and colours it by its
status; this gives the residents, summed over the communities under each child from each
community's latest population up to the period shown — on the divisions of another date
when the page shows another date's hierarchy (each year's rows carried through the change
links, as the indicators are).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequ.indicators.remap import to_hierarchy
from shequ.indicators.store import load_links
from shequ.registry.codes import code_prefix
from shequ.registry.models import Population


def residents_under(session: Session, places: Iterable[tuple[str, int]], *,
                    period: int | None = None, as_of: dt.date | None = None
                    ) -> dict[str, int]:
    """Residents under each (code, level): the latest population of its communities
    (carried to the divisions in force on ``as_of`` when given; predecessors are looked
    for in the places' county)."""
    wanted = [(code, level) for code, level in places if 1 <= level <= 5]
    if not wanted:
        return {}
    prefixes = {code: code_prefix(code, level) for code, level in wanted}
    shortest = min(prefixes.values(), key=len)
    common = shortest
    for prefix in prefixes.values():  # the prefix all the places share narrows the query
        while not prefix.startswith(common):
            common = common[:-1]
    latest = select(Population.division_code,
                    func.max(Population.period).label("period")).group_by(
        Population.division_code)
    if period is not None:
        latest = latest.where(Population.period <= period)
    if as_of is not None:
        common = common[:6]  # a change may have moved a community across its town
    if common:
        latest = latest.where(Population.division_code.startswith(common))
    chosen = latest.subquery()
    rows = [(str(r[0]), int(r[1]), r[2]) for r in session.execute(
        select(Population.division_code, Population.period, Population.residents).join(
            chosen, (Population.division_code == chosen.c.division_code)
            & (Population.period == chosen.c.period))).all()]
    if as_of is not None and rows:
        table = pl.DataFrame(rows, schema={"division_code": pl.String, "period": pl.Int64,
                                           "residents": pl.Float64}, orient="row")
        moved = to_hierarchy(table, load_links(session), as_of=as_of, columns=["residents"])
        rows = [(str(code), 0, residents) for code, residents in moved.select(
            "division_code", "residents").iter_rows()]
    by_prefix: dict[str, float] = {}
    lengths = sorted({len(p) for p in prefixes.values()})
    for code, _, residents in rows:
        for length in lengths:
            by_prefix[code[:length]] = by_prefix.get(code[:length], 0.0) + float(
                residents or 0)
    return {code: round(by_prefix.get(prefix, 0)) for code, prefix in prefixes.items()}


__all__ = ["residents_under"]
