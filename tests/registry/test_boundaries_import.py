"""Boundary files: a good file loads in every format; a bad one is refused whole, naming
each bad row; GCJ-02 and projected files arrive in WGS84."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import pytest
import shapely
from shapely import MultiPolygon, Polygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ValidationError
from shequ.ingest.boundaries import (
    export_boundaries,
    gcj02_to_wgs84_array,
    import_boundaries,
    read_boundary_file,
)
from shequ.ingest.coordinates import gcj02_to_wgs84, wgs84_to_gcj02
from shequ.registry.boundaries import boundary_records, locate_point
from shequ.registry.models import DivisionBoundary

from .boundary_fixtures import EAST_TOWN, ON, TOWNS, VILLAGES, WEST_TOWN, load_hierarchy


def _geojson(path: Path, rows: list[tuple[str, str, Any]]) -> Path:
    features = [{"type": "Feature", "properties": {"code": code, "name": name},
                 "geometry": shapely.geometry.mapping(shape)} for code, name, shape in rows]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False), encoding="utf-8")
    return path


def _good_rows() -> list[tuple[str, str, Any]]:
    rows = [(code, name, box(*bounds)) for code, (name, bounds) in TOWNS.items()]
    rows += [(code, name, box(*bounds)) for code, (_, name, bounds) in VILLAGES.items()]
    return rows


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DivisionBoundary)) or 0)


def test_a_good_file_loads_and_places_points(sessions: sessionmaker[Session],
                                             tmp_path: Path) -> None:
    with sessions.begin() as session:
        load_hierarchy(session, with_boundaries=False)
        report = import_boundaries(session, _geojson(tmp_path / "b.geojson", _good_rows()),
                                   as_of=ON)
    assert (report.rows, report.stored) == (6, 6)
    with sessions() as session:
        assert _count(session) == 24  # whole and at three map scales
        assert locate_point(session.connection(), 114.53, 38.015, as_of=ON) == "130123101202"
        assert locate_point(session.connection(), 114.53, 38.015, level=4, as_of=ON) == \
            EAST_TOWN


def test_a_bad_file_is_refused_naming_every_bad_row_and_nothing_is_written(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    bowtie = Polygon([(114.50, 38.00), (114.52, 38.01), (114.52, 38.00), (114.50, 38.01)])
    rows = [
        (WEST_TOWN, "西镇", box(114.50, 38.00, 114.52, 38.02)),
        (EAST_TOWN, "东镇", box(114.52, 38.00, 114.54, 38.02)),
        ("130123100201", "西南村", bowtie),  # row 3: crosses itself
        # row 4: 0.005° (about 440 m) east of its town, the west one
        ("130123100202", "西北村", box(114.505, 38.01, 114.525, 38.02)),
        ("130123101201", "东南村", box(114.52, 38.00, 114.54, 38.01)),
        # row 6: reaches 0.003° (about 330 m) into its sibling of row 5
        ("130123101202", "东北村", box(114.52, 38.007, 114.54, 38.02)),
    ]
    with sessions.begin() as session:
        load_hierarchy(session, with_boundaries=False)
    with sessions() as session, pytest.raises(ValidationError) as refused:
        import_boundaries(session, _geojson(tmp_path / "bad.geojson", rows), as_of=ON)
    problems = refused.value.problems
    assert [(p.row, p.code) for p in problems] == [
        (3, "boundaries.invalid_geometry"), (4, "boundaries.outside_parent"),
        (6, "boundaries.overlaps_sibling")]
    assert "Self-intersection" in problems[0].reason
    assert problems[1].params["parent"] == WEST_TOWN
    # 0.005° of longitude at 38° N is 439 m; 50 m of it is forgiven: 389 m × 1,113 m.
    assert problems[1].params["area"] == pytest.approx(389 * 1113, rel=0.02)
    assert problems[2].params["other"] == "130123101201"
    assert problems[2].params["where"] == "row 5"
    assert str(refused.value).startswith("bad.geojson: 3 problem(s) in 3 row(s)")
    with sessions() as session:
        assert _count(session) == 0


def test_unknown_codes_twice_given_codes_and_points_are_named(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    rows = [("130123999999", "无", box(114.5, 38.0, 114.51, 38.01)),
            (WEST_TOWN, "西镇", box(114.50, 38.00, 114.52, 38.02)),
            (WEST_TOWN, "西镇", box(114.50, 38.00, 114.52, 38.02)),
            (EAST_TOWN, "东镇", shapely.Point(114.53, 38.01))]
    with sessions.begin() as session:
        load_hierarchy(session, with_boundaries=False)
    with sessions() as session, pytest.raises(ValidationError) as refused:
        import_boundaries(session, _geojson(tmp_path / "odd.geojson", rows), as_of=ON)
    assert [(p.row, p.code) for p in refused.value.problems] == [
        (1, "boundaries.no_division"), (3, "boundaries.code_twice"),
        (4, "boundaries.not_polygon")]


def test_a_village_overlapping_a_stored_sibling_is_refused(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions.begin() as session:
        load_hierarchy(session)  # every boundary stored
    wide = [("130123100201", "西南村", box(114.50, 38.00, 114.52, 38.015))]
    with sessions() as session, pytest.raises(ValidationError) as refused:
        import_boundaries(session, _geojson(tmp_path / "wide.geojson", wide), as_of=ON)
    assert [(p.row, p.code, p.params["where"]) for p in refused.value.problems] == [
        (1, "boundaries.overlaps_sibling", "stored")]


@pytest.mark.parametrize("suffix", [".zip", ".gpkg", ".geojson"])
def test_export_and_import_again_in_each_format(sessions: sessionmaker[Session],
                                                tmp_path: Path, suffix: str) -> None:
    with sessions.begin() as session:
        load_hierarchy(session)
    path = tmp_path / f"boundaries{suffix}"
    with sessions() as session:
        assert export_boundaries(session, path, prefix="130123", level=5, as_of=ON) == 4
    rows, problems = read_boundary_file(path)
    assert problems == []
    assert [r.code for r in rows] == list(VILLAGES)
    assert [r.name for r in rows] == [v[1] for v in VILLAGES.values()]
    for row, (_, _, bounds) in zip(rows, VILLAGES.values(), strict=True):
        assert shapely.equals(row.geometry, box(*bounds))
    with sessions.begin() as session:
        assert import_boundaries(session, path, as_of=ON).stored == 4


def test_gcj02_files_are_converted_to_wgs84(sessions: sessionmaker[Session],
                                           tmp_path: Path) -> None:
    def shifted(bounds: tuple[float, float, float, float]) -> Polygon:
        ring = np.asarray(box(*bounds).exterior.coords)
        return Polygon([wgs84_to_gcj02(x, y) for x, y in ring])

    rows = [(code, name, shifted(bounds)) for code, (name, bounds) in TOWNS.items()]
    with sessions.begin() as session:
        load_hierarchy(session, with_boundaries=False)
        import_boundaries(session, _geojson(tmp_path / "gcj.geojson", rows), as_of=ON,
                          crs="gcj02")
    with sessions() as session:
        west = boundary_records(session, codes=[WEST_TOWN], as_of=ON)[0].shape
    assert shapely.equals_exact(west.normalize(),
                                MultiPolygon([box(*TOWNS[WEST_TOWN][1])]).normalize(), 1e-7)


def test_the_array_conversion_agrees_with_the_published_formula() -> None:
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(73, 135, 200), rng.uniform(18, 53, 200)])
    wgs = gcj02_to_wgs84_array(points)
    for (lon, lat), (wlon, wlat) in zip(points, wgs, strict=True):
        assert (wlon, wlat) == pytest.approx(gcj02_to_wgs84(lon, lat), abs=1e-8)
        assert wgs84_to_gcj02(wlon, wlat) == pytest.approx((lon, lat), abs=1e-8)
    # Outside China the datum is WGS84 itself.
    assert gcj02_to_wgs84_array(np.array([[2.35, 48.85]])).tolist() == [[2.35, 48.85]]


def test_a_projected_file_is_transformed_to_wgs84(tmp_path: Path) -> None:
    web_mercator = shapely.transform(box(114.50, 38.00, 114.52, 38.02), _to_3857)
    path = tmp_path / "mercator.gpkg"
    pyogrio.raw.write(str(path), np.asarray([shapely.to_wkb(web_mercator)], dtype=object),
                  [np.asarray([WEST_TOWN], dtype=object)], ["code"], driver="GPKG",
                  crs="EPSG:3857", geometry_type="Polygon")
    rows, problems = read_boundary_file(path)
    assert problems == []
    assert rows[0].geometry is not None
    assert shapely.equals_exact(rows[0].geometry.normalize(),
                                box(114.50, 38.00, 114.52, 38.02).normalize(), 1e-9)


def _to_3857(coords: np.ndarray) -> np.ndarray:
    from pyproj import Transformer
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(coords[:, 0],
                                                                     coords[:, 1])
    return np.column_stack([x, y])
