"""The published division codes that ship with Shequ's dependencies.

cpca ships the province, prefecture and county codes with their seats' coordinates;
the national hierarchy loader builds on them and the registry's rules bound imported
coordinates by them, so they are read here, below both.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from shequ.errors import ConfigurationError


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package (named by its import name)."""
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the package {package!r} is not installed; install Shequ with its dependencies "
            f"(`pip install -e .`) or `pip install {package}`"
        )
    return Path(next(iter(spec.submodule_search_locations)), *parts)


@dataclass(frozen=True, slots=True)
class PublishedCode:
    """A published 12-digit code with its name and (for most) a seat coordinate."""

    code: str
    name: str
    longitude: float | None
    latitude: float | None


def read_published_codes() -> list[PublishedCode]:
    """Province, prefecture and county codes with seat coordinates, shipped by cpca."""
    path = package_file("cpca", "resources", "adcodes.csv")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            lon, lat = row.get("longitude") or "", row.get("latitude") or ""
            rows.append(PublishedCode(row["adcode"], row["name"],
                                      float(lon) if lon else None,
                                      float(lat) if lat else None))
    return rows
