"""What the maps need beyond each page's own data: residents under each division.

The indicators' child map sizes a child by its residents (not by its value: a circle that
grows with the value made the failing villages the smallest dots) and colours it by its
status; this gives the residents, summed over the communities under each child from each
community's latest population up to the period shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequ.registry.codes import code_prefix
from shequ.registry.models import Population


def residents_under(session: Session, places: Iterable[tuple[str, int]], *,
                    period: int | None = None) -> dict[str, int]:
    """Residents under each (code, level): the latest population of its communities."""
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
    if common:
        latest = latest.where(Population.division_code.startswith(common))
    chosen = latest.subquery()
    rows = session.execute(
        select(Population.division_code, Population.residents).join(
            chosen, (Population.division_code == chosen.c.division_code)
            & (Population.period == chosen.c.period))).all()
    by_prefix: dict[str, int] = {}
    lengths = sorted({len(p) for p in prefixes.values()})
    for code, residents in rows:
        for length in lengths:
            by_prefix[code[:length]] = by_prefix.get(code[:length], 0) + int(residents or 0)
    return {code: by_prefix.get(prefix, 0) for code, prefix in prefixes.items()}


__all__ = ["residents_under"]
