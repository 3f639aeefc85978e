"""Import and export of division boundaries: GeoJSON, zipped Shapefile and GeoPackage.

A boundary file has one feature per division: its code (column ``code``, ``adcode``,
``division_code`` or ``区划代码``; 6, 9 or 12 digits), optionally its name, and a polygon
or multipolygon in WGS84 — or in GCJ-02, the obfuscated datum of Chinese map services,
converted on reading.  A file that declares another coordinate system is transformed to
WGS84 (CGCS2000, EPSG:4490, is taken as WGS84: they differ by centimetres).

Every row is checked before anything is written, as every import is: the code names a
division in force; the geometry is valid (GEOS's reason is given); each division lies
inside its parent's boundary (from the same file, else the stored one) within
``tolerance_m`` metres; siblings do not overlap by more than that.  Distances are measured
in a local azimuthal equidistant projection centred on the file.  Any problem refuses
the whole file, naming each row with all its problems.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyogrio.errors
import pyogrio.raw
import shapely
from pyproj import CRS, Transformer
from shapely import MultiPolygon, STRtree
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from shequ.errors import Problem, ValidationError
from shequ.ingest.coordinates import GCJ02, WGS84, CoordinateSystem, gcj02_to_wgs84
from shequ.ingest.formats import RawRow
from shequ.registry.boundaries import (
    BoundaryRecord,
    as_multipolygon,
    boundary_records,
    place_points,
    store_boundaries,
)
from shequ.registry.codes import normalise_code
from shequ.registry.levels import BoundaryScale, code_authority
from shequ.registry.models import Division
from shequ.registry.queries import today
from shequ.registry.rules import stored_divisions

CODE_COLUMNS = ("code", "adcode", "division_code", "区划代码", "dm")
NAME_COLUMNS = ("name", "区划名称", "名称", "mc")
DEFAULT_TOLERANCE_M = 50.0
# Coordinate systems read as WGS84 without a transform (CGCS2000 differs by centimetres).
_AS_WGS84 = {4326, 4490}


# The formats boundaries are read and written in, by suffix: the OGR driver.
DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG",
           ".zip": "ESRI Shapefile"}


class BoundaryFormat:
    """Which OGR driver reads and writes a boundary file."""

    @staticmethod
    def driver(path: Path) -> str:
        """The OGR driver for ``path``, or a ValidationError naming the accepted suffixes."""
        try:
            return DRIVERS[path.suffix.lower()]
        except KeyError:
            raise ValidationError([Problem(
                str(path), f"unknown boundary file type {path.suffix!r}",
                hint="use .geojson, .gpkg or a zipped Shapefile (.zip)",
                code="boundaries.unknown_file_type",
                params={"value": path.suffix})]) from None


# ---------------------------------------------------------------- GCJ-02


def _gcj02_offset(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The published GCJ-02 offset (degrees) of WGS84 points, zero outside China's box
    (the formula of :func:`shequ.ingest.coordinates.wgs84_to_gcj02`, over arrays)."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2 / 3
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2 / 3
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320 * np.sin(y * pi / 30.0)) * 2 / 3
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2 / 3
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2 / 3
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2 / 3
    radlat = lat / 180.0 * pi
    magic = 1 - ee * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (a / sqrtmagic * np.cos(radlat) * pi)
    inside = (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def gcj02_to_wgs84_array(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """GCJ-02 (lon, lat) rows converted to WGS84: the forward offset has no closed-form
    inverse, so it is applied iteratively until the round trip agrees to ~1e-9°."""
    lon, lat = coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(30):
        dlon, dlat = _gcj02_offset(wlon, wlat)
        errlon, errlat = wlon + dlon - lon, wlat + dlat - lat
        wlon, wlat = wlon - errlon, wlat - errlat
        if np.abs(errlon).max(initial=0) < 1e-9 and np.abs(errlat).max(initial=0) < 1e-9:
            break
    return np.column_stack([wlon, wlat])


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class BoundaryRow:
    """One feature of a boundary file: its row number (1 = first feature), code, name
    and geometry in WGS84 (None when missing or unreadable)."""

    number: int
    code: str | None
    name: str | None
    geometry: BaseGeometry | None


def _column(fields: Sequence[str], names: Sequence[str]) -> int | None:
    lowered = [f.lower() for f in fields]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _open_path(path: Path) -> str:
    return f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)


def read_boundary_file(path: Path, *, crs: CoordinateSystem = WGS84
                       ) -> tuple[list[BoundaryRow], list[Problem]]:
    """The features of ``path`` in WGS84, and the problems of reading them."""
    BoundaryFormat.driver(path)
    if crs not in (WGS84, GCJ02):
        raise ValidationError([Problem("crs", f"unknown coordinate system {crs!r}",
                                       hint="use wgs84 or gcj02")])
    source = str(path)
    try:
        meta, _fids, wkb, field_data = pyogrio.raw.read(_open_path(path))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise ValidationError([Problem(source, f"cannot be read as a boundary file: {exc}",
                                       code="boundaries.unreadable")]) from None
    fields = [str(f) for f in meta["fields"]]
    code_at = _column(fields, CODE_COLUMNS)
    if code_at is None:
        raise ValidationError([Problem(source, "no column holds the division code",
                                       hint=f"name it one of {', '.join(CODE_COLUMNS)}",
                                       code="boundaries.no_code_column")])
    name_at = _column(fields, NAME_COLUMNS)
    geometries = shapely.from_wkb(wkb, on_invalid="ignore")
    transform = _to_wgs84(meta.get("crs"), crs)
    if transform is not None:
        geometries = shapely.transform(geometries, transform)
    rows = []
    problems: list[Problem] = []
    for i, geometry in enumerate(geometries):
        raw_code = field_data[code_at][i]
        code = None
        if raw_code is not None and str(raw_code).strip():
            text = str(raw_code).strip().removesuffix(".0")
            try:
                code = normalise_code(text)
            except ValidationError:
                problems.append(Problem(source, f"{text!r} is not a division code",
                                        row=i + 1, column=fields[code_at],
                                        hint="use the 6-, 9- or 12-digit NBS code",
                                        code="boundaries.bad_code", params={"value": text}))
        else:
            problems.append(Problem(source, "no division code", row=i + 1,
                                    column=fields[code_at], code="boundaries.no_code"))
        name = field_data[name_at][i] if name_at is not None else None
        rows.append(BoundaryRow(i + 1, code, str(name) if name is not None else None,
                                geometry))
    return rows, problems


def _to_wgs84(declared: str | None, crs: CoordinateSystem
              ) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None:
    if crs == GCJ02:
        return gcj02_to_wgs84_array
    if not declared:
        return None
    given = CRS.from_user_input(declared)
    if given.to_epsg() in _AS_WGS84 or given.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    transformer = Transformer.from_crs(given, CRS.from_epsg(4326), always_xy=True)

    def transform(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return transform


# ---------------------------------------------------------------- checking


def _local_metres(shapes: Sequence[BaseGeometry]
                  ) -> Callable[[BaseGeometry], BaseGeometry]:
    """A projection of WGS84 shapes to metres, azimuthal equidistant about their centre."""
    lon0, lat0 = shapely.union_all(shapely.envelope(list(shapes))).centroid.coords[0]
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +units=m +ellps=WGS84")
    transformer = Transformer.from_crs(CRS.from_epsg(4326), local, always_xy=True)

    def project(shape: BaseGeometry) -> BaseGeometry:
        def move(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            x, y = transformer.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])
        return shapely.transform(shape, move)

    return project


@dataclass(slots=True)
class _Checked:
    row: BoundaryRow
    division: Division
    shape: MultiPolygon


def check_boundaries(session: Session, rows: Sequence[BoundaryRow], source: str, *,
                     as_of: dt.date, tolerance_m: float = DEFAULT_TOLERANCE_M
                     ) -> tuple[list[_Checked], list[Problem]]:
    """The rows that can be stored, and every problem of every row."""
    problems: list[Problem] = []
    stored = stored_divisions(session, {r.code for r in rows if r.code}, as_of)
    first_row: dict[str, int] = {}
    good: list[_Checked] = []
    for row in rows:
        division = stored.get(row.code) if row.code else None
        if row.code and division is None:
            problems.append(Problem(source, f"no division {row.code} in force on "
                                    f"{as_of.isoformat()}", row=row.number, column="code",
                                    hint="import the division first",
                                    code="boundaries.no_division",
                                    params={"value": row.code, "date": as_of.isoformat()}))
        if row.code and row.code in first_row:
            problems.append(Problem(source, f"{row.code} appears twice (first in row "
                                    f"{first_row[row.code]})", row=row.number, column="code",
                                    code="boundaries.code_twice",
                                    params={"value": row.code, "first": first_row[row.code]}))
            continue
        if row.code:
            first_row[row.code] = row.number
        shape = _polygonal(row, source, problems)
        if shape is not None and division is not None:
            good.append(_Checked(row, division, shape))
    if good:
        _check_geography(session, good, source, problems, as_of=as_of, tolerance_m=tolerance_m)
    return good, problems


def _polygonal(row: BoundaryRow, source: str, problems: list[Problem]) -> MultiPolygon | None:
    geometry = row.geometry
    if geometry is None or geometry.is_empty:
        problems.append(Problem(source, "no geometry", row=row.number, column="geometry",
                                code="boundaries.no_geometry"))
        return None
    if geometry.geom_type not in {"Polygon", "MultiPolygon"}:
        problems.append(Problem(source, f"a {geometry.geom_type} is no boundary",
                                row=row.number, column="geometry",
                                hint="give a Polygon or MultiPolygon",
                                code="boundaries.not_polygon",
                                params={"value": geometry.geom_type}))
        return None
    reason = shapely.is_valid_reason(geometry)
    if reason != "Valid Geometry":
        problems.append(Problem(source, f"invalid geometry: {reason}", row=row.number,
                                column="geometry",
                                hint="repair it (e.g. QGIS Fix geometries) and import again",
                                code="boundaries.invalid_geometry",
                                params={"reason": str(reason)}))
        return None
    return as_multipolygon(geometry)


def _check_geography(session: Session, good: list[_Checked], source: str,
                     problems: list[Problem], *, as_of: dt.date, tolerance_m: float) -> None:
    in_file = {c.division.code: c for c in good}
    parent_codes = {c.division.parent_code for c in good if c.division.parent_code}
    stored_parents = {r.code: r.shape for r in boundary_records(
        session, codes=sorted(parent_codes - set(in_file)), as_of=as_of)}
    # Stored siblings the file does not replace take part in the overlap check too.
    stored_siblings = [r for r in boundary_records(session, as_of=as_of) if r.code not in
                       in_file and r.parent_code in parent_codes] if parent_codes else []
    project = _local_metres([c.shape for c in good])
    metres = {c.division.code: project(c.shape) for c in good}
    for checked in good:
        parent = checked.division.parent_code
        if parent is None:
            continue
        parent_shape = (metres[parent] if parent in in_file else
                        project(stored_parents[parent]) if parent in stored_parents else None)
        if parent_shape is None:
            continue
        outside = shapely.difference(metres[checked.division.code],
                                     shapely.buffer(parent_shape, tolerance_m))
        if not outside.is_empty and outside.area > 0:
            problems.append(Problem(
                source, f"lies outside its parent {parent} by more than {tolerance_m:g} m "
                f"({outside.area:,.0f} m² outside)", row=checked.row.number,
                column="geometry", hint="check the code's parent, or the shapes' datum",
                code="boundaries.outside_parent",
                params={"parent": parent, "tolerance": tolerance_m,
                        "area": round(outside.area)}))
    _check_overlaps(good, metres, stored_siblings, project=project, source=source,
                    problems=problems, tolerance_m=tolerance_m)


def _check_overlaps(good: list[_Checked], metres: dict[str, BaseGeometry],
                    stored_siblings: list[BoundaryRecord], *,
                    project: Callable[[BaseGeometry], BaseGeometry], source: str,
                    problems: list[Problem], tolerance_m: float) -> None:
    """Siblings (one parent) may touch, and overlap by at most ``tolerance_m``: each
    shrunk by half of it, they may not meet."""
    by_parent: dict[str | None, list[tuple[str, int | None, BaseGeometry]]] = defaultdict(list)
    for checked in good:
        by_parent[checked.division.parent_code].append(
            (checked.division.code, checked.row.number, metres[checked.division.code]))
    for record in stored_siblings:
        by_parent[record.parent_code].append((record.code, None, project(record.shape)))
    for siblings in by_parent.values():
        if len(siblings) < 2:
            continue
        shrunk = shapely.buffer(np.asarray([s[2] for s in siblings], dtype=object),
                                -tolerance_m / 2)
        left, right = STRtree(shrunk).query(shrunk, predicate="intersects")
        for a, b in zip(left.tolist(), right.tolist(), strict=True):
            if a >= b:
                continue
            (code_a, row_a, _), (code_b, row_b, shape_b) = siblings[a], siblings[b]
            # Named on the later row of the file (a stored sibling has no row).
            row, other, other_row = ((row_b, code_a, row_a) if row_b is not None
                                     else (row_a, code_b, row_b))
            area = shapely.intersection(siblings[a][2], shape_b).area
            where = f"row {other_row}" if other_row is not None else "stored"
            problems.append(Problem(
                source, f"overlaps its sibling {other} ({where}) by more than "
                f"{tolerance_m:g} m ({area:,.0f} m² shared)", row=row, column="geometry",
                hint="the two boundaries must meet along a line, not cover the same land",
                code="boundaries.overlaps_sibling",
                params={"other": other, "where": where, "tolerance": tolerance_m,
                        "area": round(area)}))


# ---------------------------------------------------------------- import and export


@dataclass(frozen=True, slots=True)
class BoundaryImportReport:
    """What a boundary import wrote."""

    rows: int
    stored: int


def import_boundaries(session: Session, path: Path, *, crs: CoordinateSystem = WGS84,
                      as_of: dt.date | None = None, tolerance_m: float = DEFAULT_TOLERANCE_M,
                      source: str | None = None, synthetic: bool = False
                      ) -> BoundaryImportReport:
    """Check every row of ``path``, then store the boundaries in the caller's transaction.

    Raises ValidationError listing every problem of every row when any row is bad; then
    nothing is written.
    """
    when = as_of or today()
    rows, problems = read_boundary_file(path, crs=crs)
    good, more = check_boundaries(session, rows, str(path), as_of=when,
                                  tolerance_m=tolerance_m)
    problems += more
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise ValidationError(problems, summary=(
            f"{path.name}: {len(problems)} problem(s) in {len({p.row for p in problems})} "
            "row(s); nothing was written"), code="boundaries.refused",
            params={"file": path.name, "problems": len(problems),
                    "rows": len({p.row for p in problems})})
    stored = store_boundaries(session, [(c.division, c.shape) for c in good],
                              source=source or f"import: {path.name}", synthetic=synthetic)
    session.flush()
    return BoundaryImportReport(len(rows), stored)


EXPORT_FIELDS = ("code", "name", "level", "parent", "authority", "synthetic", "source")


def export_boundaries(session: Session, path: Path, *, prefix: str = "",
                      level: int | None = None, as_of: dt.date | None = None,
                      scale: BoundaryScale = BoundaryScale.FULL) -> int:
    """Write the stored boundaries under ``prefix`` (format from the suffix, WGS84);
    return how many were written.  The file imports again as it is."""
    driver = BoundaryFormat.driver(path)
    records = boundary_records(session, prefix=prefix, level=level, as_of=as_of, scale=scale)
    columns: list[npt.NDArray[Any]] = [
        np.asarray([r.code for r in records], dtype=object),
        np.asarray([r.name for r in records], dtype=object),
        np.asarray([r.level for r in records], dtype=np.int32),
        np.asarray([r.parent_code or "" for r in records], dtype=object),
        np.asarray([code_authority(r.code_source) for r in records], dtype=object),
        np.asarray([int(r.synthetic) for r in records], dtype=np.int32),
        np.asarray([r.source for r in records], dtype=object),
    ]
    wkb = np.asarray(shapely.to_wkb([r.shape for r in records]), dtype=object)
    options: dict[str, Any] = {"driver": driver, "crs": "EPSG:4326",
                               "geometry_type": "MultiPolygon", "encoding": "UTF-8"}
    if driver != "ESRI Shapefile":
        pyogrio.raw.write(str(path), wkb, columns, list(EXPORT_FIELDS), **options)
        return len(records)
    with tempfile.TemporaryDirectory() as folder:
        shp = Path(folder) / f"{path.stem}.shp"
        pyogrio.raw.write(str(shp), wkb, columns, list(EXPORT_FIELDS), **options)
        partial = path.with_suffix(".zip.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(Path(folder).iterdir()):
                archive.write(member, member.name)
        shutil.move(partial, path)
    return len(records)


# ---------------------------------------------------------------- placing imported rows


def place_facility_rows(session: Session, header: list[str], rows: Sequence[RawRow], *,
                        crs: CoordinateSystem, as_of: dt.date) -> dict[int, str]:
    """Give each facility row with coordinates and no division code the community its
    point lies in (:func:`shequ.registry.boundaries.place_points`); return each row's
    placing rule by row number ('code' for the rows that named their division).

    A row whose point no community holds or lies near keeps its empty code, so the
    import names it as every missing code is named.
    """
    rules: dict[int, str] = {}
    wanted: list[tuple[RawRow, float, float]] = []
    for row in rows:
        if row.values.get("division_code", "").strip():
            rules[row.number] = "code"
            continue
        try:
            lon = float(row.values.get("longitude", "").strip())
            lat = float(row.values.get("latitude", "").strip())
        except ValueError:
            continue
        if crs == GCJ02:
            lon, lat = gcj02_to_wgs84(lon, lat)
        wanted.append((row, lon, lat))
    if not wanted:
        return rules
    placed = place_points(session.connection(), [w[1] for w in wanted],
                          [w[2] for w in wanted], level=5, as_of=as_of)
    if "division_code" not in header:
        header.append("division_code")
    for (row, _, _), found in zip(wanted, placed, strict=True):
        if found is not None:
            row.values["division_code"] = found[0]
            rules[row.number] = found[1].value
    return rules
