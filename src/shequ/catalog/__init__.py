"""Standards as data: facility types and life-circle tiers (indicators live in their own files).

The packaged TOML files are the defaults; a deployment puts files of the same name in
``SHEQU_CATALOG_DIR`` to replace them (configuration per province or city, not forks).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from shequ.errors import CatalogError

PACKAGED_DIR = Path(__file__).parent

SERVICE_AREAS = frozenset(
    {"elderly", "childcare", "education", "health", "culture", "sports", "convenience",
     "administration", "comprehensive"}
)
CAPACITY_UNITS = frozenset({"places", "beds", "seats", "none"})


@dataclass(frozen=True, slots=True)
class FacilityType:
    """One kind of facility: what it serves and the life circle it belongs to."""

    code: str
    name_zh: str
    name_en: str
    service_area: str
    tier: str
    capacity_unit: str
    counts_for_coverage: bool = False
    # Whether the registry keeps a floor area for it (rooms and buildings; not fields,
    # terminals or shops), so that a missing one is a gap in the records.
    records_floor_area: bool = True
    parent_type: str | None = None
    osm: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        """The name in ``lang`` (zh-CN first, anything else English)."""
        return self.name_zh if lang.startswith("zh") else self.name_en


@dataclass(frozen=True, slots=True)
class LifeCircleTier:
    """A life-circle tier: a walking distance and the facility types it must reach."""

    code: str
    name_zh: str
    name_en: str
    area: str
    minutes: float
    distance_m: float
    source: str
    required: tuple[str, ...]
    recommended: tuple[str, ...] = ()
    distance_min_m: float | None = None
    residents: tuple[int, int] | None = None
    dwellings: tuple[int, int] | None = None

    def name(self, lang: str) -> str:
        """The name in ``lang`` (zh-CN first, anything else English)."""
        return self.name_zh if lang.startswith("zh") else self.name_en


@dataclass(frozen=True, slots=True)
class Catalog:
    """The loaded standards: facility types by code and life-circle tiers by code."""

    facility_types: dict[str, FacilityType]
    tiers: dict[str, LifeCircleTier]
    walking_speed_m_per_min: float
    files: tuple[Path, ...] = field(default=())

    def facility_type(self, code: str) -> FacilityType:
        """The type with ``code``; CatalogError names the known codes if it is unknown."""
        try:
            return self.facility_types[code]
        except KeyError:
            known = ", ".join(sorted(self.facility_types))
            raise CatalogError(f"unknown facility type {code!r}; known types: {known}") from None


def catalog_file(name: str, catalog_dir: Path | None = None) -> Path:
    """The file ``name`` from the deployment's catalog folder if it has one, else packaged."""
    if catalog_dir is not None and (catalog_dir / name).is_file():
        return catalog_dir / name
    return PACKAGED_DIR / name


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a catalog TOML file, turning syntax errors into CatalogError with the place."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: {exc}; fix the TOML syntax there") from exc
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror})") from exc


def _facility_types(path: Path) -> dict[str, FacilityType]:
    data = read_toml(path)
    types: dict[str, FacilityType] = {}
    for index, entry in enumerate(data.get("type", []), start=1):
        where = f"{path}, type #{index}"
        try:
            ftype = FacilityType(
                code=str(entry["code"]),
                name_zh=str(entry["name_zh"]),
                name_en=str(entry["name_en"]),
                service_area=str(entry["service_area"]),
                tier=str(entry["tier"]),
                capacity_unit=str(entry.get("capacity_unit", "none")),
                counts_for_coverage=bool(entry.get("counts_for_coverage", False)),
                records_floor_area=bool(entry.get("records_floor_area", True)),
                parent_type=entry.get("parent_type"),
                osm=tuple(entry.get("osm", ())),
            )
        except KeyError as exc:
            raise CatalogError(f"{where}: missing key {exc.args[0]!r}") from None
        if ftype.service_area not in SERVICE_AREAS:
            raise CatalogError(
                f"{where} ({ftype.code}): service_area {ftype.service_area!r} is not one of "
                f"{', '.join(sorted(SERVICE_AREAS))}"
            )
        if ftype.capacity_unit not in CAPACITY_UNITS:
            raise CatalogError(
                f"{where} ({ftype.code}): capacity_unit {ftype.capacity_unit!r} is not one of "
                f"{', '.join(sorted(CAPACITY_UNITS))}"
            )
        if ftype.code in types:
            raise CatalogError(f"{where}: facility type {ftype.code!r} is defined twice")
        types[ftype.code] = ftype
    return types


def _tiers(path: Path, types: dict[str, FacilityType]) -> tuple[dict[str, LifeCircleTier], float]:
    data = read_toml(path)
    tiers: dict[str, LifeCircleTier] = {}
    for index, entry in enumerate(data.get("tier", []), start=1):
        where = f"{path}, tier #{index}"
        try:
            tier = LifeCircleTier(
                code=str(entry["code"]),
                name_zh=str(entry["name_zh"]),
                name_en=str(entry["name_en"]),
                area=str(entry["area"]),
                minutes=float(entry["minutes"]),
                distance_m=float(entry["distance_m"]),
                source=str(entry["source"]),
                required=tuple(entry.get("required", ())),
                recommended=tuple(entry.get("recommended", ())),
                distance_min_m=entry.get("distance_min_m"),
                residents=tuple(entry["residents"]) if "residents" in entry else None,
                dwellings=tuple(entry["dwellings"]) if "dwellings" in entry else None,
            )
        except KeyError as exc:
            raise CatalogError(f"{where}: missing key {exc.args[0]!r}") from None
        for code in tier.required + tier.recommended:
            if code not in types:
                raise CatalogError(
                    f"{where} ({tier.code}): facility type {code!r} is not in the facility "
                    "type catalog; add it there or fix the spelling"
                )
        tiers[tier.code] = tier
    return tiers, float(data.get("walking_speed_m_per_min", 80.0))


@cache
def load_catalog(catalog_dir: Path | None = None) -> Catalog:
    """Load facility types and life-circle tiers (cached per catalog folder)."""
    types_path = catalog_file("facility_types.toml", catalog_dir)
    tiers_path = catalog_file("life_circles.toml", catalog_dir)
    types = _facility_types(types_path)
    for ftype in types.values():
        if ftype.parent_type and ftype.parent_type not in types:
            raise CatalogError(
                f"{types_path} ({ftype.code}): parent_type {ftype.parent_type!r} is unknown"
            )
    tiers, speed = _tiers(tiers_path, types)
    return Catalog(types, tiers, speed, (types_path, tiers_path))


__all__ = ["Catalog", "FacilityType", "LifeCircleTier", "catalog_file", "load_catalog",
           "read_toml"]
