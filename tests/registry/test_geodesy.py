"""Great-circle distances and local projections (pyproj) against closed forms on the sphere."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shequ.registry.geodesy import (
    EARTH_RADIUS_M,
    SPHERE,
    cartesian,
    cartesian_point,
    chord_to_arc_m,
    degree_box,
    great_circle_m,
    local_projection,
)


def test_great_circle_distances_are_arcs_of_the_mean_radius_sphere() -> None:
    assert great_circle_m(0.0, 0.0, 0.0, 90.0) == pytest.approx(math.pi / 2 * EARTH_RADIUS_M)
    assert great_circle_m(116.0, 0.0, 117.0, 0.0) == pytest.approx(
        math.radians(1.0) * EARTH_RADIUS_M)
    # the spherical law of cosines, an independent formula
    lon1, lat1, lon2, lat2 = 116.39, 39.91, 116.42, 39.95
    p1, p2, dl = map(math.radians, (lat1, lat2, lon2 - lon1))
    cosine = math.acos(math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))
    assert great_circle_m(lon1, lat1, lon2, lat2) == pytest.approx(cosine * EARTH_RADIUS_M,
                                                                   abs=1e-3)


def test_one_point_against_many_matches_point_by_point() -> None:
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(116, 117, 50), rng.uniform(39, 40, 50)
    many = great_circle_m(116.5, 39.5, lons, lats)
    assert many.shape == (50,)
    assert many.tolist() == pytest.approx(
        [great_circle_m(116.5, 39.5, float(lo), float(la)) for lo, la in zip(lons, lats,
                                                                               strict=True)])


def test_chords_between_earth_centred_points_give_the_same_arcs() -> None:
    rng = np.random.default_rng(4)
    lons, lats = rng.uniform(73, 135, 200), rng.uniform(18, 53, 200)
    xyz = cartesian(lons, lats)
    centre = cartesian_point(116.4, 39.9)
    assert np.linalg.norm(xyz, axis=1) == pytest.approx(np.full(200, EARTH_RADIUS_M))
    arcs = chord_to_arc_m(np.linalg.norm(xyz - centre, axis=1))
    assert arcs == pytest.approx(great_circle_m(116.4, 39.9, lons, lats), abs=1e-6)


@pytest.mark.parametrize(("lat", "radius"), [(39.9, 1000.0), (-33.9, 3000.0), (69.6, 50_000.0)])
def test_the_degree_box_holds_the_whole_circle(lat: float, radius: float) -> None:
    dlon, dlat = degree_box(116.4, lat, radius)
    bearings = np.arange(0.0, 360.0, 1.0)
    lons, lats, _ = SPHERE.fwd(np.full(360, 116.4), np.full(360, lat), bearings,
                               np.full(360, radius))
    assert np.all(np.abs(lons - 116.4) <= dlon) and np.all(np.abs(lats - lat) <= dlat)
    # and it is tight in latitude: the circle reaches the box's north edge
    assert float(np.max(lats)) - lat == pytest.approx(dlat, rel=1e-8)


def test_local_projection_keeps_distances_from_its_centre_and_round_trips() -> None:
    projection = local_projection(114.57, 38.14)
    lons, lats = np.array([114.57, 114.70, 114.40]), np.array([38.14, 38.20, 38.01])
    x, y = projection.to_metres(lons, lats)
    assert (x[0], y[0]) == (0.0, 0.0)
    assert np.hypot(x, y) == pytest.approx(great_circle_m(114.57, 38.14, lons, lats), abs=1e-6)
    assert x[1] > 0 and y[1] > 0 and x[2] < 0 and y[2] < 0  # east/north are positive
    back_lon, back_lat = projection.to_lonlat(x, y)
    assert back_lon == pytest.approx(lons, abs=1e-9) and back_lat == pytest.approx(lats,
                                                                                   abs=1e-9)
