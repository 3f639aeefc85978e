"""Division boundaries: which polygon holds each point (the pure core), and where the
registry keeps the polygons (the adapters below it).

The core takes coordinate arrays and shapely polygons and answers with row numbers, so a
split "by boundaries", the placing of requests and facilities and the benchmark all ask
the same function.  A point on an edge shared by two polygons belongs to the one listed
first (the lower index), so every point gets exactly one answer whatever the order the
spatial index visits them in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely import MultiPolygon, STRtree
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Select, delete, insert, select, text
from sqlalchemy.orm import Session

from shequ.registry.levels import SCALE_TOLERANCE_M, BoundaryScale, PlacedBy, code_authority
from shequ.registry.models import Division, DivisionBoundary, DivisionChange
from shequ.registry.queries import today, valid_on

# The index ``assign_points`` gives a point that no polygon holds.
OUTSIDE = -1
# Metres in a degree of latitude (the simplification tolerances are given in metres).
METRES_PER_DEGREE = 111_320.0
SRID = 4326
# Up to this many points, PostgreSQL locates them in PostGIS; more are assigned in process.
POSTGIS_POINTS = 10_000


def assign_points(xs: npt.ArrayLike, ys: npt.ArrayLike,
                  polygons: Sequence[BaseGeometry] | npt.NDArray[np.object_] | STRtree
                  ) -> npt.NDArray[np.int64]:
    """The index of the polygon holding each point (``x``, ``y``), or ``OUTSIDE`` (-1).

    A point holds when the polygon *covers* it (interior or boundary); a point covered by
    several polygons (on a shared edge, or where polygons overlap) gets the lowest index.
    ``polygons`` may also be a :class:`shapely.STRtree` (its geometries are used).

    Vectorised in two steps: the candidates of each point are the polygons whose box
    holds it, found with numpy through a uniform grid of the polygons' boxes (no point
    geometry is built); then each candidate is tested by counting the polygon's edges
    that cross a ray from the point, in numpy, for polygons of up to ``NUMPY_EDGES``
    edges — a point within rounding of an edge, and larger polygons, are tested by GEOS
    on the prepared polygon (``shapely.intersects_xy``).  A million points into 100,000
    polygons takes under two seconds of CPU (bench/README.md).

    >>> from shapely import box
    >>> assign_points([0.5, 1.5, 5.0], [0.5, 0.5, 5.0], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
    array([ 0,  1, -1])
    """
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"xs and ys must be 1-D arrays of one length, not {x.shape} and "
                         f"{y.shape}")
    shapes = np.asarray(polygons.geometries if isinstance(polygons, STRtree) else polygons,
                        dtype=object)
    out = np.full(x.shape[0], OUTSIDE, dtype=np.int64)
    if x.shape[0] == 0 or shapes.size == 0:
        return out
    point_rows, polygon_rows = _box_candidates(x, y, shapes)
    if point_rows.size == 0:
        return out
    hit = _covers(shapes, x, y, point_rows, polygon_rows)
    point_rows, polygon_rows = point_rows[hit], polygon_rows[hit]
    # Lowest polygon index per point.
    lowest = np.full(x.shape[0], shapes.size, dtype=np.int64)
    np.minimum.at(lowest, point_rows, polygon_rows)
    found = lowest < shapes.size
    out[found] = lowest[found]
    return out


# Polygons of up to this many edges are tested in numpy (ray crossing); larger ones by GEOS,
# whose prepared polygons index their edges.
NUMPY_EDGES = 64
# Pairs tested in numpy at once (bounds the memory: a row per pair and edge).
_PAIRS_PER_ROUND = 200_000


def _covers(shapes: npt.NDArray[np.object_], x: npt.NDArray[np.float64],
            y: npt.NDArray[np.float64], point_rows: npt.NDArray[np.int64],
            polygon_rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Whether each candidate polygon covers its point (interior or boundary)."""
    ax, ay, bx, by, first, count = _edges(shapes)
    polygonal = np.isin(shapely.get_type_id(shapes), (3, 6)) & (count > 0)
    small = np.flatnonzero((count[polygon_rows] <= NUMPY_EDGES) & polygonal[polygon_rows])
    covered = np.zeros(point_rows.size, dtype=bool)
    unsure = np.ones(point_rows.size, dtype=bool)
    # "near an edge": within rounding of its line, for coordinates of this size
    span = max(1.0, float(np.abs(np.concatenate([ax, ay])).max())) if ax.size else 1.0
    tolerance = 1e-12 * span
    for start in range(0, small.size, _PAIRS_PER_ROUND):
        pairs = small[start:start + _PAIRS_PER_ROUND]
        points, polygons = point_rows[pairs], polygon_rows[pairs]
        edges_of = count[polygons]
        pair = np.repeat(np.arange(pairs.size), edges_of)
        edge = (np.repeat(first[polygons] - np.cumsum(edges_of) + edges_of, edges_of)
                + np.arange(pair.size))
        px, py = x[points][pair], y[points][pair]
        x0, y0, x1, y1 = ax[edge], ay[edge], bx[edge], by[edge]
        cross = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
        # the edge crosses the horizontal ray to the right of the point (half-open in y)
        right = ((y0 > py) != (y1 > py)) & ((cross > 0) == (y1 > y0))
        near = ((np.abs(cross) <= tolerance * (np.abs(x1 - x0) + np.abs(y1 - y0)))
                & (np.minimum(x0, x1) - tolerance <= px)
                & (px <= np.maximum(x0, x1) + tolerance)
                & (np.minimum(y0, y1) - tolerance <= py)
                & (py <= np.maximum(y0, y1) + tolerance))
        covered[pairs] = np.bincount(pair, weights=right, minlength=pairs.size) % 2 == 1
        unsure[pairs] = np.bincount(pair, weights=near, minlength=pairs.size) > 0
    check = np.flatnonzero(unsure)
    if check.size:
        shapely.prepare(shapes)
        # For a point, "intersects" is "covered by" (interior or boundary).
        covered[check] = shapely.intersects_xy(shapes[polygon_rows[check]],
                                               x[point_rows[check]], y[point_rows[check]])
    return covered


def _edges(shapes: npt.NDArray[np.object_]) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
        npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every ring edge of the polygons (start x, y, end x, y), grouped by polygon, with
    each polygon's first edge and edge count."""
    parts, part_of = shapely.get_parts(shapes, return_index=True)
    polygons = shapely.get_type_id(parts) == 3
    parts, part_of = parts[polygons], part_of[polygons]
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, vertex_of = shapely.get_coordinates(rings, return_index=True)
    same = vertex_of[:-1] == vertex_of[1:]
    start, end = coords[:-1][same], coords[1:][same]
    polygon = part_of[ring_of[vertex_of[:-1][same]]]
    count = np.bincount(polygon, minlength=shapes.size).astype(np.int64)
    first = np.cumsum(count) - count
    return start[:, 0], start[:, 1], end[:, 0], end[:, 1], first, count


# A polygon's box spread over more grid cells than this many per polygon on average makes
# the grid a poor index (very unequal sizes): the STRtree finds the candidates instead.
_GRID_CELLS_PER_POLYGON = 16


def _box_candidates(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
                    shapes: npt.NDArray[np.object_]
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pairs (point row, polygon row) where the polygon's box holds the point.

    The polygons' boxes are listed under every cell of a √n × √n grid they meet; a
    point's candidates are the polygons listed under its cell whose box holds it.
    """
    bounds = shapely.bounds(shapes)
    usable = np.flatnonzero(~np.isnan(bounds[:, 0]))
    empty = np.empty(0, dtype=np.int64)
    if usable.size == 0:
        return empty, empty
    b = bounds[usable]
    x0, y0 = float(b[:, 0].min()), float(b[:, 1].min())
    x1, y1 = float(b[:, 2].max()), float(b[:, 3].max())
    side = max(1, int(np.sqrt(usable.size)))
    width = (x1 - x0) / side or 1.0
    height = (y1 - y0) / side or 1.0

    def column(v: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.clip(((v - x0) / width).astype(np.int64), 0, side - 1)

    def row(v: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.clip(((v - y0) / height).astype(np.int64), 0, side - 1)

    i0, i1, j0, j1 = column(b[:, 0]), column(b[:, 2]), row(b[:, 1]), row(b[:, 3])
    across = i1 - i0 + 1
    cells_of = across * (j1 - j0 + 1)
    total = int(cells_of.sum())
    if total > _GRID_CELLS_PER_POLYGON * usable.size + 1_000_000:
        tree = STRtree(shapes)
        finite = np.isfinite(x) & np.isfinite(y)
        pairs = tree.query(shapely.points(x[finite], y[finite]))
        return np.flatnonzero(finite)[pairs[0]], pairs[1].astype(np.int64)
    # every (grid cell, polygon) entry, sorted by cell, with each cell's first entry
    step = np.arange(total) - np.repeat(np.cumsum(cells_of) - cells_of, cells_of)
    wide = np.repeat(across, cells_of)
    cell = ((np.repeat(j0, cells_of) + step // wide) * side
            + np.repeat(i0, cells_of) + step % wide)
    order = np.argsort(cell, kind="stable")
    listed = usable[np.repeat(np.arange(usable.size), cells_of)[order]]
    starts = np.searchsorted(cell[order], np.arange(side * side + 1))
    # each point against the entries of its cell
    inside = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    point_cell = row(y[inside]) * side + column(x[inside])
    count = starts[point_cell + 1] - starts[point_cell]
    points = np.repeat(inside, count)
    entry = (np.repeat(starts[point_cell], count)
             + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    candidates = listed[entry]
    px, py = x[points], y[points]
    holds = ((bounds[candidates, 0] <= px) & (bounds[candidates, 2] >= px)
             & (bounds[candidates, 1] <= py) & (bounds[candidates, 3] >= py))
    return points[holds], candidates[holds].astype(np.int64)


# ---------------------------------------------------------------- shapes


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    """A polygon or multipolygon as a multipolygon (what the boundary column holds)."""
    if isinstance(geometry, MultiPolygon):
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type == "Polygon"]
    return MultiPolygon(parts)


def simplified(shapes: Sequence[MultiPolygon], tolerance_m: float, *,
               tiled: bool | None = None) -> list[MultiPolygon]:
    """``shapes`` simplified for a map, keeping shared edges shared when they tile.

    Neighbours simplified one by one open gaps and overlaps along their common edges, so
    shapes that tile (``tiled``, checked when not given) are simplified together as a
    coverage (GEOS coverage simplification); others one by one, topology kept.  A shape
    that would come out empty or invalid stays as it was.
    """
    if not shapes:
        return []
    tolerance = tolerance_m / METRES_PER_DEGREE
    array = np.asarray(shapes, dtype=object)
    if tiled is None:
        tiled = bool(shapely.coverage_is_valid(array))
    result = (shapely.coverage_simplify(array, tolerance) if tiled
              else shapely.simplify(array, tolerance, preserve_topology=True))
    # Polygons back to multipolygons; empty or invalid results keep the original shape.
    single = shapely.get_type_id(result) == 3
    result[single] = shapely.multipolygons(result[single, np.newaxis])
    bad = (shapely.get_type_id(result) != 6) | shapely.is_empty(result) | \
        ~shapely.is_valid(result)
    result[bad] = array[bad]
    return list(result)


def _ewkb(shape: MultiPolygon) -> bytes:
    return bytes(shapely.to_wkb(shapely.set_srid(shape, SRID), include_srid=True))


def _shape(blob: bytes) -> MultiPolygon:
    return as_multipolygon(shapely.from_wkb(blob))


# ---------------------------------------------------------------- storing


@dataclass(frozen=True, slots=True)
class BoundaryRecord:
    """One stored boundary with its division's identity (for maps and exports)."""

    code: str
    name: str
    level: int
    parent_code: str | None
    code_source: str
    synthetic: bool
    source: str
    shape: MultiPolygon

    @property
    def authority(self) -> str:
        """``official`` or ``derived`` (:func:`shequ.registry.levels.code_authority`)."""
        return code_authority(self.code_source)


def store_boundaries(session: Session, shapes: Iterable[tuple[Division, MultiPolygon]], *,
                     source: str, synthetic: bool = False) -> int:
    """Store each division version's boundary and its simplified copies, replacing what
    it held; return how many boundaries were stored.  Writes in the caller's transaction.
    """
    pairs = list(shapes)
    if not pairs:
        return 0
    ids = [division.id for division, _ in pairs]
    for start in range(0, len(ids), 5000):
        session.execute(delete(DivisionBoundary).where(
            DivisionBoundary.division_id.in_(ids[start:start + 5000])))
    copies: dict[BoundaryScale, list[MultiPolygon]] = {
        BoundaryScale.FULL: [shape for _, shape in pairs]}
    # Simplified per level, so that siblings (one level) form a coverage.
    levels = np.asarray([division.level for division, _ in pairs])
    groups = [np.flatnonzero(levels == level) for level in np.unique(levels)]
    tiled = [bool(shapely.coverage_is_valid(np.asarray([pairs[i][1] for i in rows],
                                                       dtype=object))) for rows in groups]
    for scale, tolerance in SCALE_TOLERANCE_M.items():
        copy: list[MultiPolygon] = [MultiPolygon()] * len(pairs)
        for rows, tiles in zip(groups, tiled, strict=True):
            thin = simplified([pairs[i][1] for i in rows], tolerance, tiled=tiles)
            for row, shape in zip(rows, thin, strict=True):
                copy[row] = shape
        copies[scale] = copy
    values = []
    for scale, shapes_at_scale in copies.items():
        for (division, _), shape in zip(pairs, shapes_at_scale, strict=True):
            min_lon, min_lat, max_lon, max_lat = shape.bounds
            values.append({"division_id": division.id, "code": division.code,
                           "scale": scale.value, "shape": _ewkb(shape),
                           "min_lon": min_lon, "min_lat": min_lat, "max_lon": max_lon,
                           "max_lat": max_lat, "synthetic": synthetic, "source": source})
    session.execute(insert(DivisionBoundary), values)
    return len(pairs)


def _records_query(as_of: dt.date, scale: BoundaryScale
                   ) -> Select[str, str, int, str | None, str, bool, str, bytes]:
    return (select(Division.code, Division.name, Division.level, Division.parent_code,
                   Division.code_source, DivisionBoundary.synthetic, DivisionBoundary.source,
                   DivisionBoundary.shape)
            .join(DivisionBoundary, DivisionBoundary.division_id == Division.id)
            .where(valid_on(as_of), DivisionBoundary.scale == scale.value)
            .order_by(Division.code))


def boundary_records(session: Session, *, codes: Sequence[str] | None = None,
                     parent_code: str | None = None, level: int | None = None,
                     prefix: str = "", as_of: dt.date | None = None,
                     scale: BoundaryScale = BoundaryScale.FULL) -> list[BoundaryRecord]:
    """The boundaries of the division versions in force on ``as_of`` (default today)
    that match: given codes, children of ``parent_code``, a level, a code prefix."""
    query = _records_query(as_of or today(), scale)
    if codes is not None:
        query = query.where(Division.code.in_(list(codes)))
    if parent_code is not None:
        query = query.where(Division.parent_code == parent_code)
    if level is not None:
        query = query.where(Division.level == level)
    if prefix:
        query = query.where(Division.code.startswith(prefix))
    return [BoundaryRecord(r.code, r.name, r.level, r.parent_code, r.code_source,
                           r.synthetic, r.source, _shape(r.shape))
            for r in session.execute(query)]


def has_boundaries(connection: Connection, *, level: int = 5,
                   as_of: dt.date | None = None) -> bool:
    """Whether any division of ``level`` in force holds a boundary."""
    when = as_of or today()
    query = (select(DivisionBoundary.id)
             .join(Division, DivisionBoundary.division_id == Division.id)
             .where(valid_on(when), Division.level == level,
                    DivisionBoundary.scale == BoundaryScale.FULL.value).limit(1))
    return connection.execute(query).first() is not None


def carry_boundaries(session: Session, event_ids: Sequence[int], *, source: str) -> int:
    """Boundaries for the division versions a batch of changes opened without one, from
    the versions they continue: a renamed, re-coded or re-parented unit (and every unit
    of a subtree that moved with it) keeps its predecessor's boundary; a merged unit gets
    the union of its predecessors' (when each has one).  A split's parts have boundaries
    only when the split brought them.  Dates in order, so a chain of changes in one batch
    carries the shape along; returns how many boundaries were stored."""
    if not event_ids:
        return 0
    links = session.execute(
        select(DivisionChange.predecessor_code, DivisionChange.successor_code,
               DivisionChange.effective_on)
        .where(DivisionChange.event_id.in_(list(event_ids)),
               DivisionChange.successor_code.is_not(None), DivisionChange.event != "split")
        .order_by(DivisionChange.effective_on)).all()
    by_date: dict[dt.date, dict[str, list[str]]] = {}
    for predecessor, successor, on in links:
        by_date.setdefault(on, {}).setdefault(str(successor), []).append(str(predecessor))
    stored = 0
    for on, groups in sorted(by_date.items()):
        codes = sorted({c for preds in groups.values() for c in preds} | set(groups))
        versions: dict[tuple[str, str], Division] = {}
        for start in range(0, len(codes), 900):
            for division in session.scalars(select(Division).where(
                    Division.code.in_(codes[start:start + 900]),
                    (Division.valid_from == on) | (Division.valid_to == on))):
                versions[(division.code, "new" if division.valid_from == on else "old")] = \
                    division
        ids = [v.id for v in versions.values()]
        shapes: dict[int, tuple[MultiPolygon, bool]] = {}
        for start in range(0, len(ids), 900):
            for row in session.execute(select(DivisionBoundary.division_id,
                                              DivisionBoundary.shape,
                                              DivisionBoundary.synthetic)
                                       .where(DivisionBoundary.division_id.in_(
                                           ids[start:start + 900]),
                                           DivisionBoundary.scale == BoundaryScale.FULL.value)):
                shapes[int(row[0])] = (_shape(row[1]), bool(row[2]))
        pairs: dict[bool, list[tuple[Division, MultiPolygon]]] = {True: [], False: []}
        for successor, predecessors in groups.items():
            new = versions.get((successor, "new"))
            olds = [versions.get((code, "old")) for code in predecessors]
            if new is None or new.id in shapes or any(o is None or o.id not in shapes
                                                      for o in olds):
                continue
            found = [shapes[o.id] for o in olds if o is not None]
            merged = as_multipolygon(shapely.union_all([f[0] for f in found]))
            pairs[all(f[1] for f in found)].append((new, merged))
        for synthetic, chosen in pairs.items():
            stored += store_boundaries(session, chosen, source=source[:200],
                                       synthetic=synthetic)
    return stored


# ---------------------------------------------------------------- locating points

_LOCATE_POSTGIS = text("""
SELECT p.i AS i, hit.code AS code
FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, i)
CROSS JOIN LATERAL (
    SELECT d.code FROM division_boundary b JOIN division d ON d.id = b.division_id
    WHERE b.scale = 'full' AND d.level = :level AND d.valid_from <= :when
      AND (d.valid_to IS NULL OR d.valid_to > :when)
      AND ST_Covers(b.shape, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))
    ORDER BY d.code LIMIT 1) AS hit
""")


def locate_points(connection: Connection, xs: npt.ArrayLike, ys: npt.ArrayLike, *,
                  level: int = 5, as_of: dt.date | None = None) -> list[str | None]:
    """The code of the division of ``level`` in force whose boundary holds each point,
    or None; on a shared edge the lowest code.

    On PostgreSQL, up to ``POSTGIS_POINTS`` points are found by PostGIS itself (the GiST
    index, then ``ST_Covers``).  More points, and every call on SQLite, read the
    boundaries whose box meets the points' box (by the GiST index on PostgreSQL, by the
    box columns on SQLite) and assign in process with :func:`assign_points`.  Assigning a
    million points all in PostGIS — copied into a table with its own GiST index and
    joined to the boundaries — took about ten times as long (bench/README.md).
    """
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    when = as_of or today()
    found: list[str | None] = [None] * x.size
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any():
        return found
    postgres = connection.dialect.name == "postgresql"
    if postgres and x.size <= POSTGIS_POINTS:
        for row in connection.execute(_LOCATE_POSTGIS, {
                "xs": x.tolist(), "ys": y.tolist(), "level": level, "when": when}):
            found[int(row.i) - 1] = str(row.code)
        return found
    box = (float(x[finite].min()), float(y[finite].min()), float(x[finite].max()),
           float(y[finite].max()))
    query = (select(Division.code, DivisionBoundary.shape)
             .join(Division, DivisionBoundary.division_id == Division.id)
             .where(valid_on(when), Division.level == level,
                    DivisionBoundary.scale == BoundaryScale.FULL.value)
             .order_by(Division.code))
    if postgres:
        query = query.where(text("division_boundary.shape && ST_MakeEnvelope("
                                 ":x0, :y0, :x1, :y1, 4326)").bindparams(
            x0=box[0], y0=box[1], x1=box[2], y1=box[3]))
    else:
        query = query.where(DivisionBoundary.min_lon <= box[2],
                            DivisionBoundary.max_lon >= box[0],
                            DivisionBoundary.min_lat <= box[3],
                            DivisionBoundary.max_lat >= box[1])
    rows = connection.execute(query).all()
    if not rows:
        return found
    # the codes with None last, so that OUTSIDE (-1) picks None
    codes = np.asarray([str(r.code) for r in rows] + [None], dtype=object)
    shapes = shapely.from_wkb([r.shape for r in rows])
    located: list[str | None] = codes[assign_points(x, y, shapes)].tolist()
    return located


def locate_point(connection: Connection, lon: float, lat: float, *, level: int = 5,
                 as_of: dt.date | None = None) -> str | None:
    """The code of the division of ``level`` whose boundary holds (lon, lat), or None."""
    return locate_points(connection, [lon], [lat], level=level, as_of=as_of)[0]


# How far (degrees) the nearest representative point may be when no boundary holds a point.
NEAREST_WITHIN_DEG = 2.0


def place_points(connection: Connection, xs: npt.ArrayLike, ys: npt.ArrayLike, *,
                 level: int = 5, as_of: dt.date | None = None
                 ) -> list[tuple[str, PlacedBy] | None]:
    """The division of ``level`` each point lies in and the rule that found it: the
    boundary holding it, else the division whose representative point is nearest (within
    ``NEAREST_WITHIN_DEG``), else None.  The bulk form of placing a request's pin."""
    from scipy.spatial import cKDTree

    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    when = as_of or today()
    by_shape = locate_points(connection, x, y, level=level, as_of=when)
    placed: list[tuple[str, PlacedBy] | None] = [
        (code, PlacedBy.BOUNDARY) if code is not None else None for code in by_shape]
    rest = [i for i, code in enumerate(by_shape) if code is None
            and np.isfinite(x[i]) and np.isfinite(y[i])]
    if not rest:
        return placed
    points = connection.execute(
        select(Division.code, Division.longitude, Division.latitude)
        .where(valid_on(when), Division.level == level, Division.longitude.is_not(None),
               Division.latitude.is_not(None)).order_by(Division.code)).all()
    if not points:
        return placed
    # Equirectangular about the points' mean latitude: nearest in metres, near enough.
    scale = np.cos(np.radians(float(np.mean(y[rest]))))
    tree = cKDTree(np.column_stack([[p.longitude * scale for p in points],
                                    [p.latitude for p in points]]))
    distance, nearest = tree.query(np.column_stack([x[rest] * scale, y[rest]]))
    for i, d, j in zip(rest, distance, nearest, strict=True):
        if d <= NEAREST_WITHIN_DEG:
            placed[i] = (str(points[j].code), PlacedBy.NEAREST_POINT)
    return placed
