"""The demo county: a real county's divisions with synthetic geography, people and facilities.

Names and codes of the county, its townships and its communities and villages are real
(the national hierarchy, :mod:`shequ.ingest.national`), and so is the county seat's
coordinate.  Everything else is made up, deterministically from a seed, and labelled
synthetic: where units lie, the walking streets, population by age, workforce, and the
facilities.  Proportions follow the national figures (DOMAIN.md §4):

- every urban community has a comprehensive service facility; 59.3% of villages had one
  in 2019 and 65.7% from 2020 on (the plan's baseline), so the rural target of 80% is a
  real gap for the planners to close;
- households are residents / 2.62; people aged 60+ are 18.7% in urban and 23.8% in rural
  communities (2020 census shares), 80+ about 13% of those;
- other services (elderly day care, nurseries, health, culture, sports, convenience)
  appear in the shares of :data:`SERVICE_SHARES`, dense in the county seat and thin in
  the villages, so that life circles have visible gaps.

The county seat's streets and residents' committees form a dense street grid; each
other town or township has a small centre and villages scattered around it on roads.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from shequ.catalog import Catalog
from shequ.errors import NotFoundError
from shequ.ingest.national import (
    NATIONAL_VALID_FROM,
    DivisionRecord,
    derive_hierarchy,
    read_address_tree,
    source_label,
)
from shequ.registry.models import (
    Certification,
    Division,
    DivisionKind,
    Facility,
    FacilityStatus,
    FundingSource,
    OperatorKind,
    Population,
    Workforce,
    WorkforceRole,
)
from shequ.registry.published import read_published_codes

DEFAULT_COUNTY = "130123000000"  # 正定县, Hebei: 2 streets, 3 towns, 5 townships, 187 units
DEFAULT_SEED = 20220101
PERIODS = tuple(range(2019, 2026))
PERSONS_PER_HOUSEHOLD = 2.62
URBAN_SHARE_60_PLUS = 0.187
RURAL_SHARE_60_PLUS = 0.238
SHARE_80_OF_60 = 0.13
VILLAGE_COVERAGE_2019 = 0.593
VILLAGE_COVERAGE_2020 = 0.657

# Share of units that have at least one facility of a type: (urban community, village).
SERVICE_SHARES: dict[str, tuple[float, float]] = {
    "elderly_day_care": (0.60, 0.22),
    "community_canteen": (0.40, 0.08),
    "nursery": (0.35, 0.03),
    "kindergarten": (0.55, 0.15),
    "primary_school": (0.30, 0.20),
    "community_health_station": (0.80, 0.0),
    "village_clinic": (0.0, 0.88),
    "cultural_activity_station": (0.85, 0.70),
    "library_branch": (0.20, 0.60),
    "sports_field": (0.30, 0.10),
    "outdoor_fitness_area": (0.90, 0.88),
    "parcel_point": (0.90, 0.50),
    "recycling_point": (0.60, 0.20),
    "convenience_store": (0.95, 0.70),
    "wet_market": (0.25, 0.03),
    "government_self_service_terminal": (0.70, 0.10),
    "volunteer_service_station": (0.50, 0.20),
}

OPENING_HOURS: dict[str, str] = {
    "comprehensive_service_facility": "Mo-Fr 08:30-17:30; Sa 09:00-12:00",
    "street_service_centre": "Mo-Fr 08:30-17:30",
    "elderly_day_care": "Mo-Sa 08:00-17:30",
    "elderly_care_home": "24/7",
    "community_canteen": "Mo-Su 11:00-13:00,17:00-19:00",
    "nursery": "Mo-Fr 07:30-18:00",
    "kindergarten": "Mo-Fr 07:30-17:30",
    "primary_school": "Mo-Fr 07:30-17:00",
    "community_health_station": "Mo-Su 08:00-12:00,14:00-17:30",
    "community_health_centre": "24/7",
    "township_health_centre": "24/7",
    "village_clinic": "Mo-Su 08:00-18:00",
    "cultural_activity_station": "Tu-Su 09:00-21:00",
    "cultural_activity_centre": "Tu-Su 09:00-21:00",
    "library": "Tu-Su 09:00-17:00",
    "library_branch": "Tu-Su 09:00-17:00",
    "sports_venue": "Mo-Su 06:00-22:00",
    "sports_field": "Mo-Su 06:00-22:00",
    "outdoor_fitness_area": "24/7",
    "parcel_point": "Mo-Su 08:00-20:00",
    "recycling_point": "Mo-Sa 08:00-18:00",
    "convenience_store": "Mo-Su 07:00-23:00",
    "wet_market": "Mo-Su 06:00-19:00",
    "government_self_service_terminal": "24/7",
    "volunteer_service_station": "Sa,Su 09:00-17:00",
}

# (low, high) of capacity by type, in the type's capacity unit.
CAPACITY: dict[str, tuple[int, int]] = {
    "elderly_day_care": (20, 60), "elderly_care_home": (60, 300), "community_canteen": (30, 120),
    "nursery": (30, 120), "kindergarten": (90, 360), "primary_school": (300, 1500),
    "community_health_centre": (10, 40), "township_health_centre": (10, 60),
    "cultural_activity_station": (30, 120), "cultural_activity_centre": (200, 600),
    "library": (100, 400), "library_branch": (10, 40),
}

# Types whose floor area has a residents' activity share (50–78% of it).
ACTIVITY_TYPES = frozenset({"comprehensive_service_facility", "street_service_centre",
                            "cultural_activity_station", "cultural_activity_centre",
                            "elderly_day_care"})

# (low, high) floor area in m² by type; activity space is a share of it.
FLOOR_AREA: dict[str, tuple[float, float]] = {
    "comprehensive_service_facility": (250.0, 1200.0),
    "street_service_centre": (1500.0, 3000.0),
    "elderly_day_care": (350.0, 750.0),
    "elderly_care_home": (2000.0, 8000.0),
    "community_canteen": (150.0, 400.0),
    "nursery": (300.0, 900.0),
    "kindergarten": (1500.0, 4000.0),
    "primary_school": (6000.0, 15000.0),
    "community_health_station": (120.0, 270.0),
    "community_health_centre": (1700.0, 3000.0),
    "township_health_centre": (1500.0, 4000.0),
    "village_clinic": (60.0, 120.0),
    "cultural_activity_station": (200.0, 600.0),
    "cultural_activity_centre": (2000.0, 5000.0),
    "library": (3000.0, 6000.0),
    "library_branch": (40.0, 120.0),
    "sports_venue": (3000.0, 10000.0),
}


@dataclass(frozen=True, slots=True)
class DemoStreets:
    """The generated walking network as plain arrays (undirected edges)."""

    node_ids: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    edge_u: npt.NDArray[np.int64]
    edge_v: npt.NDArray[np.int64]
    length_m: npt.NDArray[np.float64]


@dataclass(slots=True)
class DemoCounty:
    """Everything generated for the demo county, before it is stored."""

    county: DivisionRecord
    ancestors: list[DivisionRecord]
    units: list[DivisionRecord]
    positions: dict[str, tuple[float, float]]
    areas_km2: dict[str, float]
    population: list[dict[str, Any]]
    workforce: list[dict[str, Any]]
    facilities: list[dict[str, Any]]
    streets: DemoStreets
    seed: int
    source: str = field(default="")


class _Projection:
    """Local plane (metres east/north of the county seat) ↔ WGS84, equirectangular."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        self.mx = 111_320.0 * math.cos(math.radians(lat0))
        self.my = 110_574.0

    def to_lonlat(self, x: npt.ArrayLike, y: npt.ArrayLike
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return np.round(self.lon0 + xa / self.mx, 7), np.round(self.lat0 + ya / self.my, 7)


class _StreetBuilder:
    """Accumulates nodes (local metres) and undirected edges."""

    def __init__(self) -> None:
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.edges: list[tuple[int, int]] = []

    def node(self, x: float, y: float) -> int:
        self.xs.append(x)
        self.ys.append(y)
        return len(self.xs) - 1

    def grid(self, cx: float, cy: float, *, cols: int, rows: int, spacing: float,
             rng: np.random.Generator, jitter: float = 0.0) -> npt.NDArray[np.int64]:
        """A street grid centred on (cx, cy); returns node indices shaped (rows, cols)."""
        ids = np.empty((rows, cols), dtype=np.int64)
        x0 = cx - spacing * (cols - 1) / 2
        y0 = cy - spacing * (rows - 1) / 2
        for r in range(rows):
            for c in range(cols):
                dx, dy = rng.uniform(-jitter, jitter, 2) if jitter else (0.0, 0.0)
                ids[r, c] = self.node(x0 + c * spacing + dx, y0 + r * spacing + dy)
        for r in range(rows):
            for c in range(cols):
                if c + 1 < cols:
                    self.edges.append((int(ids[r, c]), int(ids[r, c + 1])))
                if r + 1 < rows:
                    self.edges.append((int(ids[r, c]), int(ids[r + 1, c])))
        return ids

    def road(self, a: int, b: int, *, step: float, rng: np.random.Generator) -> None:
        """A road from node a to node b with intermediate nodes about every ``step`` m."""
        ax, ay, bx, by = self.xs[a], self.ys[a], self.xs[b], self.ys[b]
        length = math.hypot(bx - ax, by - ay)
        pieces = max(1, round(length / step))
        previous = a
        for i in range(1, pieces):
            t = i / pieces
            wobble = rng.uniform(-0.04, 0.04) * length * math.sin(math.pi * t)
            nx, ny = -(by - ay) / length, (bx - ax) / length
            current = self.node(ax + t * (bx - ax) + wobble * nx, ay + t * (by - ay) + wobble * ny)
            self.edges.append((previous, current))
            previous = current
        self.edges.append((previous, b))

    def nearest(self, candidates: npt.NDArray[np.int64], x: float, y: float) -> int:
        xs = np.asarray(self.xs)[candidates]
        ys = np.asarray(self.ys)[candidates]
        return int(candidates[int(np.argmin((xs - x) ** 2 + (ys - y) ** 2))])

    def finish(self, projection: _Projection) -> DemoStreets:
        lon, lat = projection.to_lonlat(self.xs, self.ys)
        edges = np.asarray(sorted({(min(u, v), max(u, v)) for u, v in self.edges if u != v}),
                           dtype=np.int64)
        xs, ys = np.asarray(self.xs), np.asarray(self.ys)
        length = np.hypot(xs[edges[:, 0]] - xs[edges[:, 1]], ys[edges[:, 0]] - ys[edges[:, 1]])
        return DemoStreets(np.arange(len(self.xs), dtype=np.int64), lon, lat,
                           edges[:, 0].copy(), edges[:, 1].copy(), np.round(length, 1))


def county_records(county_code: str) -> tuple[DivisionRecord, list[DivisionRecord],
                                               list[DivisionRecord]]:
    """The county, its ancestors and its townships and communities from the real hierarchy."""
    tree = read_address_tree()
    published = read_published_codes()
    wanted = county_code.ljust(12, "0")
    for province_name, prefectures in tree.items():
        records = list(derive_hierarchy({province_name: prefectures}, published))
        if not records or records[0].code[:2] != wanted[:2]:
            continue
        by_code = {r.code: r for r in records}
        county = by_code.get(wanted)
        if county is None or county.level != 3:
            break
        assert county.parent_code is not None  # a county always has a prefecture
        prefecture = by_code[county.parent_code]
        units = [r for r in records if r.level > 3 and r.code.startswith(wanted[:6])]
        return county, [records[0], prefecture], units
    raise NotFoundError(
        f"no county with code {wanted} in the national hierarchy; pass a county-level code "
        "such as 130123 (正定县) or a name with --county"
    )


def find_county_code(name_or_code: str) -> str:
    """A county's code from its code or its (unique) name in the national hierarchy."""
    text = name_or_code.strip()
    if text.isdigit():
        return text.ljust(12, "0")
    tree = read_address_tree()
    published = read_published_codes()
    found: list[str] = []
    for province_name, prefectures in tree.items():
        if not any(text in counties for counties in prefectures.values()):
            continue
        for record in derive_hierarchy({province_name: prefectures}, published):
            if record.level == 3 and record.name == text:
                found.append(record.code)
    if len(found) != 1:
        raise NotFoundError(
            f"county name {text!r} matches {len(found)} counties"
            + (f" ({', '.join(found)}); pass the code instead" if found else
               "; check the spelling (e.g. 正定县) or pass the code")
        )
    return found[0]


def _short_name(name: str) -> str:
    for suffix in ("社区居民委员会", "居民委员会", "村民委员会", "居委会", "村委会",
                   "街道办事处", "办事处"):
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            if suffix in ("村民委员会", "村委会") and not stem.endswith("村"):
                return stem + "村"
            if suffix in ("社区居民委员会", "居民委员会", "居委会") and not stem.endswith("社区"):
                return stem + "社区"
            return stem
    return name


@dataclass(slots=True)
class _Layout:
    """Places townships, communities and streets of the county on the local plane."""

    units: list[DivisionRecord]
    rng: np.random.Generator
    streets: _StreetBuilder = field(default_factory=_StreetBuilder)
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    areas: dict[str, float] = field(default_factory=dict)

    @property
    def townships(self) -> list[DivisionRecord]:
        return [u for u in self.units if u.level == 4]

    def members(self, township: DivisionRecord) -> list[DivisionRecord]:
        return [u for u in self.units if u.parent_code == township.code]

    def urban_townships(self) -> list[DivisionRecord]:
        """Streets, and the town with the most residents' committees (the county seat)."""
        chosen = [t for t in self.townships if t.kind == DivisionKind.STREET.value]
        towns = [t for t in self.townships if t.kind == DivisionKind.TOWN.value]
        if towns:
            seat = max(towns, key=lambda t: sum(
                c.kind == DivisionKind.RESIDENTS_COMMITTEE.value for c in self.members(t)))
            if any(c.kind == DivisionKind.RESIDENTS_COMMITTEE.value for c in self.members(seat)):
                chosen.append(seat)
        return chosen or self.townships[:1]

    def core(self, urban: list[DivisionRecord]) -> tuple[npt.NDArray[np.int64], float]:
        """One street grid for every residents' committee of the seat; returns its edge."""
        units = [c for t in urban for c in self.members(t)
                 if c.kind != DivisionKind.VILLAGERS_COMMITTEE.value]
        blocks = max(1, math.ceil(math.sqrt(len(units))))
        block_m, spacing = 560.0, 140.0
        size = blocks * round(block_m / spacing) + 1
        grid = self.streets.grid(0.0, 0.0, cols=size, rows=size, spacing=spacing,
                                 rng=self.rng, jitter=18.0)
        half = blocks * block_m / 2
        for index, unit in enumerate(units):
            row, col = divmod(index, blocks)
            self.positions[unit.code] = (-half + (col + 0.5) * block_m,
                                         -half + (row + 0.5) * block_m)
            self.areas[unit.code] = round(block_m * block_m / 1e6, 3)
        for township in urban:
            placed = [self.positions[c.code] for c in self.members(township)
                      if c.code in self.positions]
            self.positions[township.code] = (
                (float(np.mean([p[0] for p in placed])), float(np.mean([p[1] for p in placed])))
                if placed else (0.0, 0.0))
        edge = grid[:, [0, -1]].ravel().tolist() + grid[[0, -1], :].ravel().tolist()
        return np.asarray(edge, dtype=np.int64), half

    def village(self, unit: DivisionRecord, x: float, y: float, hub: int) -> int:
        """A village's lanes at (x, y), joined by road to the node ``hub``."""
        self.positions[unit.code] = (x, y)
        self.areas[unit.code] = round(float(self.rng.uniform(1.2, 4.5)), 2)
        lanes = self.streets.grid(x, y, cols=3, rows=3, spacing=110.0, rng=self.rng,
                                  jitter=15.0)
        self.streets.road(hub, int(lanes[1, 1]), step=300.0, rng=self.rng)
        return int(lanes[1, 1])

    def rural_township(self, township: DivisionRecord, index: int, count: int,
                       core_edge: npt.NDArray[np.int64]) -> None:
        """A town or township centre on a ring around the seat, villages around it."""
        rng = self.rng
        angle = 2 * math.pi * index / max(1, count) + rng.uniform(-0.25, 0.25)
        radius = rng.uniform(7_000, 16_000)
        cx, cy = radius * math.cos(angle), radius * math.sin(angle)
        self.positions[township.code] = (cx, cy)
        centre = self.streets.grid(cx, cy, cols=9, rows=9, spacing=120.0, rng=rng,
                                   jitter=12.0).ravel()
        self.streets.road(self.streets.nearest(core_edge, cx, cy),
                          self.streets.nearest(centre, 0.0, 0.0), step=400.0, rng=rng)
        members = self.members(township)
        urban = [c for c in members if c.kind != DivisionKind.VILLAGERS_COMMITTEE.value]
        for k, unit in enumerate(urban):
            self.positions[unit.code] = (cx + (k % 3 - 1) * 320.0, cy + (k // 3 % 3 - 1) * 320.0)
            self.areas[unit.code] = 0.12
        villages = [c for c in members if c.kind == DivisionKind.VILLAGERS_COMMITTEE.value]
        placed: list[tuple[float, float, int]] = []
        for k, unit in enumerate(villages):
            v_angle = 2 * math.pi * k / max(1, len(villages)) + rng.uniform(-0.3, 0.3)
            v_radius = rng.uniform(1_400, 4_800)
            vx, vy = cx + v_radius * math.cos(v_angle), cy + v_radius * math.sin(v_angle)
            middle = self.village(unit, vx, vy, self.streets.nearest(centre, vx, vy))
            # A lane to a neighbouring village makes loops, as real village roads do.
            for ox, oy, other in placed:
                if math.hypot(ox - vx, oy - vy) < 1_800:
                    self.streets.road(other, middle, step=300.0, rng=rng)
                    break
            placed.append((vx, vy, middle))

    def fringe(self, urban: list[DivisionRecord], core_edge: npt.NDArray[np.int64],
               half: float) -> None:
        """Villagers' committees under the seat's townships sit just outside the core."""
        units = [c for t in urban for c in self.members(t) if c.code not in self.positions]
        for k, unit in enumerate(units):
            angle = 2 * math.pi * k / max(1, len(units))
            vx, vy = (half + 1_500) * math.cos(angle), (half + 1_500) * math.sin(angle)
            self.village(unit, vx, vy, self.streets.nearest(core_edge, vx, vy))


def generate(county_code: str = DEFAULT_COUNTY, *, seed: int = DEFAULT_SEED,
             catalog: Catalog) -> DemoCounty:
    """Generate the demo county in memory (nothing is stored)."""
    county, ancestors, units = county_records(county_code)
    rng = np.random.default_rng(seed)
    if county.longitude is None or county.latitude is None:
        # A county without a published seat coordinate: place it at its province's.
        lon0, lat0 = ancestors[0].longitude or 116.4, ancestors[0].latitude or 39.9
    else:
        lon0, lat0 = county.longitude, county.latitude
    projection = _Projection(lon0, lat0)
    layout = _Layout(units, rng)
    urban = layout.urban_townships()
    core_edge, half = layout.core(urban)
    rural = [t for t in layout.townships if t not in urban]
    for index, township in enumerate(rural):
        layout.rural_township(township, index, len(rural), core_edge)
    layout.fringe(urban, core_edge, half)

    source = f"synthetic: shequ demo generator, seed {seed}"
    lon, lat = projection.to_lonlat([p[0] for p in layout.positions.values()],
                                    [p[1] for p in layout.positions.values()])
    demo = DemoCounty(
        county=county, ancestors=ancestors, units=units,
        positions={code: (float(x), float(y))
                   for code, x, y in zip(layout.positions, lon, lat, strict=True)},
        areas_km2=layout.areas, population=[], workforce=[], facilities=[],
        streets=layout.streets.finish(projection), seed=seed, source=source)
    _people(demo, rng)
    _FacilityMaker(demo, rng, catalog, projection).populate(layout.positions, urban)
    return demo


def _is_urban(unit: DivisionRecord) -> bool:
    return bool(unit.urban_rural and unit.urban_rural.startswith("1"))


def _people(demo: DemoCounty, rng: np.random.Generator) -> None:
    """Population per community and year, and the community workforce."""
    for unit in demo.units:
        if unit.level != 5:
            continue
        urban = _is_urban(unit)
        if unit.urban_rural == "111":
            base = int(rng.integers(5_000, 12_000))
        elif urban:
            base = int(rng.integers(2_500, 7_000))
        else:
            base = int(rng.integers(600, 2_600))
        growth = rng.uniform(0.004, 0.02) if urban else rng.uniform(-0.015, 0.002)
        share60 = (URBAN_SHARE_60_PLUS if urban else RURAL_SHARE_60_PLUS) + rng.uniform(-0.03, 0.03)
        for period in PERIODS:
            years = period - 2020
            residents = max(100, round(base * (1 + growth) ** years))
            older = share60 + 0.006 * years  # the population ages about 0.6 points a year
            age60 = round(residents * older)
            households = round(residents / (PERSONS_PER_HOUSEHOLD * rng.uniform(0.95, 1.05)))
            demo.population.append({
                "division_code": unit.code, "period": period, "residents": residents,
                "households": households,
                "age_0_2": round(residents * rng.uniform(0.022, 0.034)),
                "age_3_5": round(residents * rng.uniform(0.028, 0.040)),
                "age_6_14": round(residents * rng.uniform(0.09, 0.12)),
                "age_60_plus": age60,
                "age_80_plus": round(age60 * (SHARE_80_OF_60 + rng.uniform(-0.02, 0.02))),
                "disabled": round(residents * rng.uniform(0.045, 0.07)),
                "assisted_households": round(households * (rng.uniform(0.008, 0.02) if urban
                                                           else rng.uniform(0.03, 0.07))),
                "synthetic": True, "source": demo.source,
            })
        workers = int(rng.integers(9, 17)) if unit.urban_rural == "111" else (
            int(rng.integers(5, 10)) if urban else int(rng.integers(3, 7)))
        for period in PERIODS:
            step = 1 if period >= 2023 and urban else 0
            total = workers + step
            certified = round(total * (0.35 if urban else 0.12) + (period - 2019) * 0.3)
            certified = min(certified, total)
            for role, certification, headcount in (
                (WorkforceRole.COMMUNITY_WORKER, Certification.NONE, total - certified),
                (WorkforceRole.COMMUNITY_WORKER, Certification.ASSISTANT_SOCIAL_WORKER, certified),
                (WorkforceRole.VOLUNTEER, Certification.NONE,
                 int(rng.integers(60, 320) if urban else rng.integers(8, 60))),
            ):
                demo.workforce.append({
                    "division_code": unit.code, "period": period, "role": role.value,
                    "certification": certification.value, "headcount": headcount,
                    "synthetic": True, "source": demo.source,
                })


class _FacilityMaker:
    """Makes facility rows for the demo with the shares documented in the module."""

    def __init__(self, demo: DemoCounty, rng: np.random.Generator, catalog: Catalog,
                 projection: _Projection) -> None:
        self.demo, self.rng, self.catalog, self.projection = demo, rng, catalog, projection
        self.names = {u.code: _short_name(u.name) for u in demo.units}
        self.counter = 0

    def _operator(self, type_code: str) -> OperatorKind:
        if type_code in ("convenience_store", "parcel_point", "wet_market", "recycling_point"):
            return OperatorKind.ENTERPRISE
        if type_code in ("elderly_day_care", "community_canteen", "nursery") and \
                self.rng.random() < 0.45:
            # Social organisations run these in public rooms: "space for services".
            return OperatorKind.SOCIAL_ORGANISATION
        return OperatorKind.GOVERNMENT

    def add(self, type_code: str, division: str, where: tuple[float, float], *, name: str,
            spread: float = 150.0, status: FacilityStatus = FacilityStatus.IN_SERVICE,
            opened: dt.date | None = None, parent: str | None = None) -> str:
        """Add one facility near ``where`` (local metres); returns its external id."""
        rng = self.rng
        self.counter += 1
        ftype = self.catalog.facility_type(type_code)
        lon, lat = self.projection.to_lonlat([where[0] + rng.uniform(-spread, spread)],
                                             [where[1] + rng.uniform(-spread, spread)])
        low_high = FLOOR_AREA.get(type_code)
        floor = round(float(rng.uniform(*low_high)), 0) if low_high else None
        activity = (round(floor * float(rng.uniform(0.5, 0.78)), 0)
                    if floor is not None and type_code in ACTIVITY_TYPES else None)
        cap_range = CAPACITY.get(type_code)
        capacity = (int(rng.integers(cap_range[0], cap_range[1] + 1))
                    if cap_range and ftype.capacity_unit != "none" else None)
        operator = self._operator(type_code)
        opened_on = opened or dt.date(int(rng.integers(2008, 2019)), int(rng.integers(1, 13)), 1)
        if operator is not OperatorKind.GOVERNMENT:
            funding = FundingSource.SOCIAL_CAPITAL
        elif opened_on.year >= 2020:
            funding = FundingSource.SPECIAL_BONDS
        else:
            funding = FundingSource.LOCAL_BUDGET
        place = self.names.get(division, self.demo.county.name)
        external_id = f"demo-{self.demo.seed}-{self.counter:05d}"
        in_service = status is FacilityStatus.IN_SERVICE
        self.demo.facilities.append({
            "external_id": external_id, "type_code": type_code, "division_code": division,
            "name": name, "address": f"{self.demo.county.name}{self.names.get(division, '')}"
                                     "（合成地址 synthetic）",
            "longitude": float(lon[0]), "latitude": float(lat[0]),
            "floor_area_m2": floor, "activity_area_m2": activity, "capacity": capacity,
            "opening_hours": OPENING_HOURS.get(type_code), "status": status.value,
            "planned_on": None, "construction_started_on": None,
            "accepted_on": opened_on if in_service else None,
            "opened_on": opened_on if in_service else None, "closed_on": None,
            "investment_cny": round(floor * float(rng.uniform(2500, 4500)), -3) if floor else None,
            "funding_source": funding.value, "operator_kind": operator.value,
            "operator_name": None if operator is OperatorKind.GOVERNMENT else
            place + ("社会服务中心" if operator is OperatorKind.SOCIAL_ORGANISATION
                     else "便民服务有限公司"),
            "space_for_services": operator is OperatorKind.SOCIAL_ORGANISATION,
            "parent_external_id": parent, "phone": None, "synthetic": True,
            "source": self.demo.source,
        })
        return external_id

    def populate(self, local: dict[str, tuple[float, float]],
                 urban_townships: Sequence[DivisionRecord]) -> None:
        """County-level, township-level and community-level facilities."""
        county = self.demo.county
        seat = (0.0, 0.0)
        library = self.add("library", county.code, seat, name=f"{county.name}图书馆", spread=300)
        self.add("cultural_activity_centre", county.code, seat, name=f"{county.name}文化馆",
                 spread=400)
        self.add("sports_venue", county.code, seat, name=f"{county.name}全民健身中心",
                 spread=600)
        self.add("elderly_care_home", county.code, seat, name=f"{county.name}社会福利中心",
                 spread=900)
        for township in (u for u in self.demo.units if u.level == 4):
            self._township(township, local[township.code], urban=township in urban_townships)
        villages = [u for u in self.demo.units if u.level == 5 and not _is_urban(u)]
        order = self.rng.permutation(len(villages))
        rank = {villages[i].code: position for position, i in enumerate(order)}
        for unit in (u for u in self.demo.units if u.level == 5):
            self._community(unit, local[unit.code], rank.get(unit.code), len(villages),
                            library)
        # Drawn last, so that adding them left every earlier draw of a seed as it was.
        for township in urban_townships:
            self._street_services(township, local[township.code])

    def _township(self, township: DivisionRecord, where: tuple[float, float], *,
                  urban: bool) -> None:
        short = self.names[township.code]
        code = township.code
        if urban:
            self.add("street_service_centre", code, where, name=f"{short}综合服务中心",
                     spread=200)
            self.add("community_health_centre", code, where, name=f"{short}社区卫生服务中心",
                     spread=300)
            self.add("wet_market", code, where, name=f"{short}农贸市场", spread=400)
            return
        for type_code, label, spread in (
            ("township_health_centre", "卫生院", 150), ("primary_school", "中心小学", 200),
            ("kindergarten", "中心幼儿园", 200), ("cultural_activity_centre", "综合文化站", 150),
            ("wet_market", "集贸市场", 150),
        ):
            self.add(type_code, code, where, name=f"{short}{label}", spread=spread)
        if self.rng.random() < 0.6:
            self.add("elderly_care_home", code, where, name=f"{short}敬老院", spread=300)

    def _street_services(self, township: DivisionRecord, where: tuple[float, float]
                         ) -> None:
        """An urban street's 15-minute services besides its service and health centres.

        Each street has a culture centre; most have a care home and a sports venue, a
        short walk from the street's centre, so that some of its communities complete
        the 15-minute circle and the others show what is missing.
        """
        short = self.names[township.code]
        self.add("cultural_activity_centre", township.code, where,
                 name=f"{short}文化活动中心", spread=350)
        if self.rng.random() < 0.75:
            self.add("elderly_care_home", township.code, where, name=f"{short}养老服务中心",
                     spread=450)
        if self.rng.random() < 0.6:
            self.add("sports_venue", township.code, where, name=f"{short}全民健身中心",
                     spread=500)

    def _community(self, unit: DivisionRecord, where: tuple[float, float],
                   village_rank: int | None, villages: int, library: str) -> None:
        short = self.names[unit.code]
        urban = village_rank is None
        spread = 220.0 if urban else 140.0
        csf = "comprehensive_service_facility"
        if village_rank is None:
            self.add(csf, unit.code, where, name=f"{short}党群服务中心", spread=spread)
        elif village_rank < round(VILLAGE_COVERAGE_2019 * villages):
            self.add(csf, unit.code, where, name=f"{short}综合服务站", spread=spread)
        elif village_rank < round(VILLAGE_COVERAGE_2020 * villages):
            self.add(csf, unit.code, where, name=f"{short}综合服务站", spread=spread,
                     opened=dt.date(2020, int(self.rng.integers(3, 12)), 1))
        elif self.rng.random() < 0.15:
            self.add(csf, unit.code, where, name=f"{short}综合服务站（在建）", spread=spread,
                     status=FacilityStatus.UNDER_CONSTRUCTION)
        for type_code, (urban_share, rural_share) in SERVICE_SHARES.items():
            if self.rng.random() >= (urban_share if urban else rural_share):
                continue
            label = self.catalog.facility_type(type_code).name_zh.split("（")[0]
            self.add(type_code, unit.code, where, name=f"{short}{label}",
                     spread=spread * (1.2 if urban else 1.0),
                     parent=library if type_code == "library_branch" else None)


def store(session: Session, demo: DemoCounty) -> dict[str, int]:
    """Replace the demo county's rows in the registry with ``demo``; return row counts.

    Divisions of the county keep their real names and codes; their representative
    points are marked synthetic.  Rows of an earlier demo of the same county (same
    prefix) are removed first, so the demo can be rebuilt with another seed.
    """
    prefix = demo.county.code[:6]
    for model in (Facility, Population, Workforce):
        session.execute(delete(model).where(model.division_code.startswith(prefix)))
    session.execute(delete(Division).where(Division.code.startswith(prefix)))
    source = source_label()
    existing = {code for (code,) in session.query(Division.code).filter(
        Division.code.in_([a.code for a in demo.ancestors]))}
    rows = []
    for record in [*demo.ancestors, demo.county, *demo.units]:
        if record.code in existing:
            continue
        point = demo.positions.get(record.code)
        rows.append({
            "code": record.code, "level": record.level, "parent_code": record.parent_code,
            "name": record.name, "kind": record.kind, "urban_rural": record.urban_rural,
            "valid_from": NATIONAL_VALID_FROM, "valid_to": None,
            "code_source": record.code_source, "source": source,
            "longitude": point[0] if point else record.longitude,
            "latitude": point[1] if point else record.latitude,
            "area_km2": demo.areas_km2.get(record.code),
            "synthetic_geography": point is not None,
        })
    session.execute(insert(Division), rows)
    session.execute(insert(Population), demo.population)
    session.execute(insert(Workforce), demo.workforce)
    session.execute(insert(Facility), [
        {k: v for k, v in row.items() if k != "parent_external_id"} for row in demo.facilities
    ])
    ids: dict[str | None, int] = dict(session.execute(
        select(Facility.external_id, Facility.id).where(
            Facility.division_code.startswith(prefix))).all())
    for row in demo.facilities:
        parent = row["parent_external_id"]
        if parent:
            session.execute(update(Facility).where(Facility.external_id == row["external_id"])
                            .values(parent_id=ids[parent]))
    return {"divisions": len(rows), "population": len(demo.population),
            "workforce": len(demo.workforce), "facilities": len(demo.facilities),
            "street_nodes": int(demo.streets.node_ids.size),
            "street_edges": int(demo.streets.edge_u.size)}
