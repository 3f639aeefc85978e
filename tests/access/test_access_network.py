"""StreetNetwork: building from edges and OSM, storage, snapping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from shequ.access.network import StreetNetwork, integer_centimetres
from shequ.errors import NetworkError
from shequ.registry.geodesy import EARTH_RADIUS_M


def _square() -> StreetNetwork:
    """Four nodes on a square, one diagonal, a parallel edge, a self-loop and an island."""
    return StreetNetwork.from_edges(
        node_ids=np.array([10, 20, 30, 40, 99]),
        lon=np.array([116.0, 116.001, 116.001, 116.0, 117.0]),
        lat=np.array([39.0, 39.0, 39.001, 39.001, 40.0]),
        edge_u=np.array([0, 1, 2, 3, 0, 0, 2]),
        edge_v=np.array([1, 2, 3, 0, 2, 1, 2]),
        length_m=np.array([86.4, 111.2, 86.6, 111.0, 140.0, 80.2, 5.0]),
    )


def _weight(net: StreetNetwork, a: int, b: int) -> int:
    pa, pb = net.positions_of([a, b])
    row = slice(net.indptr[pa], net.indptr[pa + 1])
    found = np.flatnonzero(net.indices[row] == pb)
    assert found.size == 1
    return int(net.weights[row][found[0]])


def test_integer_centimetres_round_and_never_zero() -> None:
    assert integer_centimetres([0.0, 0.004, 0.006, 0.015, 0.025, 86.4]).tolist() == [
        1, 1, 1, 2, 2, 8640]


def test_from_edges_keeps_shortest_parallel_edge_and_drops_self_loops() -> None:
    net = _square()
    assert net.node_count == 5
    assert net.edge_count == 5  # 0-1 (twice → once), 1-2, 2-3, 3-0, 0-2
    assert _weight(net, 10, 20) == 8020  # centimetres
    assert _weight(net, 20, 10) == 8020
    assert _weight(net, 10, 30) == 14000
    assert net.report["self_loops_dropped"] == 1
    assert net.report["components"] == 2


def test_from_edges_largest_component_reports_islands() -> None:
    full = _square()
    net = StreetNetwork.from_edges(
        node_ids=full.node_ids, lon=full.lon, lat=full.lat,
        edge_u=np.array([0, 1]), edge_v=np.array([1, 2]), length_m=np.array([5.0, 6.0]),
        largest_component=True,
    )
    assert sorted(net.node_ids.tolist()) == sorted(full.node_ids[[0, 1, 2]].tolist())
    assert net.report["island_nodes_dropped"] == 2
    assert net.report["islands_dropped"] == 2


def test_csr_is_symmetric(grid: StreetNetwork) -> None:
    matrix = grid.to_scipy()
    assert (matrix != matrix.T).nnz == 0
    assert grid.weights.min() >= 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"edge_v": np.array([1, 2, 3, 0, 2, 1, 7])}, "positions 0..4"),
        ({"node_ids": np.array([10, 20, 30, 40, 10])}, "duplicates"),
        ({"length_m": np.array([1.0, 1, 1, 1, 1, 1, -1])}, "non-negative"),
        ({"lat": np.array([39.0, 39.0, 139.0, 39.0, 39.0])}, "WGS84"),
        ({"lon": np.array([1.0, 2.0])}, "differ in length"),
    ],
)
def test_from_edges_rejects_bad_input(change: dict[str, np.ndarray], message: str) -> None:
    arguments: dict[str, np.ndarray] = {
        "node_ids": np.array([10, 20, 30, 40, 99]),
        "lon": np.array([116.0, 116.001, 116.001, 116.0, 117.0]),
        "lat": np.array([39.0, 39.0, 39.001, 39.001, 40.0]),
        "edge_u": np.array([0, 1, 2, 3, 0, 0, 2]),
        "edge_v": np.array([1, 2, 3, 0, 2, 1, 2]),
        "length_m": np.array([86.4, 111.2, 86.6, 111.0, 140.0, 80.2, 5.0]),
    }
    arguments.update(change)
    with pytest.raises(NetworkError, match=message):
        StreetNetwork.from_edges(
            node_ids=arguments["node_ids"], lon=arguments["lon"], lat=arguments["lat"],
            edge_u=arguments["edge_u"], edge_v=arguments["edge_v"],
            length_m=arguments["length_m"])


def test_save_and_load_round_trip(tmp_path: Path, grid: StreetNetwork) -> None:
    grid.save(tmp_path / "net")
    loaded = StreetNetwork.load(tmp_path / "net")
    for name in ("node_ids", "lon", "lat", "indptr", "indices", "weights"):
        assert np.array_equal(getattr(loaded, name), getattr(grid, name)), name
    assert loaded.synthetic is True
    assert loaded.report == grid.report


def test_load_of_a_folder_without_network_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="shequ access network"):
        StreetNetwork.load(tmp_path)


def test_snap_finds_nearest_node_and_reports_far_points() -> None:
    net = _square()
    # a point 0.0001° north of node 20 (≈ 11.1 m) and one far away
    result = net.snap([116.001, 118.0], [39.0001, 39.0], max_distance_m=50)
    expected = EARTH_RADIUS_M * math.radians(0.0001)
    assert net.node_ids[result.node[0]] == 20
    assert result.distance_m[0] == pytest.approx(expected, rel=1e-6)
    assert result.unsnapped.tolist() == [False, True]
    assert result.node[1] == -1
    _node, distance, unsnapped = net.snap([116.001], [39.0001], max_distance_m=5)
    assert unsnapped.tolist() == [True]
    assert distance[0] == pytest.approx(expected, rel=1e-6)


def test_from_osm_reads_real_extract_with_osm_ids(test_extract: StreetNetwork) -> None:
    import pyrosm

    nodes, edges = pyrosm.OSM(pyrosm.get_data("test_pbf")).get_network(
        network_type="walking", nodes=True)
    assert set(test_extract.node_ids.tolist()) <= set(nodes["id"].tolist())
    assert test_extract.report["input_nodes"] == len(nodes)
    assert test_extract.report["input_edges"] == len(edges)
    # every edge of the largest component is there with its length in whole centimetres
    kept = set(test_extract.node_ids.tolist())
    row = edges[edges["u"].isin(kept) & edges["v"].isin(kept)].iloc[0]
    assert _weight(test_extract, int(row["u"]), int(row["v"])) <= max(
        1, round(float(row["length"]) * 100))
    assert test_extract.source == "osm:test.osm.pbf"
    assert test_extract.report["components"] >= 1


def test_from_osm_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="no such OSM file"):
        StreetNetwork.from_osm(tmp_path / "nowhere.osm.pbf")
