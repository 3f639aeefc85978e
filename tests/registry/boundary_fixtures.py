"""A small hand-drawn hierarchy with boundaries shared by the boundary tests.

County 130123 is the box 114.50–114.54 E × 38.00–38.02 N; its towns are the west and east
halves, each village the south or north half of its town (0.02° × 0.01°, about
1.75 km × 1.11 km).  Points named here have hand-checked answers.
"""

from __future__ import annotations

import datetime as dt

from shapely import MultiPolygon, box
from sqlalchemy.orm import Session

from shequ.registry.boundaries import store_boundaries
from shequ.registry.models import Division

ON = dt.date(2020, 1, 1)
COUNTY = "130123000000"
WEST_TOWN, EAST_TOWN = "130123100000", "130123101000"
VILLAGES = {  # code: (town, name, box)
    "130123100201": (WEST_TOWN, "西南村", (114.50, 38.00, 114.52, 38.01)),
    "130123100202": (WEST_TOWN, "西北村", (114.50, 38.01, 114.52, 38.02)),
    "130123101201": (EAST_TOWN, "东南村", (114.52, 38.00, 114.54, 38.01)),
    "130123101202": (EAST_TOWN, "东北村", (114.52, 38.01, 114.54, 38.02)),
}
TOWNS = {WEST_TOWN: ("西镇", (114.50, 38.00, 114.52, 38.02)),
         EAST_TOWN: ("东镇", (114.52, 38.00, 114.54, 38.02))}


def shape(bounds: tuple[float, float, float, float]) -> MultiPolygon:
    """A box as the multipolygon boundaries are stored as."""
    return MultiPolygon([box(*bounds)])


def load_hierarchy(session: Session, *, with_boundaries: bool = True,
                   villages_with_boundaries: bool = True) -> dict[str, Division]:
    """The county, its two towns and four villages (points at each box's centre)."""
    units: dict[str, Division] = {}

    def add(code: str, level: int, parent: str | None, name: str, kind: str,
            bounds: tuple[float, float, float, float], source: str) -> None:
        units[code] = Division(code=code, level=level, parent_code=parent, name=name,
                               kind=kind, valid_from=ON, code_source=source, source="test",
                               longitude=(bounds[0] + bounds[2]) / 2,
                               latitude=(bounds[1] + bounds[3]) / 2)

    add(COUNTY, 3, None, "正定县", "county", (114.50, 38.00, 114.54, 38.02), "adcode")
    for code, (name, bounds) in TOWNS.items():
        add(code, 4, COUNTY, name, "town", bounds, "nbs-range")
    for code, (town, name, bounds) in VILLAGES.items():
        add(code, 5, town, name, "villagers_committee", bounds, "nbs-range")
    session.add_all(units.values())
    session.flush()
    if with_boundaries:
        shapes = [(units[COUNTY], shape((114.50, 38.00, 114.54, 38.02)))]
        shapes += [(units[c], shape(b)) for c, (_, b) in TOWNS.items()]
        if villages_with_boundaries:
            shapes += [(units[c], shape(b)) for c, (_, _, b) in VILLAGES.items()]
        store_boundaries(session, shapes, source="hand-drawn test boundaries")
    return units
